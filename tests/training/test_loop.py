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
    Data,
    History,
    Objective,
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


def _adam_steps(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, batch_size: int,
    seed: int,
) -> None:
    """The reference the loop must equal: ``steps`` plain Adam steps (lr 1e-3) on minibatches
    of an epoch-wise permutation drawn from a generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    taken = 0
    while taken < steps:
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = _ce(model(x[idx]), y[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            taken += 1
            if taken == steps:
                return


def _fit(model: torch.nn.Module, config: TrainConfig, seed: int = 0, **kwargs: object) -> History:
    x, y, xv, yv = _data()
    return fit_mlp(
        model, Data(x, y, xv, yv), Objective(_ce, _accuracy), config=config,
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
        block, Data(x, y, xv, yv), Objective(_ce, _accuracy),
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
            block, Data(x, y, xv, yv), Objective(_ce, _accuracy), structural=TrainConfig(),
            quantitative=TrainConfig(), monitor=monitor,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip


# -- checking m_t every few optimiser steps --------------------------------------------------


def test_step_checks_fire_mid_epoch_at_a_step_boundary() -> None:
    # 180 training samples in batches of 32: 6 steps per epoch (the last one of 20 samples).
    # A check every 4 steps, stable after 5 checks: m_t at steps 4, 8, .., 20 and the
    # structural phase ends after step 20, i.e. 2 steps into the 4th epoch.
    x, y, xv, yv = _data()
    mlp = MLP(5, 8, 3)
    rule = StopRule("epochs", epochs=5, min_epochs=0)
    monitor = StructureMonitor(x[:64], rule=rule, check_every=4)
    monitor.update(mlp)
    history = History()
    steps = train_epochs(
        mlp, (x,), y, (xv,), yv, loss_fn=_ce, score_fn=_accuracy,
        config=TrainConfig(max_epochs=50, batch_size=32, patience=None), history=history,
        phase="structural", generator=torch.Generator().manual_seed(0), monitor=monitor,
        keep_best=False,
    )  # fmt: skip
    assert steps == 20
    assert monitor.steps == [4, 8, 12, 16, 20]
    assert len(monitor.history) == 5
    assert len(history.records) == 4  # three whole epochs and the start of a fourth
    # each record carries the last m_t measured by then
    assert [r.path_distance for r in history.records] == [
        monitor.history[0],
        monitor.history[2],
        monitor.history[3],
        monitor.history[4],
    ]


def test_step_checks_follow_the_same_trajectory_as_per_epoch_training() -> None:
    # Stopping mid-epoch must not change the steps taken before: the network after 20 steps
    # with step checks equals the network trained for 20 steps without any monitor.
    x, y, xv, yv = _data()
    torch.manual_seed(0)
    a = MLP(5, 8, 3)
    b = MLP(5, 8, 3)
    b.load_state_dict(a.state_dict())
    monitor = StructureMonitor(x[:64], StopRule("epochs", epochs=5, min_epochs=0), check_every=4)
    monitor.update(a)
    kwargs = dict(loss_fn=_ce, score_fn=_accuracy, phase="structural", keep_best=False)
    train_epochs(
        a, (x,), y, (xv,), yv, config=TrainConfig(max_epochs=50, batch_size=32, patience=None),
        history=History(), generator=torch.Generator().manual_seed(1), monitor=monitor,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    # 180 samples + 60 more: 20 steps of 32 = 640 samples = 3 epochs of 180 + 100 of the 4th
    _adam_steps(b, x, y, steps=20, batch_size=32, seed=1)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)


def test_per_epoch_checks_record_their_steps() -> None:
    x, y, xv, yv = _data()
    mlp = MLP(5, 8, 3)
    monitor = StructureMonitor(x[:64], StopRule("epochs", epochs=3, min_epochs=0))
    monitor.update(mlp)
    steps = train_epochs(
        mlp, (x,), y, (xv,), yv, loss_fn=_ce, score_fn=_accuracy,
        config=TrainConfig(max_epochs=50, batch_size=32, patience=None), history=History(),
        phase="structural", generator=torch.Generator().manual_seed(0), monitor=monitor,
    )  # fmt: skip
    assert steps == 18 and monitor.steps == [6, 12, 18]


def test_fit_glai_with_step_checks_counts_checks_not_epochs() -> None:
    # max_epochs=4 of the rule means 4 checks, here 4 x 3 = 12 steps (2 epochs), not 4 epochs
    x, y, xv, yv = _data()
    block = GLAI(5, 32, 3, rho=4)
    rule = StopRule("epochs", epochs=10, min_epochs=0, max_epochs=4)
    monitor = StructureMonitor(x[:64], rule=rule, check_every=3)
    history = fit_glai(
        block, Data(x, y, xv, yv), Objective(_ce, _accuracy),
        structural=TrainConfig(max_epochs=100, batch_size=32),
        quantitative=TrainConfig(max_epochs=2, patience=None, batch_size=32),
        monitor=monitor, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert history.events["structure_steps"] == 12 and monitor.steps == [3, 6, 9, 12]
    assert [r.phase for r in history.records] == ["structural"] * 2 + ["quantitative"] * 2
    assert history.events["structure_frozen_epoch"] == 2


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_monitor_rejects_a_bad_check_interval(bad: object) -> None:
    with pytest.raises(ValueError, match="check_every must be a positive number of optimiser"):
        StructureMonitor(torch.zeros(4, 2), check_every=bad)  # type: ignore[arg-type]


# -- a gentler phase switch: warm-up and shrinkage toward the start (beyond the paper) ---------


def _one_step_change(config: TrainConfig) -> float:
    """Largest parameter change of a path model after one full-batch Adam step."""
    x, y, xv, yv = _data()
    torch.manual_seed(0)
    model = freeze(MLP(5, 6, 3), x, budget=None)
    gates = model.gates(x)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    train_epochs(
        model, (x, gates), y, (xv, model.gates(xv)), yv, loss_fn=_ce, score_fn=_accuracy,
        config=config, history=History(), phase="quantitative",
        generator=torch.Generator().manual_seed(0), keep_best=False,
    )  # fmt: skip
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return float((after - before).abs().max())


def test_warmup_scales_the_first_steps_learning_rate() -> None:
    # Adam's first step moves a parameter by lr * g / (|g| + eps), i.e. by about lr: with a
    # linear warm-up over 10 steps the first step uses lr / 10.
    one_batch = {"batch_size": 10_000, "max_epochs": 1, "patience": None, "lr": 1e-2}
    plain = _one_step_change(TrainConfig(**one_batch))  # type: ignore[arg-type]
    warm = _one_step_change(TrainConfig(**one_batch, warmup_steps=10))  # type: ignore[arg-type]
    assert plain == pytest.approx(1e-2, rel=1e-3)
    assert warm == pytest.approx(1e-3, rel=1e-3)


def test_warmup_reaches_the_full_learning_rate_and_stays() -> None:
    x, y, xv, yv = _data()
    model = MLP(5, 4, 3)
    seen: list[float] = []
    config = TrainConfig(lr=1e-2, batch_size=30, max_epochs=2, patience=None, warmup_steps=4)
    # 180 samples / 30 = 6 steps per epoch; record each step's learning rate via a hook
    original = torch.optim.Adam.step

    def spy(self: torch.optim.Optimizer, *args: object, **kwargs: object) -> object:
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.optim.Adam, "step", spy)
        train_epochs(
            model, (x,), y, (xv,), yv, loss_fn=_ce, score_fn=_accuracy, config=config,
            history=History(), phase="mlp", generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
    assert seen == pytest.approx([2.5e-3, 5e-3, 7.5e-3] + [1e-2] * 9)


def test_shrinkage_solves_the_penalised_problem_centred_on_the_start() -> None:
    # At the optimum of  mean CE(w) + lambda / 2 ||w - w_start||^2  the gradient of the mean
    # loss is -lambda (w - w_start): full-batch L-BFGS converges there on this convex problem.
    x, y, xv, yv = _data(dtype=torch.float64)
    torch.manual_seed(0)
    model = freeze(MLP(5, 6, 3, dtype=torch.float64), x, budget=None)
    gates = model.gates(x)
    start = [p.detach().clone() for p in model.parameters()]
    lam = 0.05
    train_epochs(
        model, (x, gates), y, (xv, model.gates(xv)), yv, loss_fn=_ce, score_fn=_accuracy,
        config=TrainConfig(optimizer="lbfgs", lr=1.0, max_epochs=30, patience=None,
                           lbfgs_iter=50, shrinkage=lam),
        history=History(), phase="quantitative", generator=torch.Generator().manual_seed(0),
        keep_best=False,
    )  # fmt: skip
    loss = _ce(model(x, gates), y).mean()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    moved = 0.0
    for g, p, p0 in zip(grads, model.parameters(), start, strict=True):
        torch.testing.assert_close(g, -lam * (p.detach() - p0), atol=1e-5, rtol=0)
        moved += float((p.detach() - p0).abs().max())
    assert moved > 1e-2  # so the gradient is far above the tolerance (lambda * 1e-2 = 5e-4)


@pytest.mark.parametrize(("kwargs", "name"), [({"warmup_steps": -1}, "warmup_steps"),
                                              ({"shrinkage": -0.1}, "shrinkage")])  # fmt: skip
def test_gentle_switch_options_reject_bad_values(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kwargs)


def test_a_mid_epoch_freeze_keeps_the_network_of_that_step() -> None:
    # The path model right after a freeze at step 20 (2 steps into the 4th epoch) computes
    # what the structural network computed after exactly 20 optimiser steps.
    x, y, xv, yv = _data()
    torch.manual_seed(0)
    block = GLAI(5, 8, 3, budget=None, prune_dead=False)
    assert block.structure is not None
    reference = MLP(5, block.structural_features, 3)
    reference.load_state_dict(block.structure.state_dict())
    monitor = StructureMonitor(x[:64], StopRule("epochs", epochs=5, min_epochs=0), check_every=4)
    history = fit_glai(
        block, Data(x, y, xv, yv), Objective(_ce, _accuracy),
        structural=TrainConfig(max_epochs=50, batch_size=32),
        quantitative=TrainConfig(max_epochs=0, batch_size=32),
        monitor=monitor, generator=torch.Generator().manual_seed(1),
    )  # fmt: skip
    assert history.events["structure_steps"] == 20
    # fit_glai draws from its generator only to shuffle batches
    _adam_steps(reference, x, y, steps=20, batch_size=32, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(block(xv), reference(xv), rtol=1e-5, atol=1e-5)


# -- scikit-learn's shuffle, alpha (TrainConfig.l2), and a continued optimiser ----------------


def _plain_adam(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int,
    l2: float = 0.0,
) -> None:
    """The reference: Adam (lr 1e-3) over the rows in their order every epoch, scikit-learn's
    L2 term ``l2 / (2 B) * sum ||W||^2`` on the weight matrices added to each step's loss."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(x)))
            loss = _ce(model(x[idx]), y[idx]).mean()
            weights = [p for p in model.parameters() if p.ndim >= 2]
            loss = loss + 0.5 * l2 / batch_size * sum(w.pow(2).sum() for w in weights)
            opt.zero_grad()
            loss.backward()
            opt.step()


