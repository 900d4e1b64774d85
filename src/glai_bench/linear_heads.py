"""Heads for the incremental and federated protocols (issue 18) that are not glai estimators.

* :class:`RidgeHead`: ridge regression onto one-hot labels on a fixed feature map
  ``phi(x) = [f(x), 1]`` (``f``: the raw features, or random ReLU features
  ``relu(x W)``, W Gaussian: the RanPAC recipe, McDonnell et al., NeurIPS 2023), kept as
  per-fold sufficient statistics in float64, so that rows, classes and sites add up exactly
  and the penalty is chosen by exact k-fold cross-validation (:mod:`glai.solvers.penalty`),
  as the GLAI closed form does. With classes added one step at a time it is the analytic
  class-incremental learner (ACIL, Zhuang et al., NeurIPS 2022) on those features.
* :class:`NearestMean`: nearest class mean (Euclidean), sums and counts per class.
* :func:`train_mlp`: a plain Adam loop over an MLP's logits restricted to the classes seen,
  for fine-tuning step by step and for FedAvg's local epochs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from glai import MLP
from glai.solvers.penalty import PENALTY_FOLDS, GroupStatistics, cv_scores, row_folds

__all__ = ["ALPHAS", "NearestMean", "RidgeHead", "random_relu", "statistics_bytes", "train_mlp"]

ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1)  # scored by k-fold CV: the GLAI heads' default alphas


def random_relu(n0: int, dim: int, seed: int) -> Callable[[np.ndarray], torch.Tensor]:
    """``x [N, n0] -> relu(x W) [N, dim]`` (float64), ``W ~ N(0, 1/n0)`` fixed by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n0, dim, generator=g, dtype=torch.float64) / np.sqrt(n0)
    return lambda x: torch.relu(torch.as_tensor(x, dtype=torch.float64) @ w)


