"""Whole runs: the MLP baseline (:func:`fit_mlp`) and GLAI's two phases (:func:`fit_glai`).

The optimiser of each phase is a solver of the registry :data:`glai.solvers.SOLVERS`, chosen by
``TrainConfig.optimizer``; ``"auto"`` is resolved right after the freeze (:mod:`glai.solvers.auto`).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from glai.block import GLAI
from glai.solvers import ITERATIVE_KINDS, Statistics, get_solver, solver_names
from glai.solvers.auto import choose_solver
from glai.structure import StructureMonitor
from glai.training.checkpoint import Checkpoint
from glai.training.closed_form import closed_form_epochs, closed_form_targets
from glai.training.config import AUTO, TrainConfig
from glai.training.device import synchronize
from glai.training.distributed import broadcast_tensor, rank_and_world, sum_over_ranks
from glai.training.history import History
from glai.training.iterative import train_epochs
from glai.training.plans import BatchPlan, MinibatchPlan
from glai.training.problem import Data, Objective
from glai.training.records import resume_from

__all__ = ["fit_mlp", "fit_glai"]

Inputs = tuple[torch.Tensor, ...]


def fit_mlp(
    model: nn.Module,
    data: Data,
    objective: Objective,
    *,
    config: TrainConfig,
    generator: torch.Generator,
    verbose: bool = False,
    checkpoint: Checkpoint | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    plan: BatchPlan | None = None,
    history: History | None = None,
) -> History:
    """Train a plain network (the baseline) on ``data`` (:class:`~glai.training.problem.Data`)
    with early stopping on ``objective``'s score; returns its history.

    With ``checkpoint``, a checkpoint is written after every epoch, and training resumes from
    an existing one (same configuration, or a ValueError). ``optimizer``: step this one (its
    state carries over, as scikit-learn's ``partial_fit`` wants) instead of a new one.
    ``plan``: the batching (:mod:`glai.training.plans`; default i.i.d. minibatches of rows);
    the network trained is ``plan.wrap(model)``. ``history``: fill this (empty) history, e.g.
    a subclass that records more, instead of a new :class:`History`.
    """
    plan = MinibatchPlan() if plan is None else plan
    history = History() if history is None else history
    state = resume_from(checkpoint, history)
    if state is not None and state["phase"] != "mlp":
        raise ValueError(
            f"checkpoint {checkpoint.path if checkpoint else ''} holds a GLAI run (phase "
            f"{state['phase']!r}), not an MLP's"
        )
    with tqdm(total=config.max_epochs, desc="mlp", disable=not verbose, leave=False) as bar:
        train_epochs(
            plan.wrap(model), (data.X,), data.y, (data.X_val,), data.y_val,
            loss_fn=objective.loss_fn, score_fn=objective.score_fn, config=config,
            history=history, phase="mlp", generator=generator, sample_weight=data.sample_weight,
            progress=bar, checkpoint=checkpoint, resume=None if state is None else state["loop"],
            optimizer=optimizer, plan=plan,
        )  # fmt: skip
    return history


def fit_glai(
    model: GLAI,
    data: Data,
    objective: Objective,
    *,
    structural: TrainConfig,
    quantitative: TrainConfig,
    monitor: StructureMonitor,
    generator: torch.Generator,
    statistics: Statistics | None = None,
    verbose: bool = False,
    checkpoint: Checkpoint | None = None,
    plan: BatchPlan | None = None,
    history: History | None = None,
) -> History:
    """GLAI's two phases on frozen inputs ``data`` (:class:`~glai.training.problem.Data`),
    trained on ``objective``'s loss (:class:`~glai.training.problem.Objective`); returns one
    history across both.

    1. Structural: train ``model.structure`` until ``monitor`` calls its patterns stable
       (no early stopping on the score: the structure, not the fit, is wanted here), checking
       once per epoch or every ``monitor.check_every`` optimiser steps.
       ``history.events["structure_steps"]`` holds the optimiser steps it took.
    2. ``model.freeze_structure(probe)``; gates of the training and validation inputs are
       computed once (the inputs are frozen, so the gates never change) and reused every
       epoch. Train the paths with early stopping, keeping the best epoch; or, when
       ``quantitative.optimizer`` is a closed-form solver (``"ridge"``), solve for them
       against one-hot ``y`` for integer labels, else ``y`` itself, accumulating its
       sufficient statistics into ``statistics`` when given (from the solver's
       ``new_statistics``: :class:`glai.solvers.Solver`).

    Under ``torch.distributed``, ``data.X``, ``data.y`` (and ``data.sample_weight``) are this
    rank's shard; the probe is rank 0's ``monitor.probe_x``, sent to every rank, so that
    ``m_t`` and the paths built at the freeze are the same everywhere. With ``checkpoint``, a
    checkpoint is written after every epoch of either phase and an existing one is resumed.

    ``plan`` (:mod:`glai.training.plans`): the batching of both phases, default i.i.d.
    minibatches of rows; :class:`~glai.training.plans.ViewPairPlan` (SSL) and
    :class:`~glai.training.plans.EpisodePlan` (few-shot) train the same two phases on pairs of
    views or on episodes. Each phase trains ``plan.wrap`` of its network (the structure, then
    the path model); gates are ``plan.gates(model, data.X)``. A plan whose loss has no closed form
    (``plan.closed_form`` False) refuses a closed-form ``quantitative.optimizer`` and
    ``"auto"``. ``history``: fill this (empty) history instead of a new :class:`History`.
    """
    if model.phase != "structural":
        raise ValueError("model must be in phase 'structural' to be fitted from scratch")
    plan = MinibatchPlan() if plan is None else plan
    if not plan.closed_form and (
        quantitative.optimizer == AUTO or get_solver(quantitative.optimizer).kind == "closed_form"
    ):
        raise ValueError(
            f"quantitative.optimizer={quantitative.optimizer!r}: the loss of a "
            f"{type(plan).__name__} is not a least-squares or per-row target loss, so the "
            "closed-form solvers (and 'auto', which may choose one) do not apply; choose one "
            f"of {', '.join(solver_names(ITERATIVE_KINDS))}"
        )
    history = History() if history is None else history
    state = resume_from(checkpoint, history)
    if state is not None and state["phase"] not in ("structural", "quantitative"):
        raise ValueError(
            f"checkpoint {checkpoint.path if checkpoint else ''} holds a run of phase "
            f"{state['phase']!r}, not a GLAI's"
        )
    _, world = rank_and_world()
    monitor.probe_x = broadcast_tensor(monitor.probe_x, world)
    total = (monitor.rule.max_epochs or 0) + quantitative.max_epochs
    X, y = data.X, data.y
    with tqdm(total=total, desc="glai", disable=not verbose, leave=False) as bar:

        def train(network: nn.Module, inputs: Inputs, val_inputs: Inputs, **kw: Any) -> int:
            # one phase of the gradient loop; kw: that phase's own arguments
            return train_epochs(
                plan.wrap(network), inputs, y, val_inputs, data.y_val,
                loss_fn=objective.loss_fn, score_fn=objective.score_fn, history=history,
                generator=generator, sample_weight=data.sample_weight, progress=bar,
                checkpoint=checkpoint, plan=plan, **kw,
            )  # fmt: skip

        if state is None or state["phase"] == "structural":
            assert model.structure is not None
            if state is None:
                monitor.update(model.structure)  # reference patterns at initialisation
            struct_config = TrainConfig(**{**asdict(structural), "patience": None})
            # The rule bounds the structural phase; so does max_epochs, which bounds every phase.
            # (With a step interval the rule counts checks and stops the loop itself.)
            if monitor.check_every is None or monitor.rule.max_epochs == 0:
                # (max_epochs=0: no structural training at all, whatever the interval)
                struct_config.max_epochs = min(monitor.rule.max_epochs, structural.max_epochs)
            steps = train(
                model.structure, (X,), (data.X_val,), config=struct_config,
                phase="structural", monitor=monitor, monitored=model.structure, keep_best=False,
                resume=None if state is None else state["loop"],
            )  # fmt: skip
            history.events["structure_steps"] = steps
            t0 = history.elapsed()
            model.freeze_structure(monitor.probe_x)
            if checkpoint is not None:  # later checkpoints carry the structure's m_t history
                checkpoint.extra["monitor"] = monitor.state_dict()
            quant_resume = None
        else:  # resume in the quantitative phase: the paths are rebuilt from the checkpoint
            saved = state["loop"]
            n = len(plan.prefix)  # the keys of plan.wrap(path_model) start with it
            model.load_state_dict({f"path_model.{k[n:]}": v for k, v in saved["model"].items()})
            model.to(X.device)
            monitor.load_state_dict(state["extra"]["monitor"])
            t0 = history.elapsed()
            if checkpoint is not None:
                checkpoint.extra.update(state["extra"])
            quant_resume = saved
        assert model.path_model is not None
        gates, gates_val = plan.gates(model, X), plan.gates(model, data.X_val)
        if quantitative.optimizer == AUTO:
            # every rank decides on the rows of all ranks, so all pick the same solver
            n_rows = int(sum_over_ranks(torch.tensor(float(X.shape[0]), device=X.device), world))
            choice = choose_solver(
                model.path_model, n_rows, classifier=not torch.is_floating_point(y),
                alphas=len(quantitative.alphas), device=X.device,
            )  # fmt: skip
            quantitative = replace(quantitative, optimizer=choice.solver)
            history.choices["quant_optimizer"] = choice.solver
        synchronize(y.device)
        if quant_resume is None:
            history.events["freeze_seconds"] = history.elapsed() - t0
            history.events["structure_frozen_epoch"] = len(history.records)
        bar.total = int(history.events["structure_frozen_epoch"]) + quantitative.max_epochs
        if get_solver(quantitative.optimizer).kind == "closed_form":
            targets = closed_form_targets(y, model.out_features, X.dtype)
            closed_form_epochs(
                model.path_model, (X, gates), targets, y, (data.X_val, gates_val), data.y_val,
                loss_fn=objective.loss_fn, score_fn=objective.score_fn, config=quantitative,
                history=history, sample_weight=data.sample_weight, statistics=statistics,
                progress=bar, checkpoint=checkpoint, resume=quant_resume,
            )  # fmt: skip
            return history
        train(
            model.path_model, (X, gates), (data.X_val, gates_val), config=quantitative,
            phase="quantitative", resume=quant_resume,
        )  # fmt: skip
    return history
