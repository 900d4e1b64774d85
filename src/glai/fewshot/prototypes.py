"""Nearest-class-mean (prototype) classification of few-shot tasks, and its evaluation.

A query is classified by the nearest class mean (prototype) of the support embeddings, as in
prototypical networks (Snell, Swersky & Zemel, 2017, arXiv:1703.05175):

    c_n = (1/K) sum_k f(x_{n,k}),     p(y = n | x) = softmax_n( -||f(x) - c_n||^2 )

``f`` is the identity for the reference (nearest class mean on the raw features) or a trained
embedding head (:class:`glai.fewshot.FewShotHead`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from glai.fewshot.tasks import RandomState, Tasks, _check_labels, sample_tasks

__all__ = ["prototypes", "prototype_logits", "task_accuracies", "evaluate"]


def prototypes(support: torch.Tensor) -> torch.Tensor:
    """Class means ``c_n = (1/K) sum_k z_{n,k}``: ``support [..., N, K, d] -> [..., N, d]``."""
    return support.mean(dim=-2)


def prototype_logits(query: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """``-||z_q - c_n||^2``: ``query [..., M, d]``, ``protos [..., N, d] -> [..., M, N]``."""
    sq = (query * query).sum(-1, keepdim=True) + (protos * protos).sum(-1).unsqueeze(-2)
    return -(sq - 2 * query @ protos.transpose(-1, -2)).clamp(min=0)


def _task_logits(z: torch.Tensor, support: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Embeddings ``z [n, d]``, support ``[T, N, K]``, query ``[T, N, Q]`` -> ``[T, N*Q, N]``."""
    t, n, q = query.shape
    return prototype_logits(z[query].reshape(t, n * q, -1), prototypes(z[support]))


def _query_targets(n_way: int, n_query: int, device: torch.device) -> torch.Tensor:
    """The class index of each query row of :func:`_task_logits`: ``[N*Q]``."""
    return torch.arange(n_way, device=device).repeat_interleave(n_query)


def task_accuracies(
    embeddings: torch.Tensor, tasks: Tasks, *, chunk: int = 100
) -> tuple[np.ndarray, float]:
    """Nearest-class-mean accuracy of each task, and the mean prototype loss over queries.

    Args:
        embeddings: ``[n_samples, d]``, the rows ``tasks`` index.
        chunk: tasks scored at once (bounds memory: ``chunk * N * Q * d`` floats).

    Returns:
        accuracies float64 ``[T]`` (ties go to the first class), mean cross-entropy of
        ``softmax(-||z - c_n||^2)``.
    """
    _, n_way, _, n_query = tasks.shape
    target = _query_targets(n_way, n_query, embeddings.device)
    accs, loss_sum = [], 0.0
    with torch.no_grad():
        for i in range(0, len(tasks), chunk):
            s = torch.as_tensor(tasks.support[i : i + chunk], device=embeddings.device)
            q = torch.as_tensor(tasks.query[i : i + chunk], device=embeddings.device)
            logits = _task_logits(embeddings, s, q)  # [t, N*Q, N]
            accs.append((logits.argmax(-1) == target).double().mean(-1).cpu())
            loss_sum += float(
                nn.functional.cross_entropy(
                    logits.reshape(-1, n_way), target.repeat(len(s)), reduction="sum"
                )
            )
    return torch.cat(accs).numpy(), loss_sum / (len(tasks) * n_way * n_query)


def _check_X(X: Any, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float32) if not isinstance(X, np.ndarray) else X
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-d array [n_samples, n_features], "
                         f"got shape {X.shape}")  # fmt: skip
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def evaluate(
    X: Any,
    y: Any,
    *,
    transform: Callable[[np.ndarray], Any] | Any = None,
    n_way: int = 5,
    k_shot: int = 1,
    n_query: int = 15,
    n_tasks: int = 1000,
    random_state: RandomState = None,
) -> dict[str, Any]:
    """Few-shot accuracy of nearest-class-mean classification on ``n_tasks`` tasks.

    Args:
        X: features ``[n_samples, n_features]`` of the evaluation (novel) classes.
        y: their labels ``[n_samples]``; every class needs ``k_shot + n_query`` samples.
        transform: embedding ``X -> [n_samples, d]``: a callable, an object with a
            ``transform`` method (a fitted :class:`FewShotHead`), or None for the raw features
            (the reference every head must beat).
        random_state: seed of the tasks: the same int gives every head the same tasks.

    Returns:
        ``accuracy`` (mean over tasks), ``ci95`` (``1.96 std / sqrt(n_tasks)``, population
        std over tasks), ``std``, ``loss`` (mean query cross-entropy), ``seconds`` (embedding
        and scoring, wall-clock), ``task_accuracies`` (float64 ``[n_tasks]``, for paired
        tests), and the task shape ``n_way, k_shot, n_query, n_tasks``.
    """
    X = _check_X(X)
    y = _check_labels(y)
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    tasks = sample_tasks(
        y, n_way=n_way, k_shot=k_shot, n_query=n_query, n_tasks=n_tasks,
        random_state=random_state,
    )  # fmt: skip
    start = time.perf_counter()
    if transform is None:
        z = X
    elif hasattr(transform, "transform"):
        z = transform.transform(X)
    elif callable(transform):
        z = transform(X)
    else:
        raise ValueError(
            f"transform must be None, a callable or have a transform method, got {transform!r}"
        )
    z_t = torch.as_tensor(np.asarray(z, dtype=np.float32))
    if z_t.ndim != 2 or len(z_t) != len(X):
        raise ValueError(f"transform returned shape {tuple(z_t.shape)}, expected [{len(X)}, d]")
    accs, loss = task_accuracies(z_t, tasks)
    seconds = time.perf_counter() - start
    return {
        "accuracy": float(accs.mean()),
        "ci95": float(1.96 * accs.std() / np.sqrt(len(accs))),
        "std": float(accs.std()),
        "loss": loss,
        "seconds": seconds,
        "task_accuracies": accs,
        "n_way": n_way,
        "k_shot": k_shot,
        "n_query": n_query,
        "n_tasks": n_tasks,
    }
