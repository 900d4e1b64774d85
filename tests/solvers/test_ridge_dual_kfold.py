"""The dual (kernel) k-fold penalty rule of ridge.solve against the primal statistics' rule."""

from __future__ import annotations

import pytest
import torch

from glai import MLP, freeze
from glai.solvers.penalty import PENALTY_FOLDS, row_folds
from glai.solvers.ridge import (
    DualProblem,
    accumulate,
    new_statistics,
    ridge_unknowns,
    solve,
)
from glai.training import TrainConfig

ALPHAS = (1e-6, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0)


def _problem(seed: int, n: int, hidden: tuple[int, ...], classify: bool, weighted: bool):
    torch.manual_seed(seed)
    mlp = MLP(6, hidden, 3).double()
    x = torch.randn(n, 6, dtype=torch.float64)
    model = freeze(mlp, torch.randn(200, 6, dtype=torch.float64), prune_dead=False)
    if classify:
        targets = torch.nn.functional.one_hot(torch.randint(0, 3, (n,)), 3).double()
    else:
        targets = x[:, :3] ** 2 - x[:, 3:] + 0.5 * torch.randn(n, 3, dtype=torch.float64)
    weight = torch.rand(n, dtype=torch.float64) + 0.1 if weighted else None
    assert n < ridge_unknowns(model)  # the dual form applies
    return model, x, model.gates(x), targets, weight


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("classify", [False, True])
@pytest.mark.parametrize(("seed", "n", "hidden"), [(0, 40, (8,)), (1, 25, (4, 3)), (2, 12, (6,)),
                                                   (3, 3, (5,)), (4, 1, (5,))])  # fmt: skip
def test_dual_kfold_scores_alpha_and_solution_equal_the_primal_rule(
    seed: int, n: int, hidden: tuple[int, ...], classify: bool, weighted: bool
) -> None:
    model, x, gates, targets, weight = _problem(seed, n, hidden, classify, weighted)
    if n <= 3:  # few rows: some folds hold no row (and with one row, a training fold is empty)
        assert len(set(row_folds(x, PENALTY_FOLDS).tolist())) < PENALTY_FOLDS
    stats = accumulate(model, x, gates, targets, weight, new_statistics(model, "kfold"))
    primal_scores = stats.penalty_scores(ALPHAS, "kfold")
    dual_scores = DualProblem.of(model, x, gates, targets, weight).cv_scores(ALPHAS)
    torch.testing.assert_close(dual_scores, primal_scores, rtol=1e-7, atol=1e-12)

    config = TrainConfig(optimizer="ridge", alphas=ALPHAS, penalty="kfold")
    (dual,) = solve(model, x, gates, targets, config, sample_weight=weight)
    primal_stats = new_statistics(model, "kfold")  # statistics given: the primal form
    (primal,) = solve(model, x, gates, targets, config, sample_weight=weight,
                      statistics=primal_stats)  # fmt: skip
    assert dual.penalty == primal.penalty == primal_stats.chosen_alpha
    for name in ("theta", "beta", "beta0"):
        torch.testing.assert_close(dual.parameters()[name], primal.parameters()[name],
                                   rtol=1e-6, atol=1e-9)  # fmt: skip


def test_dual_kfold_refuses_no_alpha() -> None:
    model, x, gates, targets, _ = _problem(0, 10, (5,), True, False)
    config = TrainConfig(optimizer="ridge", alphas=(1.0,), penalty="kfold")
    config.alphas = ()
    with pytest.raises(ValueError, match="at least one penalty"):
        list(solve(model, x, gates, targets, config))
