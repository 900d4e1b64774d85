"""glai.training.loop: the shared loop, early stopping, keep-best, seeds, L-BFGS and GLAI's
two phases."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from glai.block import GLAI
from glai.mlp import MLP
from glai.path_model import freeze
from glai.structure import StopRule, StructureMonitor
from glai.training import (
    History,
    TrainConfig,
    fit_glai,
    fit_mlp,
    predict_batched,
    train_epochs,
)


def _ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y, reduction="none")


def _accuracy(out: torch.Tensor, y: torch.Tensor) -> float:
    return float((out.argmax(dim=1) == y).float().mean())


def _data(n: int = 240, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    """Three classes from two linear cuts of 5-d Gaussian inputs; train and validation."""
    g = torch.Generator().manual_seed(123)
    x = torch.randn(n, 5, generator=g, dtype=dtype)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 0.5).long()
    cut = n * 3 // 4
    return x[:cut], y[:cut], x[cut:], y[cut:]


def _fit(model: torch.nn.Module, config: TrainConfig, seed: int = 0, **kwargs: object) -> History:
    x, y, xv, yv = _data()
    return fit_mlp(
        model, x, y, xv, yv, loss_fn=_ce, score_fn=_accuracy, config=config,
        generator=torch.Generator().manual_seed(seed), **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


# -- helpers ---------------------------------------------------------------------------------


def test_predict_batched_matches_one_pass_and_keeps_the_mode() -> None:
    model = MLP(5, 8, 3)
    model.train()
    x = torch.randn(25, 5)
    out = predict_batched(model, (x,), batch_size=7)
    assert model.training
    torch.testing.assert_close(out, model(x))


# -- the loop --------------------------------------------------------------------------------


def test_history_records_every_epoch() -> None:
    history = _fit(MLP(5, 16, 3), TrainConfig(max_epochs=6, patience=None, batch_size=32))
    assert [r.epoch for r in history.records] == [1, 2, 3, 4, 5, 6]
    assert {r.phase for r in history.records} == {"mlp"}
    seconds = [r.seconds for r in history.records]
    assert seconds == sorted(seconds) and seconds[0] > 0
    for r in history.records:
        assert r.path_distance is None
        assert r.train_loss > 0 and r.val_loss > 0 and 0 <= r.val_score <= 1
    assert history.records[-1].train_loss < history.records[0].train_loss


def test_early_stopping_stops_after_patience_epochs_without_progress() -> None:
    x, y, xv, yv = _data()
    history = History()
    train_epochs(
        MLP(5, 8, 3), (x,), y, (xv,), yv, loss_fn=_ce, score_fn=lambda out, t: 0.5,
        config=TrainConfig(max_epochs=50, patience=3), history=history, phase="mlp",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    # epoch 1 sets the best; epochs 2, 3, 4 do not beat it: stop after 1 + patience epochs
    assert len(history.records) == 4


@pytest.mark.parametrize("keep_best", [True, False])
def test_keep_best_restores_the_parameters_of_the_best_epoch(keep_best: bool) -> None:
    x, y, xv, yv = _data()
    model = MLP(5, 8, 3)
    scripted = iter([0.1, 0.9, 0.2, 0.3])  # epoch 2 is the best
    snapshots: list[dict[str, torch.Tensor]] = []

    def score(out: torch.Tensor, target: torch.Tensor) -> float:
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scripted)

    train_epochs(
        model, (x,), y, (xv,), yv, loss_fn=_ce, score_fn=score,
        config=TrainConfig(max_epochs=4, patience=None, batch_size=32), history=History(),
        phase="mlp", generator=torch.Generator().manual_seed(0), keep_best=keep_best,
    )  # fmt: skip
    assert len(snapshots) == 4
    assert not torch.equal(snapshots[1]["layers.0.weight"], snapshots[3]["layers.0.weight"])
    expected = snapshots[1] if keep_best else snapshots[3]
    for k, v in model.state_dict().items():
        assert torch.equal(v, expected[k])


def test_same_seed_gives_the_same_history() -> None:
    def run(seed: int) -> History:
        torch.manual_seed(seed)  # the initial weights
        return _fit(MLP(5, 16, 3), TrainConfig(max_epochs=5, batch_size=32), seed=seed)

    a, b, c = run(7), run(7), run(8)
    assert [r.val_score for r in a.records] == [r.val_score for r in b.records]
    assert [r.train_loss for r in a.records] == [r.train_loss for r in b.records]
    assert [r.train_loss for r in a.records] != [r.train_loss for r in c.records]


def test_sample_weight_is_a_weighted_mean_of_the_loss() -> None:
    # Full batch: weight 2 on a sample is the same step as the sample twice, weight 0 as it
    # absent. (With minibatches and a validation split this equivalence is lost; see
    # test_estimators.py.)
    x, y, xv, yv = _data(dtype=torch.float64)
    weight = torch.ones(len(y), dtype=torch.float64)
    weight[:10] = 2.0
    weight[10:20] = 0.0
    keep = torch.cat([torch.arange(10), torch.arange(10), torch.arange(20, len(y))])
    config = TrainConfig(max_epochs=3, patience=None, batch_size=10_000)
    models = []
    for xs, ys, w in [(x, y, weight), (x[keep], y[keep], None)]:
        torch.manual_seed(0)
        model = MLP(5, 8, 3, dtype=torch.float64)
        train_epochs(
            model, (xs,), ys, (xv,), yv, loss_fn=_ce, score_fn=_accuracy, config=config,
            history=History(), phase="mlp", generator=torch.Generator().manual_seed(0),
            sample_weight=w, keep_best=False,
        )  # fmt: skip
        models.append(model)
    for p, q in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-10)


def test_lbfgs_runs_and_reduces_the_loss_of_the_convex_phase() -> None:
    x, y, xv, yv = _data()
    mlp = MLP(5, 6, 3)
    model = freeze(mlp, x, budget=None)
    gates, gates_val = model.gates(x), model.gates(xv)
    with torch.no_grad():
        initial = float(_ce(model(x, gates), y).mean())
    history = History()
    train_epochs(
        model, (x, gates), y, (xv, gates_val), yv, loss_fn=_ce, score_fn=_accuracy,
        config=TrainConfig(optimizer="lbfgs", lr=1.0, max_epochs=4, patience=None, lbfgs_iter=10),
        history=history, phase="quantitative", generator=torch.Generator().manual_seed(0),
        keep_best=False,
    )  # fmt: skip
    assert len(history.records) == 4
    with torch.no_grad():
        final = float(_ce(model(x, gates), y).mean())
    assert final < 0.5 * initial
    losses = [r.train_loss for r in history.records]  # the loss at the start of each epoch
    assert losses[0] == pytest.approx(initial, rel=1e-5)
    assert all(b <= a + 1e-6 for a, b in zip(losses, losses[1:], strict=False))


# -- GLAI's two phases -----------------------------------------------------------------------


def test_fit_glai_runs_both_phases_in_one_history() -> None:
    x, y, xv, yv = _data()
    block = GLAI(5, 32, 3, rho=4)
    monitor = StructureMonitor(x[:64], rule=StopRule("epochs", epochs=3, min_epochs=0))
    history = fit_glai(
        block, x, y, xv, yv, loss_fn=_ce, score_fn=_accuracy,
        structural=TrainConfig(max_epochs=100, batch_size=32),
        quantitative=TrainConfig(max_epochs=4, patience=None, batch_size=32),
        monitor=monitor, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    phases = [r.phase for r in history.records]
    assert phases == ["structural"] * 3 + ["quantitative"] * 4
    assert [r.path_distance for r in history.records[:3]] == monitor.history
    assert all(r.path_distance is None for r in history.records[3:])
    assert history.events["structure_frozen_epoch"] == 3
    assert history.events["freeze_seconds"] >= 0
    assert [r.epoch for r in history.records] == list(range(1, 8))
    assert block.phase == "quantitative"
    with pytest.raises(ValueError, match="phase 'structural'"):
        fit_glai(
            block, x, y, xv, yv, loss_fn=_ce, score_fn=_accuracy, structural=TrainConfig(),
            quantitative=TrainConfig(), monitor=monitor,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
