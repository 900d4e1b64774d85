"""The closed-form ridge solve of the path model against an explicit least-squares fit."""

from __future__ import annotations

import pytest
import torch

from glai import MLP, freeze
from glai.solvers.ridge import path_features, ridge_paths, ridge_unknowns, solve


def _explicit_ridge(
    phi: torch.Tensor, y: torch.Tensor, w: torch.Tensor, alpha: float
) -> torch.Tensor:
    # argmin sum_i w_i (phi_i . b - y_i)^2 + lam |b|^2, lam = alpha * mean(diag(Phi^T W Phi))
    gram = phi.t() @ (phi * w[:, None])
    lam = alpha * gram.diagonal().mean() + 1e-12
    return torch.linalg.solve(
        gram + lam * torch.eye(gram.shape[0], dtype=phi.dtype), phi.t() @ (y * w)
    )


def test_path_features_layout() -> None:
    # phi = [g_p x (path-major), g_p, g_q, 1]
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    gates = torch.tensor([[True, False, True], [False, True, True]])
    phi = path_features(x, gates, torch.tensor([0, 1]), torch.tensor([2]))
    expected = torch.tensor([[1.0, 2.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0],
                             [0.0, 0.0, 3.0, 4.0, 0.0, 1.0, 1.0, 1.0]])  # fmt: skip
    torch.testing.assert_close(phi, expected)


def test_ridge_matches_explicit_solution_per_output() -> None:
    torch.manual_seed(0)
    mlp = MLP(5, (4, 3), 3).double()  # depth 3: full and partial-bias paths
    x = torch.randn(200, 5, dtype=torch.float64)
    model = freeze(mlp, x, prune_dead=False)
    gates = model.gates(x)
    targets = torch.randn(200, 3, dtype=torch.float64)
    weight = torch.rand(200, dtype=torch.float64)
    alphas = [1e-3, 1e-1]
    solutions = ridge_paths(model, x, gates, targets, alphas, sample_weight=weight, chunk_size=37)
    is_full = torch.arange(model.num_paths) < model.num_full
    for alpha, sol in zip(alphas, solutions):
        for k in range(3):
            cols = (model.output == k).nonzero().flatten()
            full, bias = cols[is_full[cols]], cols[~is_full[cols]]
            phi = path_features(x, gates, full, bias)
            b = _explicit_ridge(phi, targets[:, k], weight, alpha)
            nf = full.numel()
            torch.testing.assert_close(sol["theta"][full].flatten(), b[: nf * 5])
            torch.testing.assert_close(sol["beta"][full], b[nf * 5 : nf * 6])
            torch.testing.assert_close(sol["beta"][bias], b[nf * 6 : -1])
            torch.testing.assert_close(sol["beta0"][k], b[-1])
        # and the model with these parameters predicts phi . b
        model.load_state_dict(sol, strict=False)
        assert model(x, gates).shape == (200, 3)


def test_solve_reads_the_alphas_of_the_config() -> None:
    # The registry's entry point is ridge_paths over config.alphas, one candidate per alpha.
    from glai.training import TrainConfig

    mlp = MLP(4, 3, 2).double()
    x = torch.randn(60, 4, dtype=torch.float64)
    model = freeze(mlp, x, prune_dead=False)
    gates, targets = model.gates(x), torch.randn(60, 2, dtype=torch.float64)
    config = TrainConfig(optimizer="ridge", alphas=(1e-3, 1.0))
    got = solve(model, x, gates, targets, config)
    want = ridge_paths(model, x, gates, targets, [1e-3, 1.0])
    assert len(got) == 2
    for a, b in zip(got, want):
        for name in ("theta", "beta", "beta0"):
            torch.testing.assert_close(a[name], b[name])
    # a stronger penalty shrinks the solution
    assert got[1]["theta"].norm() < got[0]["theta"].norm()


def test_ridge_fits_an_exactly_representable_target() -> None:
    # Targets produced by the path model itself are recovered (tiny alpha, enough samples).
    torch.manual_seed(1)
    mlp = MLP(3, 4, 2).double()
    x = torch.randn(500, 3, dtype=torch.float64)
    model = freeze(mlp, x, prune_dead=False)
    gates = model.gates(x)
    with torch.no_grad():
        model.theta.normal_()
        model.beta.normal_()
        target = model(x, gates)
    (sol,) = ridge_paths(model, x, gates, target, [1e-12])
    model.load_state_dict(sol, strict=False)
    torch.testing.assert_close(model(x, gates), target, atol=1e-6, rtol=1e-6)
    assert ridge_unknowns(model) == 4 * (3 + 1) + 1  # 4 paths per output, no bias paths
    deep = freeze(MLP(3, (2, 2), 2).double(), x, prune_dead=False)
    assert ridge_unknowns(deep) == 4 * (3 + 1) + 2 + 1  # 2 x 2 chains, 2 partial-bias paths


def test_estimators_fit_with_the_ridge_quantitative_phase() -> None:
    # The closed-form phase through the public estimators: one record per alpha, best kept.
    from sklearn.datasets import load_digits

    from glai import GLAIClassifier, GLAIRegressor

    X, y = load_digits(return_X_y=True)
    X = X / 16
    clf = GLAIClassifier(64, quant_optimizer="ridge", learning_rate=1e-2, random_state=0)
    clf.fit(X[:1200], y[:1200], X_val=X[1200:], y_val=y[1200:])
    quant = [r for r in clf.history_.records if r.phase == "quantitative"]
    assert len(quant) == 4  # TrainConfig's default alphas
    assert clf.best_val_score_ == max(r.val_score for r in quant)
    assert clf.score(X[1200:], y[1200:]) == pytest.approx(clf.best_val_score_)
    assert clf.best_val_score_ > 0.85
    reg = GLAIRegressor(64, quant_optimizer="ridge", learning_rate=1e-2, random_state=0)
    assert reg.fit(X[:1200], y[:1200].astype(float)).score(X[1200:], y[1200:]) > 0.5
