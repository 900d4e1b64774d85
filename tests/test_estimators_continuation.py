"""Continuing a fitted head (warm start, partial_fit, add_classes) refuses what no longer
describes it: labels of another type than ``classes_``, and parameters changed since the fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from glai import GLAIClassifier, GLAIRegressor, MLPHeadClassifier, MLPHeadRegressor

FAST = {"hidden_layer_sizes": 16, "max_iter": 3, "random_state": 0}


def _blobs(n: int = 120, centers: int = 3) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=n, centers=centers, n_features=4, random_state=0)
    return X, y


def test_partial_fit_with_the_same_classes_as_strings_is_refused() -> None:
    # Used to duplicate them: classes_ == ['0', '1', '2', '0', '1', '2'].
    X, y = _blobs()
    est = GLAIClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"y has labels of type <U21 \(strings\) but the model "
                       r"was fitted on int64 labels \(numbers\)"):  # fmt: skip
        est.partial_fit(X, y.astype(str))
    assert est.classes_.tolist() == [0, 1, 2]


def test_new_string_labels_do_not_turn_integer_classes_into_strings() -> None:
    X, y = _blobs()
    est = GLAIClassifier(**FAST).fit(X, y)
    for call in (lambda: est.partial_fit(X, np.where(y == 2, "new", "0")),
                 lambda: est.add_classes(X, np.array(["a", "b"] * 60))):  # fmt: skip
        with pytest.raises(ValueError, match="give labels of the type it was fitted on"):
            call()
    assert est.classes_.dtype.kind == "i" and est.classes_.tolist() == [0, 1, 2]


def test_string_classes_refuse_integer_labels_and_take_new_strings() -> None:
    X, y = _blobs()
    names = np.array(["cat", "dog", "eel"])[y]
    est = GLAIClassifier(**FAST).fit(X[y < 2], names[y < 2])
    with pytest.raises(ValueError, match="fitted on <U3 labels"):
        est.partial_fit(X, y)
    est.partial_fit(X, names)  # a new class of the same type: fine
    assert est.classes_.tolist() == ["cat", "dog", "eel"]


def test_the_mlp_heads_partial_fit_refuses_another_label_type_too() -> None:
    X, y = _blobs()
    est = MLPHeadClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="give labels of the type it was fitted on"):
        est.partial_fit(X, y.astype(str))


def test_validation_labels_of_another_type_are_refused_on_a_warm_start() -> None:
    X, y = _blobs()
    est = GLAIClassifier(**FAST, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="give labels of the type it was fitted on"):
        est.fit(X, y, X_val=X[:30], y_val=y[:30].astype(str))


CHANGES: list[tuple[type, dict[str, Any]]] = [
    (GLAIClassifier, {"hidden_layer_sizes": 32}),
    (GLAIClassifier, {"rho": 2.0}),
    (GLAIClassifier, {"budget": 5000}),
    (GLAIClassifier, {"prune_dead": False}),
    (GLAIClassifier, {"quant_optimizer": "ridge"}),
    (GLAIRegressor, {"hidden_layer_sizes": (8, 8)}),
    (MLPHeadClassifier, {"hidden_layer_sizes": 32}),
    (MLPHeadRegressor, {"hidden_layer_sizes": [8]}),
]


@pytest.mark.parametrize(("cls", "change"), CHANGES)
def test_a_warm_start_after_set_params_that_changed_the_model_is_refused(
    cls: type, change: dict[str, Any]
) -> None:
    # Used to keep training the old architecture (or solver) while get_params() reported the
    # new one.
    X, y = _blobs()
    target = y if "Classifier" in cls.__name__ else X[:, 0] + y
    est = cls(**FAST, warm_start=True).fit(X, target)
    before = est.model_
    est.set_params(**change)
    name = next(iter(change))
    with pytest.raises(ValueError, match=rf"warm_start=True continues the fitted model, but "
                       rf"its parameters changed since it was fitted \({name}: fitted with"):
        est.fit(X, target)
    assert est.model_ is before  # left as it was
    if hasattr(est, "partial_fit"):
        with pytest.raises(ValueError, match=rf"partial_fit continues the fitted model.*{name}"):
            est.partial_fit(X, target)
    est.set_params(warm_start=False).fit(X, target)  # a refit builds the model described
    est.set_params(warm_start=True).fit(X, target)  # and continues it


def test_an_unchanged_or_equivalent_setting_still_warm_starts() -> None:
    X, y = _blobs()
    est = GLAIClassifier(**{**FAST, "hidden_layer_sizes": 16}, warm_start=True).fit(X, y)
    est.set_params(hidden_layer_sizes=(16,), learning_rate_init=0.01)  # same widths; lr free
    est.fit(X, y)
    assert est.n_iter_ >= 1
