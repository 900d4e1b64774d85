"""glai.share_structure, glai.merge and forget: heads combined or reduced exactly, against refits
on the same frozen structure (float64 statistics), and the refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs, make_regression

import glai
from glai import GLAIClassifier, GLAIRegressor

FAST = {"hidden_layer_sizes": 12, "max_iter": 15, "learning_rate_init": 1e-2, "random_state": 0}
KFOLD = {**FAST, "quant_optimizer": "ridge", "quant_penalty": "kfold", "validation_fraction": 0.0}


def _data(cls: type, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    if cls is GLAIClassifier:
        X, y = make_blobs(n, n_features=6, centers=4, cluster_std=2.5, random_state=0)
    else:
        X, y = make_regression(n, n_features=6, n_targets=2, noise=5.0, random_state=0)
    return X.astype(np.float32), y


def _params(est: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in est.path_model_.named_parameters()}


def _refit(base: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """One closed-form fit on (X, y) of base's frozen structure."""
    return glai.share_structure(base).partial_fit(X, y)


def _assert_same_solution(a: Any, b: Any, X: np.ndarray) -> None:
    assert a.alpha_ == b.alpha_
    for name, value in _params(a).items():
        torch.testing.assert_close(value, _params(b)[name], rtol=1e-5, atol=1e-6)
    pa = a.predict_proba(X) if hasattr(a, "predict_proba") else a.predict(X)
    pb = b.predict_proba(X) if hasattr(b, "predict_proba") else b.predict(X)
    np.testing.assert_allclose(pa, pb, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [GLAIClassifier, GLAIRegressor])
def test_merge_of_sites_equals_one_fit_on_the_union(cls: type) -> None:
    X, y = _data(cls)
    base = cls(**KFOLD).fit(X[:200], y[:200])  # the structure, learned on the first rows
    union = _refit(base, X, y)
    rng = np.random.default_rng(0)
    for sites in (2, 3, 5):  # several splits and orders
        perm = rng.permutation(len(X))
        parts = np.array_split(perm, sites)
        heads = [glai.share_structure(base).partial_fit(X[p], y[p]) for p in parts]
        merged = glai.merge(*heads[::-1])
        _assert_same_solution(merged, union, X)
        assert merged.ridge_statistics_.choose_alpha((1e-6, 1e-3, 1.0)) == (
            union.ridge_statistics_.choose_alpha((1e-6, 1e-3, 1.0))
        )
        assert float(merged.ridge_statistics_.weight_sum) == len(X)
    # the sites are not changed by the merge
    assert float(heads[0].ridge_statistics_.weight_sum) == len(parts[0])


def test_partial_fit_in_chunks_chooses_the_penalty_of_one_fit() -> None:
    X, y = _data(GLAIClassifier)
    base = GLAIClassifier(**KFOLD).fit(X[:200], y[:200])
    chunked = glai.share_structure(base)
    for rows in np.array_split(np.arange(600), 7):
        chunked.partial_fit(X[rows], y[rows])
    _assert_same_solution(chunked, _refit(base, X, y), X)
    # the rule scores penalties: a small training set is not given the weakest one
    scores = chunked.ridge_statistics_.penalty_scores((1e-6, 1e-3, 1.0))
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("cls", [GLAIClassifier, GLAIRegressor])
def test_forget_equals_the_fit_without_the_rows(cls: type) -> None:
    X, y = _data(cls)
    est = cls(**KFOLD).fit(X[:300], y[:300])
    est.partial_fit(X[300:], y[300:])
    gone = np.arange(0, 600, 4)
    keep = np.setdiff1d(np.arange(600), gone)
    want = _refit(est, X[keep], y[keep])
    est.forget(X[gone[:70]], y[gone[:70]]).forget(X[gone[70:]], y[gone[70:]])  # in two calls
    _assert_same_solution(est, want, X)
    assert est.history_.events["forgotten_rows"] == len(gone) - 70


def test_forget_with_sample_weights_and_what_fit_solved_on() -> None:
    X, y = _data(GLAIClassifier)
    w = np.random.default_rng(0).uniform(0.5, 2, len(X))
    est = GLAIClassifier(**KFOLD).fit(X, y, sample_weight=w)
    want = _refit(est, X[100:], y[100:])
    want_w = glai.share_structure(est).partial_fit(X[100:], y[100:], sample_weight=w[100:])
    est.forget(X[:100], y[:100], sample_weight=w[:100])
    _assert_same_solution(est, want_w, X)
    assert not np.allclose(est.predict_proba(X), want.predict_proba(X))


