"""glai.solvers.ridge_ce: ridge candidates, then a cross-entropy polish that reaches the optimum."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from glai import MLP, freeze
from glai.solvers import Candidate, ridge_ce
from glai.solvers.gram import flat_parameters, unflatten
from glai.solvers.ridge_ce import path_system
from glai.training import TrainConfig


def _problem(n: int = 300, hidden: tuple[int, ...] = (4,), k: int = 3):
    x = torch.randn(n, 5, dtype=torch.float64)
    y = (x[:, :k] + 0.5 * torch.randn(n, k, dtype=torch.float64)).argmax(1)
    model = freeze(MLP(5, hidden, k).double(), x, prune_dead=False)
    return model, x, model.gates(x), F.one_hot(y, k).double()


def test_cross_entropy_gradient_matches_autograd_on_explicit_parameters() -> None:
    model, x, gates, targets = _problem()
    flat = flat_parameters(model)
    flat = flat + 0.1 * torch.randn(flat.shape, dtype=torch.float64)
    lam = torch.rand_like(flat)
    w = torch.rand(len(x), dtype=torch.float64)
    f, g = ridge_ce.cross_entropy_and_grad(model, x, gates, targets, flat, lam, w)
    v = flat.clone().requires_grad_(True)
    model.load_state_dict(unflatten(model, v), strict=False)  # values only; autograd below
    params = unflatten(model, v)
    out = torch.func.functional_call(model, params, (x, gates))
    ref = (F.cross_entropy(out, targets, reduction="none") * w).sum() + 0.5 * (lam * v * v).sum()
    ref.backward()
    assert f == pytest.approx(float(ref.detach()), rel=1e-10)
    torch.testing.assert_close(g, v.grad)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("hidden", [(4,), (3, 2)])
def test_polish_reaches_the_regularised_cross_entropy_optimum(
    hidden: tuple[int, ...], weighted: bool
) -> None:
    # From the ridge start, the preconditioned L-BFGS converges to the minimiser of
    # sum_i s_i CE_i + lam/2 |w|^2: the gradient vanishes and a long plain L-BFGS run on the
    # same objective finds no lower value.
    model, x, gates, targets = _problem(hidden=hidden)
    w = torch.rand(len(x), dtype=torch.float64) + 0.5 if weighted else None
    system = path_system(model, x, gates, targets, w)
    # alpha = 1: a well-conditioned optimum that 60 iterations reach to round-off
    factors = system.factor(1.0)
    start = system.solve(factors)
    lam = system.penalties(1.0)
    *_, last = ridge_ce.polish(model, x, gates, targets, system, factors, lam, start, 60, w)
    f, g = ridge_ce.cross_entropy_and_grad(model, x, gates, targets, last, lam, w)
    f0, g0 = ridge_ce.cross_entropy_and_grad(model, x, gates, targets, start, lam, w)
    assert g.norm() < 1e-6 * g0.norm()
    v = start.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([v], max_iter=300, tolerance_grad=1e-12, tolerance_change=0,
                            line_search_fn="strong_wolfe")  # fmt: skip

    def closure() -> torch.Tensor:
        opt.zero_grad()
        out = torch.func.functional_call(model, unflatten(model, v), (x, gates))
        loss = F.cross_entropy(out, targets, reduction="none")
        loss = (loss if w is None else loss * w).sum() + 0.5 * (lam * v * v).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert f < f0
    assert f <= float(closure().detach()) + 1e-8 * abs(f)


@pytest.mark.parametrize("init_score", [0.1, 0.95])
def test_solve_scores_init_and_ridge_then_polishes_the_best(init_score: float) -> None:
    model, x, gates, targets = _problem()
    config = TrainConfig(optimizer="ridge-ce", alphas=(1e-3, 1e-1), patience=2, polish_iter=5)
    stream = ridge_ce.solve(model, x, gates, targets, config)
    init = next(stream)  # the frozen network's own paths first
    torch.testing.assert_close(flat_parameters_of(init), flat_parameters(model))
    first = stream.send(init_score)
    second = stream.send(0.9)  # alpha 1e-3 scored 0.9
    polished = stream.send(0.5)  # alpha 1e-1 scored 0.5: the polish builds on alpha 1e-3
    system = path_system(model, x, gates, targets)
    ridge = system.solve(system.factor(1e-3))
    torch.testing.assert_close(flat_parameters_of(first), ridge)
    assert not torch.allclose(flat_parameters_of(second), ridge)
    # ... and starts from the best candidate: the ridge solution, or the init if it scored more,
    # with POLISH_PENALTY_FACTOR times the best ridge penalty
    start = ridge if init_score < 0.9 else flat_parameters(model)
    alpha = 1e-3 * ridge_ce.POLISH_PENALTY_FACTOR
    *_, one_step = ridge_ce.polish(
        model, x, gates, targets, system, system.factor(alpha), system.penalties(alpha), start, 1
    )
    torch.testing.assert_close(flat_parameters_of(polished), one_step)
    # the penalties they report: none for the init, each ridge solution's alpha, and for the
    # polish the best ridge solution's (the alpha a re-solve of the statistics uses)
    assert (init.penalty, first.penalty, second.penalty, polished.penalty) == (
        None, 1e-3, 1e-1, 1e-3
    )  # fmt: skip
    # patience 2: two polish iterates without a better score than 0.9 end the stream
    stream.send(0.8)
    with pytest.raises(StopIteration):
        stream.send(0.8)


def flat_parameters_of(candidate: Candidate) -> torch.Tensor:
    return torch.cat([candidate.theta.flatten(), candidate.beta, candidate.beta0])


def test_zero_sample_weights_are_the_same_as_dropping_the_samples() -> None:
    # the weighted objectives (ridge and cross-entropy) ignore zero-weight samples exactly
    model, x, gates, targets = _problem()
    keep = torch.rand(len(x)) > 0.3
    config = TrainConfig(optimizer="ridge-ce", alphas=(1e-2,), patience=None, polish_iter=4)
    weighted = list(_drive(ridge_ce.solve(model, x, gates, targets, config,
                                          sample_weight=keep.double())))  # fmt: skip
    dropped = list(_drive(ridge_ce.solve(model, x[keep], gates[keep], targets[keep], config)))
    assert len(weighted) == len(dropped) == 6  # init, one ridge, four polish iterates
    for a, b in zip(weighted, dropped):
        torch.testing.assert_close(flat_parameters_of(a), flat_parameters_of(b))


def _drive(stream):  # type: ignore[no-untyped-def]
    """Send increasing scores, so that every candidate is the best so far."""
    candidate = next(stream)
    for score in range(1, 100):
        yield candidate
        try:
            candidate = stream.send(float(score))
        except StopIteration:
            return


def test_ridge_ce_refuses_targets_that_are_not_probabilities() -> None:
    model, x, gates, _ = _problem()
    config = TrainConfig(optimizer="ridge-ce")
    with pytest.raises(ValueError, match="class probabilities"):
        next(ridge_ce.solve(model, x, gates, torch.randn(len(x), 3, dtype=torch.float64), config))
