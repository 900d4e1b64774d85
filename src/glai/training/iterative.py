"""The gradient loop: epochs of a minibatch or full-batch solver, early stopping, ``m_t`` checks.

Every epoch appends a record to a shared :class:`~glai.training.history.History` whose clock
runs across phases: ``seconds`` is the wall-clock time since training began, everything
(validation, ``m_t`` checks, freezing, gate caching) included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn
from tqdm.auto import tqdm

from glai.mlp import MLP
from glai.structure import StructureMonitor
from glai.training.checkpoint import Checkpoint
from glai.training.config import TrainConfig
from glai.training.device import synchronize
from glai.training.distributed import broadcast_floats, data_parallel, rank_and_world, shard_offset
from glai.training.epochs import (
    LossFn,
    ScoreFn,
    full_batch_epoch,
    iterative_solver,
    l2_penalty,
    minibatch_epoch,
    shrinkage_penalty,
    sum_penalties,
)
from glai.training.history import History
from glai.training.plans import BatchPlan, MinibatchPlan
from glai.training.problem import Objective, Rows
from glai.training.records import loop_state, record_epoch, snapshot
from glai.training.stopping import EarlyStopping

__all__ = ["train_epochs"]


def train_epochs(
    model: nn.Module,
    train_inputs: Sequence[torch.Tensor],
    y: torch.Tensor,
    val_inputs: Sequence[torch.Tensor],
    y_val: torch.Tensor,
    *,
    loss_fn: LossFn,
    score_fn: ScoreFn,
    config: TrainConfig,
    history: History,
    phase: str,
    generator: torch.Generator,
    sample_weight: torch.Tensor | None = None,
    monitor: StructureMonitor | None = None,
    monitored: MLP | None = None,
    keep_best: bool = True,
    progress: tqdm | None = None,
    checkpoint: Checkpoint | None = None,
    resume: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    plan: BatchPlan | None = None,
) -> int:
    """Train ``model(*train_inputs)`` against ``y``, one record per epoch into ``history``.

    The optimiser is the minibatch or full-batch solver ``config.optimizer`` (a closed-form
    solver is refused: see :func:`closed_form_epochs`). Stops at ``config.max_epochs``, after
    ``config.patience`` epochs without a better validation score, or when ``monitor`` reports a
    stable structure of ``monitored``: the :class:`~glai.mlp.MLP` inside ``model`` when
    ``model`` wraps it (as :mod:`glai.ssl` does), by default ``model`` itself. With
    ``keep_best`` the parameters of the best validation epoch are restored at the end.

    Under ``torch.distributed`` the training inputs are this rank's shard (contiguous, in rank
    order; :mod:`glai.training.distributed`), the validation inputs are whole on every rank,
    and every decision is taken on rank 0's validation score and ``m_t``, then broadcast.

    ``monitor.check_every`` (minibatch solvers): check ``m_t`` after every that many optimiser
    steps instead of once per epoch; a stable verdict ends the epoch at that step, and that
    epoch's record (loss over the minibatches taken, validation then) is the last. Full-batch
    solvers take one step per epoch and check once per epoch. ``config.warmup_steps`` and
    ``config.shrinkage`` shape the steps of this phase (see :class:`TrainConfig`).

    With ``checkpoint``, the loop's state is saved at the end of every epoch; ``resume`` (the
    ``"loop"`` entry of a loaded checkpoint of this phase) continues from it. ``optimizer``:
    step this optimiser of ``model``'s trainable parameters instead of a new one of
    ``config.optimizer``, so that its state (Adam's moments) carries over from an earlier call
    (scikit-learn's ``partial_fit``). ``config.shuffle`` and ``config.l2`` (scikit-learn's
    ``alpha``) apply as :class:`TrainConfig` says.

    ``plan`` (:mod:`glai.training.plans`; default :class:`~glai.training.plans.MinibatchPlan`,
    i.i.d. minibatches of rows): what each epoch's batches are, what the model and the loss
    see of them, and how the validation data are scored (e.g. view pairs, episodes).

    Returns the number of optimiser steps of this phase (one per full-batch epoch).
    """
    solver = iterative_solver(config)
    plan = MinibatchPlan() if plan is None else plan
    if sample_weight is not None and not plan.weighted:
        raise ValueError(
            f"sample_weight does not apply to a {type(plan).__name__} (its batches are not "
            "weighted rows); pass sample_weight=None"
        )
    watched = model if monitored is None else monitored
    if monitor is not None and not isinstance(watched, MLP):
        raise TypeError(
            f"a structure monitor watches a glai.MLP, got {type(watched).__name__}: pass the "
            "MLP inside the model as monitored"
        )
    device = y.device
    _, world = rank_and_world()
    lo, n_global = shard_offset(y.shape[0], world)
    rows = Rows(tuple(train_inputs), y, sample_weight, lo, n_global, world)
    val_rows, objective = Rows(tuple(val_inputs), y_val), Objective(loss_fn, score_fn)
    if resume is not None:
        model.load_state_dict(resume["model"])
    # DDP before the optimiser (it broadcasts rank 0's parameters); full-batch solvers reduce
    # their gradients themselves.
    net = data_parallel(model, device, world) if solver.kind == "minibatch" else model
    assert solver.make_optimizer is not None
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer is None:
        optimizer = solver.make_optimizer(params, config)
    batch = min(config.batch_size, n_global) if solver.kind == "minibatch" else n_global
    penalty = sum_penalties(
        shrinkage_penalty(params, config.shrinkage), l2_penalty(params, config.l2, batch)
    )
    n_warm = config.warmup_steps if solver.kind == "minibatch" else 0
    warmup = None
    if n_warm:
        warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / n_warm))
    steps, stable = 0, False
    # a step interval applies to minibatch solvers; full-batch ones step once per epoch
    every = None if monitor is None or solver.kind != "minibatch" else monitor.check_every

    def check() -> bool:
        """Measure m_t now; under several ranks rank 0's value decides."""
        assert monitor is not None
        is_stable = monitor.update(cast(MLP, watched), step=steps)
        if world > 1:
            (m0,) = broadcast_floats([monitor.history[-1]] if monitor.history else [0.0], world)
            if monitor.history:
                monitor.history[-1] = m0
                is_stable = monitor.rule.is_stable(monitor.history)
        return is_stable

    def after_step() -> bool:
        # counts steps, warms the learning rate up, checks m_t every `every` steps
        nonlocal steps, stable
        steps += 1
        if warmup is not None and steps <= n_warm:
            warmup.step()
        if every is not None and steps % every == 0:
            stable = check()
        return stable

    if solver.kind == "minibatch":
        run_epoch = minibatch_epoch(
            net, optimizer, rows, loss_fn, config.batch_size, generator, after_step, penalty,
            config.shuffle, plan,
        )  # fmt: skip
    else:
        run_epoch = full_batch_epoch(
            model, optimizer, params, rows, loss_fn, penalty, plan, generator
        )
    stopping = EarlyStopping(config.patience, config.tol)
    best_state: dict[str, torch.Tensor] | None = None
    start, finished = 0, False
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        generator.set_state(resume["generator"])
        stopping.best_score, stopping.since_best = resume["best_score"], resume["since_best"]
        best_state = resume["best_state"]
        if monitor is not None and resume["monitor"] is not None:
            monitor.load_state_dict(resume["monitor"])
        start, finished = resume["epochs"], resume["finished"]
        steps = resume.get("steps", 0)
        if warmup is not None:
            warmup.last_epoch = min(steps, n_warm)
    for epoch in range(start, 0 if finished else config.max_epochs):
        model.train()
        train_loss = run_epoch()
        if solver.kind != "minibatch":
            steps += 1
        val_loss, val_score = plan.validate(model, val_rows, objective)
        if monitor is not None and every is None:
            stable = check()
        m_t = monitor.history[-1] if monitor is not None and monitor.history else None
        if world > 1:  # rank 0's numbers decide, so that every rank stops at the same epoch
            val_loss, val_score = broadcast_floats([val_loss, val_score], world)
        synchronize(device)
        record_epoch(history, phase, train_loss, val_loss, val_score, progress, m_t)
        if stopping.improved(val_score) and keep_best:
            best_state = snapshot(model)
        finished = stable or stopping.exhausted
        if checkpoint is not None:
            done = finished or epoch + 1 == config.max_epochs
            checkpoint.save(
                phase,
                loop_state(
                    epoch + 1,
                    done,
                    steps,
                    model,
                    optimizer,
                    generator,
                    stopping,
                    best_state,
                    monitor,
                ),  # fmt: skip
                history,
            )
        if finished:
            break
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    return steps
