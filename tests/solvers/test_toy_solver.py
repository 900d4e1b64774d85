"""Adding a closed-form solver is one file and one line: ``toy_solver.py`` (beside this test)
and the registry entry of the fixture below, undone after each test. Every head that takes a
quantitative solver then fits with it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import toy_solver  # tests/solvers/toy_solver.py (pytest puts this folder on sys.path)

from glai import GLAI, GLAIClassifier, GLAIRegressor, StructureMonitor
from glai.run import RunConfig, fit_head
from glai.solvers import SOLVERS, Solver
from glai.training import Data, Objective, TrainConfig, fit_glai

ALPHAS = (0.0, 0.5, 4.0)


@pytest.fixture(autouse=True)
def toy() -> Iterator[None]:
    # the one line:
    SOLVERS["toy"] = Solver("toy", "closed_form", "the output bias only", solve=toy_solver.solve)
    try:
        yield
    finally:
        del SOLVERS["toy"]


def _data(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0.3).astype(np.int64)


def _quantitative(history) -> list:  # type: ignore[no-untyped-def]
    return [r for r in history.records if r.phase == "quantitative"]


@pytest.mark.parametrize("cls", [GLAIClassifier, GLAIRegressor])
def test_the_estimators_fit_with_a_registered_toy_solver(cls: type) -> None:
    X, y = _data()
    target = y if cls is GLAIClassifier else X[:, 0] + 0.5 * X[:, 1]
    est = cls(16, quant_optimizer="toy", max_iter=8, validation_fraction=0.25, random_state=0)
    est.fit(X, target)
    assert est.quant_optimizer_ == "toy"
    # one record per candidate (one per alpha), and alpha_ is the penalty of the one kept:
    # the first of the best validation score
    alphas = TrainConfig().alphas
    records = _quantitative(est.history_)
    assert len(records) == len(alphas) == len(est.history_.records) - est.structure_frozen_epoch_
    best = max(range(len(records)), key=lambda i: (records[i].val_score, -i))
    assert est.alpha_ == alphas[best]
    assert est.predict(X).shape == (len(X),)
    # it keeps no statistics: retraining that needs them says so, naming the solver
    assert est.ridge_statistics_ is None
    with pytest.raises(ValueError, match=r"solved by 'toy'.*keeps no statistics"):
        est.forget(X[:10], target[:10])


def test_fit_glai_runs_the_toy_solver_on_the_frozen_paths() -> None:
    X, y = (torch.as_tensor(a) for a in _data())
    model = GLAI(5, (16,), 2, rho=2)
    monitor = StructureMonitor(X[:64], rule="epochs")
    config = TrainConfig(optimizer="adam", max_epochs=3, batch_size=32)

    def ce(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, t, reduction="none")

    def accuracy(out: torch.Tensor, t: torch.Tensor) -> float:
        return float((out.argmax(1) == t).float().mean())

    captured = {}
    freeze = model.freeze_structure

    def keep_init(probe: torch.Tensor) -> None:  # the path weights right after the freeze
        freeze(probe)
        assert model.path_model is not None
        captured["init"] = {k: v.detach().clone() for k, v in model.path_model.state_dict().items()}

    model.freeze_structure = keep_init  # type: ignore[method-assign]
    history = fit_glai(
        model, Data(X[:180], y[:180], X[180:], y[180:]), Objective(ce, accuracy),
        structural=config, quantitative=TrainConfig(optimizer="toy", alphas=ALPHAS),
        monitor=monitor, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert len(_quantitative(history)) == len(ALPHAS)
    choice = int(history.events["closed_form_choice"])
    assert history.events["closed_form_penalty"] == ALPHAS[choice]
    pm, init = model.path_model, captured["init"]
    assert pm is not None
    assert torch.equal(pm.theta, init["theta"]) and torch.equal(pm.beta, init["beta"])
    assert not torch.equal(pm.beta0, init["beta0"])  # the bias was solved


def test_fit_head_takes_the_toy_solver() -> None:
    X, y = _data()
    config = RunConfig(model="glai", hidden=(16,), quant_optimizer="toy", max_epochs=3)
    model, history = fit_head(config, X[:180], y[:180], X[180:], y[180:])
    assert len(_quantitative(history)) == len(TrainConfig().alphas)
    assert history.events["closed_form_penalty"] in TrainConfig().alphas
    assert model.phase == "quantitative"


def test_unregistered_the_name_is_refused_again() -> None:
    del SOLVERS["toy"]
    try:
        with pytest.raises(ValueError, match="quant_optimizer"):
            GLAIClassifier(16, quant_optimizer="toy").fit(*_data())
    finally:
        SOLVERS["toy"] = Solver("toy", "closed_form", "again", solve=toy_solver.solve)
