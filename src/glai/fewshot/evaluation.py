"""Few-shot accuracy on sampled tasks, under either protocol, on the same tasks.

* nearest class mean (``classifier=None``): a query goes to the class whose support mean is
  nearest in the embedding ``transform(X)`` (prototypical networks; the raw features when
  ``transform`` is None);
* per-task classifier (``classifier=EST``): a clone of ``EST`` is fitted on each task's
  support set (:mod:`glai.fewshot.per_task`).

The tasks depend on ``y``, the task shape and ``random_state`` only, so two calls with the same
int ``random_state`` score the same tasks whatever the protocol: their ``task_accuracies``
pair up for paired tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from glai import validation
from glai.fewshot.per_task import check_classifier, classifier_accuracies
from glai.fewshot.prototypes import task_accuracies
from glai.fewshot.tasks import RandomState, _check_labels, sample_tasks

__all__ = ["evaluate", "embed"]


def _check_X(X: Any, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float32) if not isinstance(X, np.ndarray) else X
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-d array [n_samples, n_features], "
                         f"got shape {X.shape}")  # fmt: skip
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity")
    validation.as_float32(name, X)  # scored in float32 by the heads: beyond its range is inf
    return X


def embed(X: np.ndarray, transform: Callable[[np.ndarray], Any] | Any) -> np.ndarray:
    """``transform(X)`` as float32 ``[n_samples, d]``, checked (``X`` itself when None).

    Raises:
        ValueError: ``transform`` is neither None, callable nor has a ``transform`` method;
            it returned another number of rows, not a matrix, or NaN / infinity.
    """
    if transform is None:
        return X
    if hasattr(transform, "transform"):
        z = transform.transform(X)
    elif callable(transform):
        z = transform(X)
    else:
        raise ValueError(
            f"transform must be None, a callable or have a transform method, got {transform!r}"
        )
    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2 or len(z) != len(X):
        raise ValueError(f"transform returned shape {z.shape}, expected [{len(X)}, d]")
    if not np.isfinite(z).all():
        bad = int((~np.isfinite(z)).any(axis=1).sum())
        raise ValueError(
            f"transform returned NaN or infinity for {bad} of {len(z)} samples; check the "
            "head (diverged training?) or the inputs it expects"
        )
    return z


def evaluate(
    X: Any,
    y: Any,
    *,
    transform: Callable[[np.ndarray], Any] | Any = None,
    classifier: Any = None,
    n_way: int = 5,
    k_shot: int = 1,
    n_query: int = 15,
    n_tasks: int = 1000,
    random_state: RandomState = None,
) -> dict[str, Any]:
    """Few-shot accuracy on ``n_tasks`` tasks drawn from ``(X, y)``.

    Args:
        X: features ``[n_samples, n_features]`` of the evaluation (novel) classes.
        y: their labels ``[n_samples]``; every class needs ``k_shot + n_query`` samples.
        transform: embedding ``X -> [n_samples, d]`` applied first: a callable, an object with
            a ``transform`` method (a fitted :class:`FewShotHead`), or None (the raw
            features, the reference every head must beat).
        classifier: None for nearest class mean; else a scikit-learn classifier, cloned and
            fitted on each task's ``n_way * k_shot`` support samples (the per-task protocol,
            :func:`glai.fewshot.per_task.classifier_accuracies`).
        n_way: classes per task (>= 2); k_shot, n_query: support and query samples per class.
        random_state: seed of the tasks: the same int gives every call the same tasks, with
            or without ``transform`` and ``classifier``.

    Returns:
        ``accuracy`` (mean over tasks), ``ci95`` (``1.96 std / sqrt(n_tasks)``, population
        std over tasks), ``std``, ``loss`` (mean query cross-entropy; None for a classifier
        without ``predict_proba``), ``seconds`` (embedding, fitting and scoring, wall-clock),
        ``seconds_per_task``, ``task_accuracies`` (float64 ``[n_tasks]``, for paired tests),
        ``protocol`` (``"nearest class mean"`` or ``"per-task classifier"``) and the task
        shape ``n_way, k_shot, n_query, n_tasks``.

    Raises:
        ValueError: ``n_way`` < 2 or above the classes in ``y``; a class with fewer than
            ``k_shot + n_query`` samples; a bad ``X``, ``transform`` output or
            ``classifier``.
    """
    X = _check_X(X)
    y = _check_labels(y)
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    if classifier is not None:
        check_classifier(classifier)
    tasks = sample_tasks(
        y, n_way=n_way, k_shot=k_shot, n_query=n_query, n_tasks=n_tasks,
        random_state=random_state,
    )  # fmt: skip
    start = time.perf_counter()
    z = embed(X, transform)
    loss: float | None
    if classifier is None:
        accs, loss = task_accuracies(torch.as_tensor(z), tasks)
    else:
        accs, loss = classifier_accuracies(z, y, tasks, classifier)
    seconds = time.perf_counter() - start
    return {
        "accuracy": float(accs.mean()),
        "ci95": float(1.96 * accs.std() / np.sqrt(len(accs))),
        "std": float(accs.std()),
        "loss": loss,
        "seconds": seconds,
        "seconds_per_task": seconds / len(accs),
        "task_accuracies": accs,
        "protocol": "nearest class mean" if classifier is None else "per-task classifier",
        "n_way": n_way,
        "k_shot": k_shot,
        "n_query": n_query,
        "n_tasks": n_tasks,
    }