def identity(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


class RidgeHead:
    """Ridge on ``phi(x) = [f(x), 1]``: per-fold ``G_f [D, D]``, ``B_f [D, K]``, ``T_f [K]``.

    Labels are class indices ``0 .. K-1``; ``K`` grows with the labels seen (a new class's
    column is 0 on every earlier row, as one-hot targets are).
    """

    def __init__(
        self, features: Callable[[np.ndarray], torch.Tensor], folds: int = PENALTY_FOLDS
    ) -> None:
        self.features, self.folds = features, folds
        self.G: torch.Tensor | None = None
        self.B = self.T = self.n = torch.zeros(0)
        self.alpha: float | None = None

    def phi(self, X: np.ndarray) -> torch.Tensor:
        f = self.features(X)
        return torch.cat([f, torch.ones(len(f), 1, dtype=torch.float64)], 1)

    def _grow(self, k: int, d: int) -> None:
        if self.G is None:
            self.G = torch.zeros(self.folds, d, d, dtype=torch.float64)
            self.B = torch.zeros(self.folds, d, 0, dtype=torch.float64)
            self.T = torch.zeros(self.folds, 0, dtype=torch.float64)
            self.n = torch.zeros(self.folds, dtype=torch.float64)
        if k > self.B.shape[2]:
            extra = k - self.B.shape[2]
            self.B = torch.cat([self.B, self.B.new_zeros(self.folds, d, extra)], 2)
            self.T = torch.cat([self.T, self.T.new_zeros(self.folds, extra)], 1)

    def add(self, X: np.ndarray, y: np.ndarray, n_classes: int) -> RidgeHead:
        phi = self.phi(X)
        self._grow(n_classes, phi.shape[1])
        assert self.G is not None
        onehot = F.one_hot(torch.as_tensor(y), n_classes).double()
        fold = torch.as_tensor(row_folds(X, self.folds))
        for f in range(self.folds):
            rows = fold == f
            p, t = phi[rows], onehot[rows]
            self.G[f] += p.t() @ p
            self.B[f, :, :n_classes] += p.t() @ t
            self.T[f, :n_classes] += t.sum(0)
            self.n[f] += float(rows.sum())
        return self

    def merge(self, other: RidgeHead) -> RidgeHead:
        assert self.G is not None and other.G is not None
        k = max(self.B.shape[2], other.B.shape[2])
        self._grow(k, self.G.shape[1])
        other._grow(k, other.G.shape[1])
        self.G += other.G
        self.B += other.B
        self.T += other.T
        self.n += other.n
        return self

    def solve(self) -> RidgeHead:
        assert self.G is not None
        per_fold = [
            [GroupStatistics(self.G[f], self.B[f], self.T[f], float(self.n[f]))]
            for f in range(self.folds)
        ]
        self.alpha = ALPHAS[int(torch.argmin(cv_scores(per_fold, ALPHAS)))]
        G, B = self.G.sum(0), self.B.sum(0)
        lam = self.alpha * float(G.diagonal().mean()) + 1e-12
        self.W = torch.cholesky_solve(
            B, torch.linalg.cholesky(G + lam * torch.eye(len(G), dtype=G.dtype))
        )
        return self

    def scores(self, X: np.ndarray) -> torch.Tensor:
        return self.phi(X) @ self.W

    @property
    def nbytes(self) -> int:
        assert self.G is not None
        return 8 * (self.G.numel() + self.B.numel() + self.T.numel() + self.n.numel())

    @property
    def packed_nbytes(self) -> int:
        """:attr:`nbytes` with each fold's symmetric Gram as its upper triangle."""
        assert self.G is not None
        return _packed_gram_bytes(self.G) + 8 * (self.B.numel() + self.T.numel() + self.n.numel())


class NearestMean:
    """Nearest class mean: per class the sum of its features and its count."""

    def __init__(self, n0: int) -> None:
        self.sums = np.zeros((0, n0))
        self.counts = np.zeros(0)

    def add(self, X: np.ndarray, y: np.ndarray, n_classes: int) -> NearestMean:
        if n_classes > len(self.counts):
            extra = n_classes - len(self.counts)
            self.sums = np.vstack([self.sums, np.zeros((extra, self.sums.shape[1]))])
            self.counts = np.concatenate([self.counts, np.zeros(extra)])
        np.add.at(self.sums, y, X.astype(np.float64))
        np.add.at(self.counts, y, 1.0)
        return self

    def scores(self, X: np.ndarray) -> torch.Tensor:
        means = self.sums / np.maximum(self.counts, 1)[:, None]
        d = ((X[:, None, :].astype(np.float64) - means[None]) ** 2).sum(-1)
        d[:, self.counts == 0] = np.inf
        return torch.as_tensor(-d)

    @property
    def nbytes(self) -> int:
        return 8 * (self.sums.size + self.counts.size)


def train_mlp(
    model: MLP,
    X: np.ndarray,
    y: np.ndarray,
    seen: int,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
) -> MLP:
    """Adam on the cross-entropy of the logits of classes ``0 .. seen-1`` (the others masked),
    ``epochs`` passes over ``(X, y)`` in random minibatches; in place."""
    g = torch.Generator().manual_seed(seed)
    x, t = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            b = perm[i : i + batch_size]
            loss = F.cross_entropy(model(x[b])[:, :seen], t[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


def statistics_bytes(stats: object, packed: bool = False) -> int:
    """Bytes of a :class:`~glai.solvers.ridge.RidgeStatistics`: every summed tensor, or with
    ``packed`` the least a site must send for the same solve: with per-fold statistics the
    folds alone (the totals are their sums), and of each symmetric Gram ``[.., D, D]`` its upper
    triangle, ``D (D + 1) / 2`` entries."""
    if not packed:
        return int(sum(t.numel() * t.element_size() for t in stats.tensors()))  # type: ignore[attr-defined]
    total = 0
    for g in stats.groups:  # type: ignore[attr-defined]
        folded = g.fold_gram is not None
        gram, *rest = (
            (g.fold_gram, g.fold_cross, g.fold_target_sq) if folded
            else (g.gram, g.cross, g.target_sq)
        )  # fmt: skip
        total += _packed_gram_bytes(gram) + sum(t.numel() * t.element_size() for t in rest)
    extra = (stats.weight_sum, stats.fold_weight)  # type: ignore[attr-defined]
    return int(total + sum(t.numel() * t.element_size() for t in extra))


def _packed_gram_bytes(gram: torch.Tensor) -> int:
    d = gram.shape[-1]
    return int(gram.numel() // (d * d) * d * (d + 1) // 2 * gram.element_size())
