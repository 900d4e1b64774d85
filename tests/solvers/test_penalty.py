"""glai.solvers.penalty: GCV and exact k-fold CV from statistics, against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glai.solvers.penalty import GroupStatistics, cv_scores, gcv_scores, row_folds

ALPHAS = (1e-4, 1e-2, 1.0)


def _problem(n: int = 60, d: int = 8, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    phi = torch.randn(n, d, dtype=torch.float64)
    y = phi @ torch.randn(d, k, dtype=torch.float64) + torch.randn(n, k, dtype=torch.float64)
    return phi, y


def _stats(phi: torch.Tensor, y: torch.Tensor) -> GroupStatistics:
    return GroupStatistics(phi.t() @ phi, phi.t() @ y, (y * y).sum(0), float(len(phi)))


def _ridge(phi: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    gram = phi.T @ phi
    lam = alpha * np.diag(gram).mean() + 1e-12
    return np.linalg.solve(gram + lam * np.eye(len(gram)), phi.T @ y)


def test_gcv_equals_its_definition_with_the_hat_matrix() -> None:
    # GCV = n ||(I - H) y||^2 / (n - tr H)^2, H = Phi (Phi^T Phi + lam I)^-1 Phi^T, per output
    phi, y = _problem()
    got = gcv_scores([_stats(phi, y)], ALPHAS)
    p, yy, n = phi.numpy(), y.numpy(), len(phi)
    for i, alpha in enumerate(ALPHAS):
        lam = alpha * np.diag(p.T @ p).mean() + 1e-12
        hat = p @ np.linalg.solve(p.T @ p + lam * np.eye(p.shape[1]), p.T)
        want = n * ((yy - hat @ yy) ** 2).sum() / (n - np.trace(hat)) ** 2
        assert float(got[i]) == pytest.approx(want, rel=1e-9)


def test_kfold_cv_from_fold_statistics_equals_refitting_on_each_fold() -> None:
    phi, y = _problem()
    fold = np.arange(len(phi)) % 4
    got = cv_scores([[_stats(phi[fold == f], y[fold == f])] for f in range(4)], ALPHAS)
    p, yy = phi.numpy(), y.numpy()
    for i, alpha in enumerate(ALPHAS):
        sse = 0.0
        for f in range(4):
            w = _ridge(p[fold != f], yy[fold != f], alpha)
            sse += ((p[fold == f] @ w - yy[fold == f]) ** 2).sum()
        assert float(got[i]) == pytest.approx(sse / len(p), rel=1e-9)


def test_cv_needs_two_folds() -> None:
    phi, y = _problem()
    with pytest.raises(ValueError, match="at least 2 folds"):
        cv_scores([[_stats(phi, y)]], ALPHAS)


def test_row_folds_depend_on_the_row_only() -> None:
    x = np.random.default_rng(0).standard_normal((500, 7)).astype(np.float32)
    folds = row_folds(x, 5)
    perm = np.random.default_rng(1).permutation(500)
    np.testing.assert_array_equal(row_folds(x[perm], 5), folds[perm])  # any order
    np.testing.assert_array_equal(row_folds(torch.as_tensor(x[:37]), 5), folds[:37])  # any chunk
    np.testing.assert_array_equal(row_folds(x.astype(np.float64), 5)[:0], folds[:0])
    counts = np.bincount(folds, minlength=5)
    assert folds.min() >= 0 and folds.max() <= 4 and counts.min() > 60  # about 100 each
    y = x.copy()
    y[0, 3] = np.nextafter(y[0, 3], np.float32(np.inf))  # one bit differs: another hash
    assert row_folds(y, 1 << 20)[0] != row_folds(x, 1 << 20)[0]
