"""Nearest-class-mean (prototype) classification of few-shot tasks.

A query is classified by the nearest class mean (prototype) of the support embeddings, as in
prototypical networks (Snell, Swersky & Zemel, 2017, arXiv:1703.05175):

    c_n = (1/K) sum_k f(x_{n,k}),     p(y = n | x) = softmax_n( -||f(x) - c_n||^2 )

``f`` is the identity for the reference (nearest class mean on the raw features) or a trained
embedding head (:class:`glai.fewshot.FewShotHead`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from glai.fewshot.tasks import Tasks

__all__ = ["prototypes", "prototype_logits", "task_accuracies"]


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
