"""The ridge penalty chosen from sufficient statistics alone: nothing held out.

The closed form of :mod:`glai.solvers.ridge` solves, per group of outputs sharing their
paths, ``(G + lam I) w = B`` with ``G = sum_i s_i phi_i phi_i^T [D, D]``,
``B = sum_i s_i phi_i y_i^T [D, K]`` and ``lam = alpha * mean(diag(G))``. Whatever ``lam``,
the training residual follows from the statistics and ``T = sum_i s_i y_i^2 [K]``:

    RSS(lam) = T - 2 sum_k w_k . B_k + sum_k w_k^T G w_k                                (1)

so two estimates of the prediction error need no row and no hold-out (ours, beyond the paper;
both are textbook, Hastie, Tibshirani & Friedman, *Elements of Statistical Learning*, 7.10):

* **generalised cross-validation** (Golub, Heath & Wahba, 1979), from one
  eigendecomposition ``G = U diag(e) U^T`` for every ``lam`` at once,

      GCV(lam) = n RSS(lam) / (n - df(lam))^2,   df(lam) = sum_j e_j / (e_j + lam),  n = sum s_i;

* **exact k-fold cross-validation** from per-fold statistics ``(G_f, B_f, T_f)``: fold ``f``
  is predicted by the solve on the other folds, ``w(-f) = (G - G_f + lam I)^-1 (B - B_f)``,
  and scored by (1) on the fold's own statistics,

      CV(lam) = sum_f [T_f - 2 sum_k w(-f)_k . B_f,k + sum_k w(-f)_k^T G_f w(-f)_k] / n,

  one Cholesky factorisation per fold and penalty. The fold of a row is a hash of its content
  (:func:`row_folds`), so that statistics summed in any chunks, merged across sites or with
  rows forgotten hold the same folds as one pass over the same rows, and choose the same
  penalty. With fewer rows than unknowns and no statistics to keep, the same folds are scored
  through the ``N x N`` kernels instead (:meth:`glai.solvers.ridge.DualProblem.cv_scores`: no
  ``D x D`` sum, the same scores to float64 rounding).

Both are squared errors summed over the outputs, per row; a classifier's one-hot targets are
scored the same way (the squared loss is what the closed form minimises).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "PENALTY_FOLDS", "PENALTY_RULES", "GroupStatistics", "cv_scores", "gcv_scores",
    "penalty_scale", "row_folds",
]  # fmt: skip

# How the closed form picks its penalty among ``alphas``: on held-out rows (each candidate
# scored by the training loop), or from the statistics alone (this module).
PENALTY_RULES = ("holdout", "kfold", "gcv")
# (choice) k of the k-fold rule: 5 and 10 folds chose alike (scripts/penalty_choice.py,
# BENCHMARKS.md); each fold costs one more D x D sum and one factorisation per penalty.
PENALTY_FOLDS = 5

_EPS = 1e-12  # added to every penalty, as ridge.RidgeStatistics.solve does


@dataclass
class GroupStatistics:
    """The statistics of one group of outputs: ``gram [D, D]``, ``cross [D, K]``,
    ``target_sq [K]`` (``sum_i s_i y_ik^2``) and ``weight`` (``n = sum_i s_i``)."""

    gram: torch.Tensor
    cross: torch.Tensor
    target_sq: torch.Tensor
    weight: float

    def __sub__(self, other: GroupStatistics) -> GroupStatistics:
        return GroupStatistics(
            self.gram - other.gram, self.cross - other.cross,
            self.target_sq - other.target_sq, self.weight - other.weight,
        )  # fmt: skip

    def __add__(self, other: GroupStatistics) -> GroupStatistics:
        return GroupStatistics(
            self.gram + other.gram, self.cross + other.cross,
            self.target_sq + other.target_sq, self.weight + other.weight,
        )  # fmt: skip


def penalty_scale(gram: torch.Tensor) -> float:
    """``mean(diag(G))``: ``lam = alpha * scale`` makes ``alpha`` scale-free."""
    return float(gram.double().diagonal().mean())


def _residual(
    w: torch.Tensor, gram: torch.Tensor, cross: torch.Tensor, target_sq: torch.Tensor
) -> torch.Tensor:
    """(1) per output ``[K]``: ``T - 2 w.B + w^T G w`` (clamped at 0 against rounding)."""
    rss = target_sq - 2 * (w * cross).sum(0) + (w * (gram @ w)).sum(0)
    return rss.clamp_min(0)


@torch.no_grad()
def gcv_scores(groups: Sequence[GroupStatistics], alphas: Sequence[float]) -> torch.Tensor:
    """``sum_groups sum_k GCV_k(lam_g(alpha))`` for each alpha: ``[len(alphas)]``, float64.

    One ``eigh`` per group (``~ 9 D^3`` flops, about 25 Cholesky factorisations), then every
    penalty costs ``O(D K)``. ``lam_g = alpha * mean(diag(G_g))``, as the solve uses.
    """
    total = torch.zeros(len(alphas), dtype=torch.float64)
    for g in groups:
        gram, cross = g.gram.double(), g.cross.double()
        target_sq, n = g.target_sq.double(), float(g.weight)
        e, u = torch.linalg.eigh(gram)
        e = e.clamp_min(0)
        bt2 = (u.t() @ cross) ** 2  # [D, K]: the cross-products in G's eigenbasis, squared
        scale = penalty_scale(gram)
        for i, alpha in enumerate(alphas):
            f = 1.0 / (e + alpha * scale + _EPS)
            # w = U diag(f) U^T B:  w.B = sum f bt^2,  w^T G w = sum e f^2 bt^2
            rss = target_sq - 2 * (f[:, None] * bt2).sum(0) + ((e * f * f)[:, None] * bt2).sum(0)
            df = float((e * f).sum())
            total[i] += float(rss.clamp_min(0).sum()) * n / max(n - df, 1e-12) ** 2
    return total


@torch.no_grad()
def cv_scores(folds: Sequence[Sequence[GroupStatistics]], alphas: Sequence[float]) -> torch.Tensor:
    """Exact k-fold cross-validated squared error per row for each alpha, ``[len(alphas)]``.

    Args:
        folds: per fold, its statistics per group (the same groups in every fold). The
            penalty is ``alpha * mean(diag(G_-f))`` of the training folds' Gram, as a fit on
            them alone would use.
    """
    if len(folds) < 2:
        raise ValueError(f"k-fold cross-validation needs at least 2 folds, got {len(folds)}")
    n_groups = len(folds[0])
    totals = []
    for j in range(n_groups):
        total = folds[0][j]
        for fold in folds[1:]:
            total = total + fold[j]
        totals.append(total)
    n = sum(float(fold[0].weight) for fold in folds)
    scores = torch.zeros(len(alphas), dtype=torch.float64)
    for fold in folds:
        for j, held in enumerate(fold):
            train = totals[j] - held
            gram = train.gram.double()
            scale = penalty_scale(gram)
            eye = torch.eye(len(gram), dtype=torch.float64, device=gram.device)
            for i, alpha in enumerate(alphas):
                factor = torch.linalg.cholesky(gram + (alpha * scale + _EPS) * eye)
                w = torch.cholesky_solve(train.cross.double(), factor)
                sse = _residual(w, held.gram.double(), held.cross.double(), held.target_sq.double())
                scores[i] += float(sse.sum())
    return scores / max(n, 1e-12)


_MIX = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)  # splitmix64's multipliers


def row_folds(x: np.ndarray | torch.Tensor, k: int) -> np.ndarray:
    """The fold ``0 .. k-1`` of each row of ``x [N, F]``, a hash of the row's bytes.

    Deterministic per row whatever the order, the chunks or the site the row comes from, so
    that per-fold statistics summed or subtracted in any way agree (module doc). Equal rows
    share a fold.
    """
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    a = np.ascontiguousarray(a.reshape(len(a), int(np.prod(a.shape[1:]))))
    if a.dtype.itemsize not in (4, 8):
        a = a.astype(np.float64)
    words = a.view(np.uint32 if a.dtype.itemsize == 4 else np.uint64).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(len(a), 0x9E3779B97F4A7C15, dtype=np.uint64)
        for j in range(words.shape[1]):
            h = (h ^ words[:, j]) * np.uint64(_MIX[0])
            h ^= h >> np.uint64(31)
        h = (h ^ (h >> np.uint64(30))) * np.uint64(_MIX[0])
        h = (h ^ (h >> np.uint64(27))) * np.uint64(_MIX[1])
        h ^= h >> np.uint64(31)
    return (h % np.uint64(k)).astype(np.int64)
