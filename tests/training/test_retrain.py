"""glai.training.retrain: the quantitative phase again on a frozen structure, and outputs
added later."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from glai import MLP, freeze
from glai.solvers import Statistics
from glai.solvers.ridge import RidgeStatistics, ridge_paths
from glai.training import Data, Objective, Retraining, TrainConfig, fit_new_outputs, fit_quantities


def _ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y, reduction="none")


def _acc(out: torch.Tensor, y: torch.Tensor) -> float:
    return float((out.argmax(1) == y).float().mean())


def _data(n: int = 240, n0: int = 6, classes: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    centers = torch.randn(classes, n0) * 3
    y = torch.arange(n) % classes
    return centers[y] + torch.randn(n, n0), y


def _loop(statistics: Statistics | None = None, **config: Any) -> Retraining:
    generator = torch.Generator().manual_seed(0)
    return Retraining(Objective(_ce, _acc), TrainConfig(**config), generator, statistics)


def test_zero_epochs_change_nothing_and_training_continues_from_the_weights() -> None:
    x, y = _data()
    model = freeze(MLP(6, 8, 5), x, prune_dead=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    history = fit_quantities(model, Data(x, y, x, y), _loop(max_epochs=0))
    assert history.records == []
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    fit_quantities(model, Data(x, y, x, y), _loop(max_epochs=3, lr=1e-2, patience=None))
    assert not torch.equal(model.theta, before["theta"])
    for name, buf in model.named_buffers():  # the structure is what it was
        assert torch.equal(buf, before[name])


def test_closed_form_with_kept_statistics_solves_on_every_row_seen() -> None:
    x, y = _data()
    x64 = x.double()
    model = freeze(MLP(6, 8, 5).double(), x64, prune_dead=False)
    stats = RidgeStatistics(model)
    loop = _loop(stats, optimizer="ridge", alphas=(1e-3,))
    fit_quantities(model, Data(x64[:100], y[:100], x64, y), loop)
    fit_quantities(model, Data(x64[100:], y[100:], x64, y), loop)
    want = ridge_paths(model, x64, model.gates(x64), F.one_hot(y, 5).double(), [1e-3])[0]
    for name in ("theta", "beta", "beta0"):
        torch.testing.assert_close(getattr(model, name).detach(), want[name])


@pytest.mark.parametrize("optimizer", ["adam", "ridge"])
def test_new_outputs_leave_the_old_logits_bit_identical_and_learn(optimizer: str) -> None:
    x, y = _data(n=400)
    old = y < 3
    model = freeze(MLP(6, 8, 3), x[old], prune_dead=False)
    stats = RidgeStatistics(model)
    cfg = {"optimizer": optimizer, "max_epochs": 40, "lr": 3e-2, "alphas": (1e-3, 1e-1)}
    fit_quantities(model, Data(x[old], y[old], x[old], y[old]), _loop(stats, **cfg))
    logits = model(x)
    joined, history = fit_new_outputs(model, 2, Data(x, y, x, y), _loop(stats, **cfg))
    assert joined.out_features == 5
    assert torch.equal(joined(x)[:, :3], logits)
    assert torch.equal(model(x), logits)  # the model passed in is untouched
    pred = joined(x).argmax(1)
    assert float((pred[~old] == y[~old]).float().mean()) > 0.8  # the new classes are learnt
    assert history.records and history.final_phase == "quantitative"


def test_new_outputs_with_the_closed_form_need_the_statistics() -> None:
    x, y = _data()
    model = freeze(MLP(6, 8, 3), x, prune_dead=False)
    with pytest.raises(ValueError, match="statistics are required"):
        fit_new_outputs(model, 2, Data(x, y, x, y), _loop(optimizer="ridge"))
