"""glai.solvers.auto: "auto" picks what its rule says, and the estimators follow it."""

from __future__ import annotations

import pytest
import torch

from glai import MLP, GLAIClassifier, GLAIRegressor, freeze
from glai.solvers import auto
from glai.solvers.auto import choose_solver, closed_form_cost, without_holdout
from glai.training import TrainConfig


def _model(n0: int, hidden: int, k: int):
    return freeze(MLP(n0, hidden, k), torch.randn(64, n0), prune_dead=False)


def test_closed_form_cost_counts_gram_factorisations_and_polish() -> None:
    base = dict(n=50_000, n0=100, unknowns=606, gate_columns=7, outputs=10, groups=1)
    c0 = closed_form_cost(**base, alphas=1, polish_passes=0)
    # each further penalty adds one float64 Cholesky, D^3 / 3 flops at twice the cost
    c1 = closed_form_cost(**base, alphas=2, polish_passes=0)
    assert c1 - c0 == pytest.approx(606**3 / 3 * auto.F64)
    # each polish pass is one full-batch forward and backward: 6 N K D
    c2 = closed_form_cost(**base, alphas=1, polish_passes=1)
    assert c2 - c0 == pytest.approx(6 * 50_000 * 10 * 606)
    # the Gram with 7 gates (one group of patterns) is about one X~^T X~ = 2 N d1^2 flops
    assert 2 * 50_000 * 101**2 < c0 - 606**3 / 3 * auto.F64 < 1.2 * 2 * 50_000 * 101**2
    # outputs with their own path sets (pruned paths) each pay their Gram and factorisation
    c3 = closed_form_cost(**{**base, "groups": 2}, alphas=1, polish_passes=0)
    assert c3 == pytest.approx(2 * c0)


def test_the_rule_compares_closed_form_and_adam_work() -> None:
    # few gates on narrow inputs, many samples: the closed form; a classifier gets the polish
    small = _model(n0=64, hidden=6, k=20)
    pick = choose_solver(small, 50_000, classifier=True)
    assert pick.solver == "ridge-ce" and pick.closed_form <= pick.adam
    assert choose_solver(small, 50_000, classifier=False).solver == "ridge"
    # many gates on wide inputs (fashion-like D = 32k), few outputs: Adam
    wide = _model(n0=1280, hidden=25, k=10)
    pick = choose_solver(wide, 50_000, classifier=True)
    assert pick.solver == "adam" and pick.closed_form > pick.adam
    # whatever it picks, it is what the inequality says
    for model, n in ((small, 300), (small, 10**6), (wide, 2000)):
        pick = choose_solver(model, n, classifier=True)
        assert (pick.solver != "adam") == (pick.closed_form <= pick.adam)


def test_cuda_weighs_adam_steps_heavier() -> None:
    # per-step overhead dominates minibatch epochs on a GPU: the closed form wins more often
    model = _model(n0=384, hidden=16, k=10)
    cpu = choose_solver(model, 50_000, classifier=True, device="cpu")
    cuda = choose_solver(model, 50_000, classifier=True, device="cuda")
    assert cuda.closed_form == cpu.closed_form and cuda.adam > cpu.adam


@pytest.mark.parametrize("cls", [GLAIClassifier, GLAIRegressor])
def test_estimators_default_to_auto_and_record_the_choice(cls: type) -> None:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16
    y = y if cls is GLAIClassifier else y.astype(float)
    kwargs = {"learning_rate_init": 1e-2, "max_iter": 3, "random_state": 0}
    est = cls(32, validation_fraction=0.1, **kwargs).fit(X[:1000], y[:1000])
    assert est.get_params()["quant_optimizer"] == "auto"
    want = choose_solver(est.path_model_, 900, classifier=cls is GLAIClassifier)  # 10% val
    assert est.quant_optimizer_ == want.solver
    if cls is GLAIClassifier:  # 10 outputs share the Gram: the closed form (1 output: Adam)
        assert want.solver == "ridge-ce"
    # no held-out data (validation_fraction="auto" below 2,000 samples): Adam
    assert cls(32, **kwargs).fit(X[:1000], y[:1000]).quant_optimizer_ == "adam"
    explicit = cls(32, quant_optimizer="ridge", validation_fraction=0.1, **kwargs)
    assert explicit.fit(X[:200], y[:200]).quant_optimizer_ == "ridge"


def test_without_holdout_means_adam_unless_the_penalty_needs_no_holdout() -> None:
    # the rule measured in BENCHMARKS.md ("auto" with nothing held out): kept
    assert without_holdout("auto", False) == "adam"
    assert without_holdout("auto", False, "holdout") == "adam"
    assert without_holdout("auto", False, "kfold") == "auto"
    assert without_holdout("auto", False, "gcv") == "auto"
    assert without_holdout("auto", True) == "auto"
    assert without_holdout("ridge", False) == "ridge"


def test_train_config_accepts_auto_but_not_other_unknown_names() -> None:
    assert TrainConfig(optimizer="auto").optimizer == "auto"
    with pytest.raises(ValueError, match="unknown solver 'nope'.*or 'auto'"):
        TrainConfig(optimizer="nope")
