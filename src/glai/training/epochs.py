"""One epoch per solver kind: minibatch steps over a permutation, or one full-batch step.

Data stay on the device as whole tensors; a minibatch is an index into them (a permutation
per epoch), so the only per-batch Python work is the optimiser step. Under
``torch.distributed`` minibatch training is data parallel (:mod:`glai.training.distributed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import nn

from glai.solvers import ITERATIVE_KINDS, Solver, get_solver, solver_names
from glai.training.config import TrainConfig
from glai.training.distributed import all_reduce_grads, sum_over_ranks
from glai.training.plans import BatchPlan, MinibatchPlan
from glai.training.problem import LossFn, Rows, ScoreFn

__all__ = [
    "LossFn",
    "ScoreFn",
    "EpochFn",
    "StepHook",
    "Penalty",
    "minibatch_epoch",
    "full_batch_epoch",
    "iterative_solver",
    "shrinkage_penalty",
    "l2_penalty",
    "sum_penalties",
]


EpochFn = Callable[[], float]  # one pass over the training data -> mean training loss
StepHook = Callable[[], bool]  # after each optimiser step; True ends the epoch there
Penalty = Callable[[], torch.Tensor]  # a scalar added to every training loss


def minibatch_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rows: Rows,
    loss_fn: LossFn,
    batch_size: int,
    generator: torch.Generator,
    after_step: StepHook | None = None,
    penalty: Penalty | None = None,
    shuffle: bool = True,
    plan: BatchPlan | None = None,
) -> EpochFn:
    """An epoch of minibatch steps over the batches of ``plan`` (default: a
    :class:`~glai.training.plans.MinibatchPlan`, a fresh permutation of the ``rows.n_global``
    rows cut into minibatches of ``batch_size``; with ``shuffle=False``, the rows in their
    order).

    Each step minimises the weighted mean loss of one global minibatch,
    ``loss_fn(model(*inputs_b), target_b)`` with ``(inputs_b, target_b)`` what the plan makes
    of the batch; under several ranks ``model`` is the DDP wrapper, this rank holds rows
    ``[rows.lo, rows.lo + n)`` and its loss is its share of that mean
    (:mod:`glai.training.distributed`). No host synchronisation per step.

    ``penalty()`` is added to every step's loss (DDP averages it over the ranks: counted
    once; the reported training loss leaves it out). ``after_step`` runs after every
    optimiser step; when it returns True the epoch ends there, its loss the weighted mean over
    the minibatches it took.
    """
    plan = MinibatchPlan() if plan is None else plan
    sample_weight, world = rows.sample_weight, rows.world

    def epoch() -> float:
        ep = plan.epoch(rows, generator, batch_size, shuffle)
        total = torch.zeros((), device=rows.device)
        seen = ep.total
        for b, idx in enumerate(ep.batches):
            batch_inputs, target = plan.batch(rows, idx, generator, ep.sizes[b])
            losses = loss_fn(model(*batch_inputs), target)
            if sample_weight is not None:
                losses = losses * sample_weight[idx]
            summed = losses.sum()
            optimizer.zero_grad(set_to_none=True)
            step_loss = summed * ep.scale[b]
            (step_loss if penalty is None else step_loss + penalty()).backward()
            optimizer.step()
            total += summed.detach()
            if after_step is not None and after_step():
                # the weight of the minibatches taken: world / scale per minibatch
                scale = ep.scale[: b + 1]
                seen = torch.where(scale > 0, world / scale.clamp_min(1e-30), 0.0).sum()
                break
        return float(sum_over_ranks(total, world) / seen)

    return epoch


def full_batch_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    params: Sequence[torch.Tensor],
    rows: Rows,
    loss_fn: LossFn,
    penalty: Penalty | None = None,
    plan: BatchPlan | None = None,
    generator: torch.Generator | None = None,
) -> EpochFn:
    """An epoch of one optimiser step whose closure evaluates the whole training set: the
    global weighted mean, its gradient summed over the ranks' shards, plus ``penalty()``
    (added once over the ranks). What the loss sees is ``plan.full_batch`` of the data, made
    once per epoch (from ``generator``), so that every evaluation of a line search sees the
    same loss."""
    plan = MinibatchPlan() if plan is None else plan
    total = plan.full_batch_total(rows)
    sample_weight, world = rows.sample_weight, rows.world

    def epoch() -> float:
        gen = torch.Generator() if generator is None else generator  # (a plan that draws)
        data, target = plan.full_batch(rows, gen)

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            losses = loss_fn(model(*data), target)
            if sample_weight is not None:
                losses = losses * sample_weight
            loss = losses.sum() / total
            if penalty is not None:
                loss = loss + penalty() / world  # the ranks' gradients are summed
            loss.backward()
            all_reduce_grads(params, world)
            return sum_over_ranks(loss.detach().clone(), world)

        step_loss = cast(torch.Tensor, optimizer.step(closure))  # type: ignore[arg-type]
        return float(step_loss.detach())

    return epoch


def iterative_solver(config: TrainConfig) -> Solver:
    """The minibatch or full-batch solver ``config.optimizer`` (never silently another)."""
    solver = get_solver(config.optimizer)
    if solver.kind == "closed_form":
        raise ValueError(
            f"optimizer {solver.name!r} is a closed-form solver: it fits a path model's "
            "quantitative phase (fit_glai, closed_form_epochs), not a gradient loop; choose one "
            f"of {', '.join(solver_names(ITERATIVE_KINDS))}"
        )
    return solver


def shrinkage_penalty(params: Sequence[torch.nn.Parameter], strength: float) -> Penalty | None:
    """``strength / 2 * sum ||w - w_start||^2`` over ``params`` against their values now
    (TrainConfig.shrinkage, beyond the paper); None when ``strength`` is 0."""
    if not strength:
        return None
    start = [p.detach().clone() for p in params]

    def penalty() -> torch.Tensor:
        squares = torch.stack([(p - p0).pow(2).sum() for p, p0 in zip(params, start)])
        return 0.5 * strength * squares.sum()

    return penalty


def l2_penalty(
    params: Sequence[torch.nn.Parameter], alpha: float, batch_size: int
) -> Penalty | None:
    """scikit-learn's L2 term (``MLPClassifier``'s ``alpha``, TrainConfig.l2):
    ``alpha / (2 * batch_size) * sum ||W||^2`` over the weight tensors of ``params`` (2 or more
    dimensions: a network's weight matrices, a path model's ``theta``; biases are not
    penalised), added to each minibatch's mean loss. None when ``alpha`` is 0."""
    weights = [p for p in params if p.ndim >= 2]
    if not alpha or not weights:
        return None
    scale = 0.5 * alpha / batch_size

    def penalty() -> torch.Tensor:
        return scale * torch.stack([w.pow(2).sum() for w in weights]).sum()

    return penalty


def sum_penalties(*penalties: Penalty | None) -> Penalty | None:
    """One penalty adding those given (None: none given)."""
    kept = [p for p in penalties if p is not None]
    if len(kept) <= 1:
        return kept[0] if kept else None

    def penalty() -> torch.Tensor:
        return torch.stack([p() for p in kept]).sum()

    return penalty
