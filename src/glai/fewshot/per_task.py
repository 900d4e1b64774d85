"""The per-task classifier protocol: a new classifier fitted on each task's support set.

The common frozen-backbone baseline of the few-shot literature (Tian, Wang, Krishnan,
Tenenbaum & Isola, 2020, "Rethinking few-shot image classification: a good embedding is all
you need?", arXiv:2003.11539): for every task ``t`` a fresh classifier is fitted on the
``N x K`` support samples and scores that task's ``N x Q`` queries,

    clf_t = clone(EST).fit(X[support_t], y[support_t]),
    acc_t = (1 / NQ) sum_{q in query_t} [clf_t.predict(x_q) = y_q]

where ``EST`` is any scikit-learn classifier (:class:`glai.GLAIClassifier`,
:class:`glai.MLPHeadClassifier`, a logistic regression, a pipeline). It is the other reading
of "few-shot classifier" besides nearest class mean on an episodically trained embedding
(:mod:`glai.fewshot.prototypes`); :func:`glai.fewshot.evaluate` scores both on the same
:class:`~glai.fewshot.tasks.Tasks`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from glai.fewshot.tasks import Tasks

__all__ = ["check_classifier", "classifier_accuracies"]


def check_classifier(classifier: Any) -> None:
    """Refuse what cannot be the ``classifier`` of the per-task protocol."""
    if isinstance(classifier, type) or not all(
        callable(getattr(classifier, m, None)) for m in ("fit", "predict", "get_params")
    ):
        raise ValueError(
            "classifier must be a scikit-learn classifier instance (fit, predict, get_params: "
            f"it is cloned for every task), got {classifier!r}"
        )


def classifier_accuracies(
    X: np.ndarray, y: np.ndarray, tasks: Tasks, classifier: Any
) -> tuple[np.ndarray, float | None]:
    """Accuracy of a clone of ``classifier`` fitted on each task's support set.

    Args:
        X: features ``[n_samples, d]``, the rows ``tasks`` index.
        y: labels ``[n_samples]``.
        tasks: ``T`` tasks of shape ``(N, K, Q)``.
        classifier: a scikit-learn classifier. ``sklearn.base.clone(classifier)`` is fitted
            on the ``N*K`` support rows of each task and predicts its ``N*Q`` queries: one
            new estimator per task, so nothing carries over from one task to the next, and
            ``classifier`` itself is never fitted.

    Returns:
        accuracies float64 ``[T]``, and the mean query cross-entropy of ``predict_proba``
        (None when the classifier has no ``predict_proba``).
    """
    accs = np.empty(len(tasks))
    with_proba = callable(getattr(classifier, "predict_proba", None))
    loss_sum = 0.0
    for t in range(len(tasks)):
        support, query = tasks.support[t].ravel(), tasks.query[t].ravel()
        clf = clone(classifier)
        with warnings.catch_warnings():
            # an iterative solver stopping at its cap on 5 samples is part of the protocol,
            # not news to repeat once per task
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X[support], y[support])
        accs[t] = float(np.mean(np.asarray(clf.predict(X[query])) == y[query]))
        if with_proba:
            proba = np.asarray(clf.predict_proba(X[query]), dtype=np.float64)
            cols = np.searchsorted(clf.classes_, y[query])
            picked = proba[np.arange(len(query)), cols]
            loss_sum -= float(np.log(np.clip(picked, 1e-12, None)).sum())
    return accs, (loss_sum / tasks.query.size if with_proba else None)
