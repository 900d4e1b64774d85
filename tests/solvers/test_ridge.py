"""The closed-form ridge solve of the path model against an explicit least-squares fit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from glai import MLP, freeze
from glai.solvers.ridge import (
    RidgeStatistics,
    accumulate,
    path_features,
    ridge_paths,
    ridge_unknowns,
    solve,
)


def _lstsq_ridge(phi: torch.Tensor, y: torch.Tensor, w: torch.Tensor, alpha: float) -> np.ndarray:
    """argmin sum_i w_i (phi_i . b - y_i)^2 + lam |b|^2, lam = alpha * mean(diag(Phi^T W Phi)),
    as the ordinary least-squares problem [W^1/2 Phi; lam^1/2 I] b = [W^1/2 y; 0] (numpy)."""
    p, yy, ww = phi.numpy(), y.numpy(), w.numpy()
    lam = alpha * (ww[:, None] * p * p).sum(0).mean() + 1e-12
    a = np.vstack([np.sqrt(ww)[:, None] * p, np.sqrt(lam) * np.eye(p.shape[1])])
    b = np.concatenate([np.sqrt(ww) * yy, np.zeros(p.shape[1])])
    return np.linalg.lstsq(a, b, rcond=None)[0]


def test_path_features_layout() -> None:
    # phi = [g_p x (path-major), g_p, g_q, 1]
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    gates = torch.tensor([[True, False, True], [False, True, True]])
    phi = path_features(x, gates, torch.tensor([0, 1]), torch.tensor([2]))
    expected = torch.tensor([[1.0, 2.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0],
                             [0.0, 0.0, 3.0, 4.0, 0.0, 1.0, 1.0, 1.0]])  # fmt: skip
    torch.testing.assert_close(phi, expected)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("n", "hidden"), [(200, (4, 3)), (200, (6,)), (30, (4, 3)), (30, (6,))])
def test_ridge_matches_numpy_lstsq_per_output(
    n: int, hidden: tuple[int, ...], weighted: bool
) -> None:
    # primal (n = 200 > D) and dual (n = 30 < D) forms; depth 3 has partial-bias paths
    mlp = MLP(5, hidden, 3).double()
    x = torch.randn(n, 5, dtype=torch.float64)
    model = freeze(mlp, x, prune_dead=False)
    gates = model.gates(x)
    targets = torch.randn(n, 3, dtype=torch.float64)
    weight = torch.rand(n, dtype=torch.float64) if weighted else torch.ones(n, dtype=torch.float64)
    alphas = [1e-4, 1e-2, 1.0]
    solutions = ridge_paths(
        model, x, gates, targets, alphas, sample_weight=weight if weighted else None
    )
    assert (n < ridge_unknowns(model)) == (n == 30)  # the dual form is exercised
    is_full = torch.arange(model.num_paths) < model.num_full
    for alpha, sol in zip(alphas, solutions):
        for k in range(3):
            cols = (model.output == k).nonzero().flatten()
            full, bias = cols[is_full[cols]], cols[~is_full[cols]]
            phi = path_features(x, gates, full, bias)
            b = torch.from_numpy(_lstsq_ridge(phi, targets[:, k], weight, alpha))
            nf = full.numel()
            torch.testing.assert_close(sol["theta"][full].flatten(), b[: nf * 5])
            torch.testing.assert_close(sol["beta"][full], b[nf * 5 : nf * 6])
            torch.testing.assert_close(sol["beta"][bias], b[nf * 6 : -1])
            torch.testing.assert_close(sol["beta0"][k], b[-1])


def test_solve_reads_the_alphas_of_the_config() -> None:
    # The registry's entry point is ridge_paths over config.alphas, one candidate per alpha.
    from glai.training import TrainConfig

    mlp = MLP(4, 3, 2).double()
    x = torch.randn(60, 4, dtype=torch.float64)
    model = freeze(mlp, x, prune_dead=False)
    gates, targets = model.gates(x), torch.randn(60, 2, dtype=torch.float64)
    config = TrainConfig(optimizer="ridge", alphas=(1e-3, 1.0))
    got = list(solve(model, x, gates, targets, config))
    want = ridge_paths(model, x, gates, targets, [1e-3, 1.0])
    assert len(got) == 2
    for a, b, alpha in zip(got, want, (1e-3, 1.0)):
        assert a.penalty == alpha  # each candidate carries the penalty it was solved at
        for name in ("theta", "beta", "beta0"):
            torch.testing.assert_close(a.parameters()[name], b[name])
    # a stronger penalty shrinks the solution
    assert got[1].theta.norm() < got[0].theta.norm()


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
    clf = GLAIClassifier(64, quant_optimizer="ridge", learning_rate_init=1e-2, random_state=0)
    clf.fit(X[:1200], y[:1200], X_val=X[1200:], y_val=y[1200:])
    quant = [r for r in clf.history_.records if r.phase == "quantitative"]
    assert len(quant) == 4  # TrainConfig's default alphas
    assert clf.best_validation_score_ == max(r.val_score for r in quant)
    assert clf.score(X[1200:], y[1200:]) == pytest.approx(clf.best_validation_score_)
    assert clf.best_validation_score_ > 0.85
    reg = GLAIRegressor(64, quant_optimizer="ridge", learning_rate_init=1e-2, random_state=0)
    assert reg.fit(X[:1200], y[:1200].astype(float)).score(X[1200:], y[1200:]) > 0.5


# -- sufficient statistics -------------------------------------------------------------------


def _frozen(depth: tuple[int, ...] = (4, 3), n0: int = 5, n_out: int = 3, n: int = 300):
    mlp = MLP(n0, depth, n_out).double()
    x = torch.randn(n, n0, dtype=torch.float64)
    model = freeze(mlp, x, prune_dead=False)
    return model, x, model.gates(x)


def test_statistics_of_chunks_equal_those_of_one_pass() -> None:
    # Sums commute: rows added in three uneven calls (and odd chunk sizes) give the one-pass
    # statistics, hence the same solution; merging two halves does too (what ranks do).
    model, x, gates = _frozen()
    targets = torch.randn(300, 3, dtype=torch.float64)
    weight = torch.rand(300, dtype=torch.float64)
    whole = RidgeStatistics(model).add(x, gates, targets, weight)
    parts = RidgeStatistics(model)
    for rows in (slice(0, 7), slice(7, 190), slice(190, 300)):
        parts.add(x[rows], gates[rows], targets[rows], weight[rows], chunk_size=50)
    other = RidgeStatistics(model).add(x[150:], gates[150:], targets[150:], weight[150:])
    merged = RidgeStatistics(model).add(x[:150], gates[:150], targets[:150], weight[:150])
    merged.merge(other)
    for stats in (parts, merged):
        for a, b in zip(stats.tensors(), whole.tensors()):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-10)
        for a, b in zip(stats.solve([1e-3]), whole.solve([1e-3])):
            for name in ("theta", "beta", "beta0"):
                torch.testing.assert_close(a[name], b[name], rtol=1e-9, atol=1e-10)
    assert float(whole.weight_sum) == pytest.approx(float(weight.sum()))


def test_statistics_solve_is_ridge_paths() -> None:
    model, x, gates = _frozen()
    targets = torch.randn(300, 3, dtype=torch.float64)
    got = RidgeStatistics(model).add(x, gates, targets).solve([1e-2])[0]
    want = ridge_paths(model, x, gates, targets, [1e-2])[0]
    for name in ("theta", "beta", "beta0"):
        torch.testing.assert_close(got[name], want[name])


def test_statistics_extend_to_new_outputs_equals_statistics_of_the_joined_model() -> None:
    # Rows seen before the new outputs existed had target 0 for them: extending the old
    # statistics and adding new rows equals accumulating everything on the joined model.
    from glai.path_model import add_outputs

    model, x, gates = _frozen(depth=(4,), n_out=3)
    joined = add_outputs(model, 2)
    labels = torch.randint(0, 5, (300,))
    labels[:150] = labels[:150] % 3  # the first rows only know the old outputs
    onehot = torch.nn.functional.one_hot(labels, 5).double()
    old = RidgeStatistics(model).add(x[:150], gates[:150], onehot[:150, :3])
    jg = joined.gates(x)
    old.extend(joined).add(x[150:], jg[150:], onehot[150:])
    want = RidgeStatistics(joined).add(x, jg, onehot)
    assert len(old.groups) == 1 and old.groups[0].outputs == [0, 1, 2, 3, 4]
    for a, b in zip(old.tensors(), want.tensors()):
        torch.testing.assert_close(a, b)


def test_statistics_refuse_bad_rows_and_foreign_statistics() -> None:
    model, x, gates = _frozen()
    stats = RidgeStatistics(model)
    with pytest.raises(ValueError, match="targets must have shape"):
        stats.add(x, gates, torch.zeros(300, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="gates must have shape"):
        stats.add(x, gates[:, :-1], torch.zeros(300, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="x must have shape"):
        stats.add(x[:, :4], gates, torch.zeros(300, 3, dtype=torch.float64))
    small, _, _ = _frozen(depth=(2,))
    with pytest.raises(ValueError, match="different path sets"):
        stats.merge(RidgeStatistics(small))


@pytest.mark.parametrize("hidden", [(6,), (4, 3)])
def test_statistics_built_pattern_by_pattern_equal_the_explicit_products(
    hidden: tuple[int, ...],
) -> None:
    from glai.solvers.ridge import RidgeStatistics

    x = torch.randn(400, 5, dtype=torch.float64)
    model = freeze(MLP(5, hidden, 3).double(), x, budget=60, prune_dead=False)
    gates, y = model.gates(x), torch.randn(400, 3, dtype=torch.float64)
    w = torch.rand(400, dtype=torch.float64)
    fast = RidgeStatistics(model).add(x, gates, y, w)
    slow = RidgeStatistics(model).add(x, gates, y, w, pattern_by_pattern=False, chunk_size=37)
    for a, b in zip(fast.tensors(), slow.tensors()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    ("optimizer", "config", "rel"),
    [
        ("lbfgs", {"lr": 1.0, "max_epochs": 10, "lbfgs_iter": 50}, 1e-7),
        ("adam", {"lr": 0.05, "max_epochs": 600, "batch_size": 400}, 1e-3),
    ],
)
def test_iterative_solvers_reach_the_closed_form_optimum(
    optimizer: str, config: dict[str, float], rel: float
) -> None:
    # Squared loss on a problem where every solver applies (N = 400 rows, D = 4 x 4 + 1
    # unknowns per output): the training loop's L-BFGS and Adam, run long, end at the
    # least-squares optimum that ridge reaches in one solve (alpha -> 0).
    from glai.training import History, TrainConfig, train_epochs

    torch.manual_seed(3)
    x = torch.randn(400, 3, dtype=torch.float64)
    model = freeze(MLP(3, 4, 2).double(), x, prune_dead=False)
    gates = model.gates(x)
    y = torch.stack([torch.sin(2 * x[:, 0]) + x[:, 1], x[:, 2].abs()], dim=1)

    def sse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((out - target) ** 2).sum(dim=1)  # per row; the loop averages over rows

    (sol,) = ridge_paths(model, x, gates, y, [1e-12])
    optimum = copy.deepcopy(model)
    optimum.load_state_dict(sol, strict=False)
    with torch.no_grad():
        best = float(sse(optimum(x, gates), y).mean())
        start = float(sse(model(x, gates), y).mean())
    assert best < 0.5 * start
    train_epochs(
        model, (x, gates), y, (x, gates), y, loss_fn=sse, score_fn=lambda o, t: -float(
            sse(o, t).mean()), config=TrainConfig(optimizer=optimizer, patience=None, **config),
        history=History(), phase="quantitative", generator=torch.Generator().manual_seed(0),
        keep_best=False,
    )  # fmt: skip
    with torch.no_grad():
        reached = float(sse(model(x, gates), y).mean())
    assert best <= reached * (1 + 1e-9)  # nothing beats the closed form
    assert reached <= best * (1 + rel)
    if optimizer == "lbfgs":  # a strictly convex problem: the same minimiser
        for name, value in sol.items():
            torch.testing.assert_close(getattr(model, name).detach(), value, atol=1e-4, rtol=1e-4)


def test_the_closed_form_of_float32_data_sums_its_statistics_in_float64() -> None:
    # fit_head's closed form used to form a float32 Gram matrix (silently worse under TF32);
    # the estimators' was float64 already.
    model, x, gates = _frozen()
    model, x = model.float(), x.float()
    targets = torch.randn(300, 3)
    stats = accumulate(model, x, gates, targets)
    assert stats.dtype == torch.float64
    summed = accumulate(model, x, gates, targets, reduce=lambda t: t)  # the ranks' path
    assert summed.dtype == torch.float64
    reference = RidgeStatistics(model).add(x, gates, targets)
    for a, b in zip(stats.tensors(), reference.tensors()):
        assert torch.equal(a, b)