@pytest.mark.parametrize("l2", [0.0, 0.5])
def test_shuffle_false_and_l2_are_plain_adam_in_order_with_sklearns_term(l2: float) -> None:
    x, y, xv, yv = _data()
    a = MLP(5, 8, 3)
    b = MLP(5, 8, 3)
    b.load_state_dict(a.state_dict())
    config = TrainConfig(max_epochs=3, batch_size=32, patience=None, shuffle=False, l2=l2)
    train_epochs(
        a, (x,), y, (xv,), yv, loss_fn=_ce, score_fn=_accuracy, config=config,
        history=History(), phase="mlp", generator=torch.Generator().manual_seed(0),
        keep_best=False,
    )  # fmt: skip
    _plain_adam(b, x, y, epochs=3, batch_size=32, l2=l2)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)


def test_a_passed_optimizer_continues_its_state() -> None:
    # two one-epoch calls with one optimiser = one call of two epochs (Adam's moments kept)
    x, y, xv, yv = _data()
    a = MLP(5, 8, 3)
    b = MLP(5, 8, 3)
    b.load_state_dict(a.state_dict())
    one = TrainConfig(max_epochs=1, batch_size=32, patience=None, shuffle=False)
    opt = torch.optim.Adam(a.parameters(), lr=one.lr)
    for _ in range(2):
        fit_mlp(
            a, Data(x, y, xv, yv), Objective(_ce, _accuracy), config=one,
            generator=torch.Generator().manual_seed(0), optimizer=opt,
        )  # fmt: skip
    _plain_adam(b, x, y, epochs=2, batch_size=32)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)
