"""glai.fewshot's per-task classifier protocol: the same tasks as nearest class mean, a clone
fitted per task (never one estimator refitted), its numbers against nearest centroid by hand,
the small-data heads, and every refusal."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestCentroid

from glai import GLAIClassifier, MLPHeadClassifier
from glai.fewshot import evaluate, sample_tasks


def _blobs(n_classes: int, per_class: int, n_features: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(n_classes, n_features))
    y = np.repeat(np.arange(n_classes), per_class)
    X = centers[y] + rng.normal(size=(len(y), n_features))
    return X.astype(np.float32), y


class Recorder(ClassifierMixin, BaseEstimator):
    """Predicts the first support label; records, per instance, the rows it was fitted on and
    asked about (column 0 of X holds each row's index)."""

    instances: ClassVar[list[Recorder]] = []

    def __init__(self, tag: int = 0) -> None:
        self.tag = tag

    def fit(self, X: np.ndarray, y: np.ndarray) -> Recorder:
        self.fits_ = getattr(self, "fits_", 0) + 1
        self.support_rows_ = X[:, 0].astype(int)
        self.classes_ = np.unique(y)
        Recorder.instances.append(self)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.query_rows_ = X[:, 0].astype(int)
        return np.full(len(X), self.classes_[0])


def test_the_classifier_sees_exactly_the_tasks_nearest_class_mean_scores() -> None:
    X, y = _blobs(7, 20)
    X[:, 0] = np.arange(len(X))  # the row index, for the recorder
    shape = {"n_way": 4, "k_shot": 3, "n_query": 5, "n_tasks": 12}
    Recorder.instances.clear()
    evaluate(X, y, classifier=Recorder(), random_state=5, **shape)
    tasks = sample_tasks(y, random_state=5, **shape)
    assert len(Recorder.instances) == 12
    for t, clf in enumerate(Recorder.instances):
        np.testing.assert_array_equal(clf.support_rows_, tasks.support[t].ravel())
        np.testing.assert_array_equal(clf.query_rows_, tasks.query[t].ravel())
    # and another seed, other tasks
    Recorder.instances.clear()
    evaluate(X, y, classifier=Recorder(), random_state=6, **shape)
    assert not np.array_equal(Recorder.instances[0].support_rows_, tasks.support[0].ravel())


def test_a_new_clone_is_fitted_once_per_task_and_the_given_classifier_never() -> None:
    X, y = _blobs(5, 12)
    Recorder.instances.clear()
    given = Recorder(tag=7)
    evaluate(X, y, classifier=given, n_way=3, k_shot=2, n_query=2, n_tasks=9, random_state=0)
    assert len({id(c) for c in Recorder.instances}) == 9  # nine distinct estimators
    assert all(c.fits_ == 1 and c.tag == 7 for c in Recorder.instances)  # clones, fitted once
    assert given not in Recorder.instances and not hasattr(given, "fits_")
    # no predict_proba: no loss, rather than a made-up one
    r = evaluate(X, y, classifier=given, n_way=3, n_query=4, n_tasks=2, random_state=0)
    assert r["loss"] is None


def test_nearest_centroid_per_task_equals_the_nearest_class_mean_protocol() -> None:
    # NearestCentroid fitted on a support set is the prototype classifier by hand: the
    # per-task accuracies must equal nearest class mean's, task by task (same tasks).
    X, y = _blobs(8, 15, seed=3)
    shape = {"n_way": 5, "k_shot": 2, "n_query": 4, "n_tasks": 40, "random_state": 1}
    ncm = evaluate(X, y, **shape)
    per_task = evaluate(X, y, classifier=NearestCentroid(), **shape)
    np.testing.assert_allclose(per_task["task_accuracies"], ncm["task_accuracies"])
    assert per_task["protocol"] == "per-task classifier"
    assert ncm["protocol"] == "nearest class mean"
    assert set(per_task) == set(ncm)  # the same result dictionary
    assert per_task["ci95"] == pytest.approx(
        1.96 * per_task["task_accuracies"].std() / np.sqrt(40)
    )
    assert per_task["seconds_per_task"] == pytest.approx(per_task["seconds"] / 40)


def test_the_loss_is_the_query_cross_entropy_of_predict_proba() -> None:
    X, y = _blobs(6, 15)
    r = evaluate(X, y, classifier=LogisticRegression(), n_way=3, k_shot=5, n_query=5,
                 n_tasks=5, random_state=0)  # fmt: skip
    tasks = sample_tasks(y, n_way=3, k_shot=5, n_query=5, n_tasks=5, random_state=0)
    nll = []
    for t in range(5):
        s, q = tasks.support[t].ravel(), tasks.query[t].ravel()
        clf = LogisticRegression().fit(X[s], y[s])
        proba = clf.predict_proba(X[q])
        nll += list(-np.log(proba[np.arange(len(q)), np.searchsorted(clf.classes_, y[q])]))
    assert r["loss"] == pytest.approx(np.mean(nll), rel=1e-6)


@pytest.mark.parametrize("estimator", [GLAIClassifier, MLPHeadClassifier])
def test_the_heads_with_their_defaults_learn_from_5_to_100_support_samples(estimator) -> None:
    # 5-way 1-shot (5 samples) to 5-way 20-shot (100): the small-data rules (no hold-out,
    # batch = the support set) must give a classifier well above chance (0.2) on blobs.
    X, y = _blobs(10, 40, n_features=16)
    for k_shot in (1, 20):
        r = evaluate(X, y, classifier=estimator(random_state=0), n_way=5, k_shot=k_shot,
                     n_query=10, n_tasks=3, random_state=0)  # fmt: skip
        assert r["accuracy"] > 0.8, (k_shot, r["accuracy"])
        assert np.isfinite(r["loss"])


def _nan_transform(X: np.ndarray) -> np.ndarray:
    Z = X.copy()
    Z[3, 1] = np.nan
    return Z


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_way": 1}, "n_way must be >= 2"),
        ({"n_way": 9}, "n_way=9 is larger than the 6 classes"),
        ({"k_shot": 8, "n_query": 5}, "fewer than k_shot \\+ n_query = 13"),
        ({"transform": _nan_transform}, "transform returned NaN or infinity for 1 of"),
        ({"transform": lambda X: X[:-1]}, "transform returned shape"),
        ({"classifier": LogisticRegression}, "classifier must be a scikit-learn classifier"),
        ({"classifier": "logistic"}, "classifier must be a scikit-learn classifier"),
    ],
)
def test_bad_arguments_are_refused_with_what_to_change(kwargs: dict[str, Any], match: str) -> None:
    X, y = _blobs(6, 12)
    kwargs = {"classifier": NearestCentroid(), "n_query": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        evaluate(X, y, n_tasks=3, random_state=0, **kwargs)
    if "classifier" not in kwargs or not isinstance(kwargs["classifier"], (type, str)):
        with pytest.raises(ValueError, match=match):  # the same refusals without a classifier
            evaluate(X, y, n_tasks=3, random_state=0,
                     **{k: v for k, v in kwargs.items() if k != "classifier"})  # fmt: skip
