"""glai.estimators, retraining on a frozen structure: warm_start, partial_fit (exact with the
closed form), classes added later, and the inputs refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs, make_regression
from sklearn.exceptions import NotFittedError

from glai import GLAIClassifier, GLAIRegressor, MLPHeadClassifier, MLPHeadRegressor
from glai.solvers.ridge import RidgeStatistics

FAST = {"hidden_layer_sizes": 12, "max_iter": 15, "learning_rate_init": 1e-2, "random_state": 0}
RIDGE = {**FAST, "quant_optimizer": "ridge", "validation_fraction": 0.0}


def _blobs(n: int = 480, classes: int = 5) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n, n_features=6, centers=classes, cluster_std=1.5, random_state=0)
    return X.astype(np.float32), y


def _state(est: Any) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in est.model_.state_dict().items()}


def _logits(est: Any, X: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return est.model_(torch.as_tensor(X))


# -- partial_fit with the closed form: chunks equal one solve ---------------------------------


@pytest.mark.parametrize("cls", [GLAIClassifier, GLAIRegressor])
def test_partial_fit_on_chunks_equals_one_solve_on_all_rows(cls: type) -> None:
    if cls is GLAIClassifier:
        X, y = _blobs()
    else:
        X, y = make_regression(480, n_features=6, n_targets=2, noise=5.0, random_state=0)
        X = X.astype(np.float32)
    first, rest = slice(0, 160), slice(160, None)
    chunked = cls(**RIDGE).fit(X[first], y[first])
    for rows in (slice(160, 170), slice(170, 333), slice(333, None)):
        chunked.partial_fit(X[rows], y[rows])
    once = cls(**RIDGE).fit(X[first], y[first]).partial_fit(X[rest], y[rest])
    # ... and both equal one ridge solve of the frozen paths on every row (the fit used all
    # of the first chunk: validation_fraction=0), at the penalty chosen by fit.
    model = chunked.model_.path_model
    x = torch.as_tensor(X)
    target = torch.as_tensor(chunked._encode_targets(y, fitting=False))
    if cls is GLAIClassifier:
        target = torch.nn.functional.one_hot(target, 5)
    want = RidgeStatistics(model).add(x, model.gates(x), target).solve([chunked.alpha_])[0]
    for name in ("theta", "beta", "beta0"):
        a = getattr(chunked.model_.path_model, name).detach()
        b = getattr(once.model_.path_model, name).detach()
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(a, want[name].float(), rtol=1e-5, atol=1e-6)
    # every row counted once: 160 + 320
    assert float(chunked.ridge_statistics_.weight_sum) == 480


def test_partial_fit_with_a_gradient_solver_is_one_epoch_from_the_weights() -> None:
    X, y = _blobs()
    est = GLAIClassifier(**FAST).fit(X, y)
    buffers = {k: v for k, v in _state(est).items() if "gate" in k or k.endswith("units")}
    theta = est.model_.path_model.theta.detach().clone()
    est.partial_fit(X[:100], y[:100])
    assert est.n_iter_ == 1 and est.history_.final_phase == "quantitative"
    assert not torch.equal(est.model_.path_model.theta, theta)
    for k, v in buffers.items():
        assert torch.equal(est.model_.state_dict()[k], v)


def test_first_partial_fit_is_fit_on_that_batch() -> None:
    X, y = _blobs()
    a = GLAIClassifier(**FAST).partial_fit(X, y)
    b = GLAIClassifier(**FAST).fit(X, y)
    assert a.structure_frozen_epoch_ == b.structure_frozen_epoch_ > 0
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


# -- warm_start ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [GLAIClassifier, MLPHeadClassifier, GLAIRegressor])
def test_warm_start_with_zero_epochs_changes_nothing(cls: type) -> None:
    X, y = _blobs()
    if cls is GLAIRegressor:
        y = y.astype(np.float64)
    est = cls(**FAST, warm_start=True).fit(X, y)
    before = _state(est)
    est.set_params(max_iter=0).fit(X[::-1], y[::-1])
    for k, v in est.model_.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert est.n_iter_ == 0


@pytest.mark.parametrize("quant", ["adam", "ridge"])
def test_warm_start_keeps_the_structure_and_refits_the_quantities(quant: str) -> None:
    X, y = _blobs()
    est = GLAIClassifier(**{**FAST, "quant_optimizer": quant}, warm_start=True)
    est.fit(X[:240], y[:240])
    before = _state(est)
    est.fit(X[240:], y[240:])
    after = est.model_.state_dict()
    for k, v in before.items():  # the frozen structure: gating network, path indices
        if k.startswith("path_model.gate_") or k in ("path_model.units", "path_model.output"):
            assert torch.equal(after[k], v), k
    assert not torch.equal(after["path_model.theta"], before["path_model.theta"])
    assert all(r.phase == "quantitative" for r in est.history_.records)
    assert est.structure_frozen_epoch_ == 0
    assert est.score(X, y) > 0.8


def test_mlp_warm_start_continues_from_its_weights() -> None:
    # One more epoch from the fitted weights, vs one epoch from scratch: the first is better.
    X, y = _blobs()
    warm = MLPHeadClassifier(**FAST, warm_start=True).fit(X, y)
    weights = _state(warm)
    warm.set_params(max_iter=1).fit(X, y)
    moved = max(float((v - weights[k]).abs().max()) for k, v in warm.model_.state_dict().items())
    assert 0 < moved < 0.5  # a small step from where it was, not a new initialisation
    cold = MLPHeadClassifier(**{**FAST, "max_iter": 1}).fit(X, y)
    assert warm.score(X, y) >= cold.score(X, y)


# -- classes added later ---------------------------------------------------------------------


@pytest.mark.parametrize("quant", ["adam", "ridge"])
def test_new_classes_leave_the_old_outputs_bit_identical(quant: str) -> None:
    X, y = _blobs()
    old = y < 3
    # a held-out fifth picks the ridge penalty (on training rows it would pick the smallest)
    est = GLAIClassifier(
        **{**FAST, "quant_optimizer": quant, "max_iter": 40, "validation_fraction": 0.2}
    )
    est.fit(X[old], y[old])
    logits = _logits(est, X)
    n_params = est.n_trainable_params_
    # labels 3, 4 are new: their outputs are added and fitted alone (the closed form re-solves
    # every output by default: refit_old=False keeps today's "old outputs untouched")
    if quant == "adam":
        est.partial_fit(X, y)
    else:
        est.add_classes(X, y, refit_old=False)
    np.testing.assert_array_equal(est.classes_, [0, 1, 2, 3, 4])
    assert torch.equal(_logits(est, X)[:, :3], logits)
    assert est.model_.out_features == 5 and est.n_trainable_params_ > n_params
    assert est.history_.events["classes_added"] == [3, 4]
    new = ~old
    # The new outputs are learnt: between themselves they tell the new classes apart. (Against
    # the old outputs they may lose: those never saw a sample of the new classes, and with
    # the closed form they extrapolate above 1 on some; BENCHMARKS.md measures it.)
    new_logits = _logits(est, X[new])[:, 3:]
    assert (new_logits.argmax(1).numpy() == y[new] - 3).mean() > 0.9
    if quant == "ridge":  # a batch without new labels re-solves every output on every row
        est.partial_fit(X[:1], y[:1])
        assert (est.predict(X) == y).mean() > 0.95


def test_new_classes_follow_the_old_ones_in_classes_() -> None:
    X, y = _blobs()
    labels = np.array(["d", "b", "e", "a", "c"])[y]
    est = GLAIClassifier(**RIDGE).fit(X[y < 3], labels[y < 3])
    est.add_classes(X, labels)
    np.testing.assert_array_equal(est.classes_, ["b", "d", "e", "a", "c"])
    est.partial_fit(X, labels)  # every output re-solved: labels and outputs must still match
    assert (est.predict(X) == labels).mean() > 0.9
    assert set(np.unique(est.predict(X))) <= set(est.classes_)


def test_partial_fit_classes_on_the_first_call_adds_outputs_without_samples() -> None:
    X, y = _blobs()
    est = GLAIClassifier(**RIDGE).partial_fit(X[y < 4], y[y < 4], classes=[0, 1, 2, 3, 4])
    np.testing.assert_array_equal(est.classes_, [0, 1, 2, 3, 4])
    assert est.predict_proba(X).shape == (480, 5)
    logits = _logits(est, X)
    est.partial_fit(X, y)  # class 4's samples arrive: a full re-solve of every output
    assert not torch.equal(_logits(est, X)[:, :4], logits[:, :4])


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [GLAIClassifier, MLPHeadClassifier])
def test_warm_start_refuses_data_the_fitted_model_cannot_take(cls: type) -> None:
    X, y = _blobs()
    est = cls(**FAST, warm_start=True).fit(X[y < 3], y[y < 3])
    with pytest.raises(ValueError, match="X has 5 features.*warm_start=True continues"):
        est.fit(X[:, :5], y)
    with pytest.raises(ValueError, match=r"no output for: \[3, 4\].*partial_fit or add_classes"):
        est.fit(X, y)


@pytest.mark.parametrize("cls", [GLAIRegressor, MLPHeadRegressor])
def test_warm_start_refuses_another_number_of_targets(cls: type) -> None:
    X, y = make_regression(100, n_features=4, n_targets=2, random_state=0)
    est = cls(**FAST, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="y has 1 targets, the fitted model 2"):
        est.fit(X, y[:, 0])


def test_bad_retraining_calls() -> None:
    X, y = _blobs()
    with pytest.raises(ValueError, match="max_iter=0 trains nothing"):
        GLAIClassifier(**{**FAST, "max_iter": 0}).fit(X, y)
    with pytest.raises(NotFittedError):
        GLAIClassifier(**FAST).add_classes(X, y)
    est = GLAIClassifier(**RIDGE).fit(X, y)
    with pytest.raises(ValueError, match=r"y has labels not in classes: \[4\]"):
        est.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="no class beyond classes_"):
        est.add_classes(X, y)
    with pytest.raises(ValueError, match="structure is frozen for that many features"):
        est.partial_fit(X[:, :4], y)
    with pytest.raises(ValueError, match="y has 2 targets"):
        GLAIRegressor(**RIDGE).fit(X, y.astype(float)).partial_fit(X, np.c_[y, y].astype(float))