def test_forget_refuses_rows_never_seen_and_gradient_heads() -> None:
    X, y = _data(GLAIClassifier)
    est = GLAIClassifier(**KFOLD).fit(X[y != 3], y[y != 3])
    first = np.flatnonzero(y == 0)[:1]
    est.add_classes(X[first], y[first], classes=[3])  # class 3 has an output, no row yet
    before = _params(est)
    with pytest.raises(ValueError, match="not all added before"):
        est.forget(X[y == 3][:5], y[y == 3][:5])
    for name, value in _params(est).items():  # a refused forget changes nothing
        assert torch.equal(value, before[name])
    with pytest.raises(ValueError, match="labels the fitted model has no output for"):
        est.forget(X[:3], np.array([7, 7, 7]))
    adam = GLAIClassifier(**{**FAST, "quant_optimizer": "adam"}).fit(X, y)
    with pytest.raises(ValueError, match="closed-form quantitative phase"):
        adam.forget(X[:5], y[:5])


def test_merge_refusals() -> None:
    X, y = _data(GLAIClassifier)
    base = GLAIClassifier(**KFOLD).fit(X, y)
    other = GLAIClassifier(**{**KFOLD, "random_state": 1}).fit(X, y)  # another structure
    with pytest.raises(ValueError, match="another frozen structure"):
        glai.merge(base, other)
    adam = GLAIClassifier(**{**FAST, "quant_optimizer": "adam"}).fit(X, y)
    with pytest.raises(ValueError, match="closed form"):
        glai.merge(base, adam)
    with pytest.raises(ValueError, match="closed form"):
        glai.share_structure(adam)
    labels = np.array(["a", "b", "c", "d"])[y]
    named = GLAIClassifier(**KFOLD).fit(X, labels)
    with pytest.raises(ValueError, match="structure|label type"):
        glai.merge(base, named)
    reg = GLAIRegressor(**KFOLD).fit(*_data(GLAIRegressor))
    with pytest.raises(TypeError, match="GLAIRegressor"):
        glai.merge(base, reg)
    with pytest.raises(ValueError, match="at least one"):
        glai.merge()
    holdout = GLAIClassifier(**{**KFOLD, "quant_penalty": "holdout"}).fit(X, y)
    with pytest.raises(ValueError, match="penalty"):
        glai.merge(base, holdout)


def test_merge_refuses_classes_in_another_order() -> None:
    X, y = _data(GLAIClassifier)
    base = GLAIClassifier(**KFOLD).fit(X[y < 2], y[y < 2])
    a = glai.share_structure(base)
    b = glai.share_structure(base)
    a.add_classes(X[y == 2], y[y == 2])
    a.add_classes(X[y == 3], y[y == 3])
    b.add_classes(X[y == 3], y[y == 3])
    b.add_classes(X[y == 2], y[y == 2])
    with pytest.raises(ValueError, match="order"):
        glai.merge(a, b)


def test_classes_added_without_replay_equal_the_joint_solve() -> None:
    # base classes first, then one new class per step, no old row replayed: every output is
    # re-solved on every row seen, which is the joint closed-form fit on the frozen structure
    X, y = _data(GLAIClassifier)
    base = GLAIClassifier(**KFOLD).fit(X[y < 2], y[y < 2])
    steps = glai.share_structure(base)
    steps.partial_fit(X[y < 2], y[y < 2])
    for c in (2, 3):
        steps.partial_fit(X[y == c], y[y == c])  # new labels: add_classes, all re-solved
    joint = glai.share_structure(steps).partial_fit(X, y)  # all rows at once, 4 outputs
    _assert_same_solution(steps, joint, X)
    assert (steps.predict(X) == y).mean() > 0.6
    # today's behaviour, as an option: old outputs untouched
    kept = glai.share_structure(base).partial_fit(X[y < 2], y[y < 2])
    with torch.no_grad():
        old = kept.model_(torch.as_tensor(X[:50]))
        kept.add_classes(X[y == 2], y[y == 2], refit_old=False)
        assert torch.equal(kept.model_(torch.as_tensor(X[:50]))[:, :2], old)
        steps_old = steps.model_(torch.as_tensor(X[:50]))[:, :2]
    assert not torch.equal(steps_old, old)  # the default re-solved the old outputs
    adam = GLAIClassifier(**{**FAST, "quant_optimizer": "adam"}).fit(X[y < 2], y[y < 2])
    with pytest.raises(ValueError, match="refit_old=True"):
        adam.add_classes(X[y == 2], y[y == 2], refit_old=True)


def test_merged_statistics_survive_pickling() -> None:
    import pickle

    X, y = _data(GLAIClassifier)
    base = GLAIClassifier(**KFOLD).fit(X, y)
    back = pickle.loads(pickle.dumps(glai.merge(base)))
    np.testing.assert_allclose(back.predict_proba(X), base.predict_proba(X), rtol=1e-5, atol=1e-6)
    back.forget(X[:10], y[:10])
