"""Per-sample losses and validation scores of the heads (the loop's ``loss_fn``, ``score_fn``).

A loss maps outputs ``[N, n_L]`` and targets to per-sample values ``[N]`` (the loop weights and
averages them); a score maps them to one float, higher is better (early stopping keeps its
best epoch).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "accuracy",
    "cross_entropy",
    "minus_mean_loss",
    "neg_mse",
    "r2",
    "squared_error",
]


def cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of logits ``[N, K]`` against integer labels ``[N]``, per sample."""
    return F.cross_entropy(out, y, reduction="none")


def accuracy(out: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose largest logit is the label."""
    return float((out.argmax(dim=1) == y).float().mean())


def squared_error(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the outputs ``[N, k]``, per sample."""
    return ((out - y) ** 2).mean(dim=1)


def neg_mse(out: torch.Tensor, y: torch.Tensor) -> float:
    """Minus the mean squared error over every entry."""
    return -float(((out - y) ** 2).mean())


def r2(out: torch.Tensor, y: torch.Tensor) -> float:
    """Coefficient of determination of each output ``[N, k]``, averaged over the outputs:
    scikit-learn's ``r2_score`` (what a regressor's ``score`` reports), which the per-column
    standardisation of the targets leaves unchanged. A constant column scores 1 if predicted
    exactly, else 0 (scikit-learn's convention); when every column is constant, minus the
    residual sum of squares (a signal early stopping can still rank epochs by)."""
    ss_res = ((out - y) ** 2).sum(dim=0)
    ss_tot = ((y - y.mean(dim=0)) ** 2).sum(dim=0)
    live = ss_tot > 0
    if not bool(live.any()):
        return float(-ss_res.sum())
    exact = (ss_res == 0).to(out.dtype)
    return float(torch.where(live, 1 - ss_res / ss_tot.clamp_min(1e-30), exact).mean())


def minus_mean_loss(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """The score early stopping watches when no data are held out: minus the mean of
    ``loss_fn`` (the "validation" inputs are then the training inputs), so that stopping
    watches the training loss, as scikit-learn's ``MLPClassifier`` does."""

    def score(out: torch.Tensor, y: torch.Tensor) -> float:
        return -float(loss_fn(out, y).mean())

    return score
