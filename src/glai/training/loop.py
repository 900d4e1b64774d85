"""One training loop for GLAI and the MLP it replaces, so that comparisons are fair.

Data stay on the device as whole tensors; a minibatch is an index into them (a permutation
per epoch), so the only per-batch Python work is the optimiser step. Under
``torch.distributed`` minibatch training is data parallel (:mod:`glai.training.distributed`).
Every epoch appends a record to a shared :class:`~glai.training.history.History` whose clock
runs across phases: ``seconds`` is the wall-clock time since training began, everything
(validation, ``m_t`` checks, freezing, gate caching) included. The optimiser of each phase is
a solver of the registry :data:`glai.solvers.SOLVERS`, chosen by ``TrainConfig.optimizer``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, replace
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from glai.block import GLAI
from glai.mlp import MLP
from glai.path_model import PathModel
from glai.solvers import ITERATIVE_KINDS, Solver, get_solver, solver_names
from glai.solvers.auto import choose_solver
from glai.solvers.ridge import RidgeStatistics
from glai.structure import StructureMonitor
from glai.training.checkpoint import Checkpoint, restore_history, restore_rng
from glai.training.config import AUTO, TrainConfig
from glai.training.device import synchronize
from glai.training.distributed import (
    all_reduce_grads,
    broadcast_floats,
    broadcast_tensor,
    data_parallel,
    plan_epoch,
    rank_and_world,
    shard_offset,
    sum_over_ranks,
)
from glai.training.history import EpochRecord, History

__all__ = [
    "LossFn",
    "ScoreFn",
    "train_epochs",
    "closed_form_epochs",
    "closed_form_targets",
    "keep_best_candidate",
    "fit_mlp",
    "fit_glai",
    "predict_batched",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (output, target) -> per-sample loss
ScoreFn = Callable[[torch.Tensor, torch.Tensor], float]  # (output, target) -> higher is better
EpochFn = Callable[[], float]  # one pass over the training data -> mean training loss
StepHook = Callable[[], bool]  # after each optimiser step; True ends the epoch there
Penalty = Callable[[], torch.Tensor]  # a scalar added to every training loss


@torch.no_grad()
def predict_batched(
    model: nn.Module, inputs: Sequence[torch.Tensor], batch_size: int = 8192
) -> torch.Tensor:
    """``model(*inputs)`` in eval mode, in chunks of ``batch_size`` rows."""
    was_training = model.training
    model.eval()
    n = inputs[0].shape[0]
    outs = [model(*(t[i : i + batch_size] for t in inputs)) for i in range(0, n, batch_size)]
    model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


# -- one epoch, per solver kind ----------------------------------------------------------------


def _minibatch_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: Sequence[torch.Tensor],
    y: torch.Tensor,
    sample_weight: torch.Tensor | None,
    loss_fn: LossFn,
    batch_size: int,
    generator: torch.Generator,
    lo: int,
    n_global: int,
    world: int,
    after_step: StepHook | None = None,
    penalty: Penalty | None = None,
) -> EpochFn:
    """An epoch of minibatch steps over a fresh permutation of the ``n_global`` rows.

    Each step minimises the weighted mean loss of one global minibatch; under several ranks
    ``model`` is the DDP wrapper, this rank holds rows ``[lo, lo + len(y))`` and its loss is its
    share of that mean (:mod:`glai.training.distributed`). No host synchronisation per step.

    ``penalty()`` is added to every step's loss (DDP averages it over the ranks: counted
    once; the reported training loss leaves it out). ``after_step`` runs after every
    optimiser step; when it returns True the epoch ends there, its loss the weighted mean over
    the minibatches it took.
    """
    n_local, device = y.shape[0], y.device

    def epoch() -> float:
        order = torch.randperm(n_global, generator=generator).to(device)
        plan = plan_epoch(order, lo, n_local, batch_size, sample_weight, world)
        total = torch.zeros((), device=device)
        seen = plan.total
        for b, idx in enumerate(plan.batches):
            losses = loss_fn(model(*(t[idx] for t in inputs)), y[idx])
            if sample_weight is not None:
                losses = losses * sample_weight[idx]
            summed = losses.sum()
            optimizer.zero_grad(set_to_none=True)
            step_loss = summed * plan.scale[b]
            (step_loss if penalty is None else step_loss + penalty()).backward()
            optimizer.step()
            total += summed.detach()
            if after_step is not None and after_step():
                # the weight of the minibatches taken: world / scale per minibatch
                scale = plan.scale[: b + 1]
                seen = torch.where(scale > 0, world / scale.clamp_min(1e-30), 0.0).sum()
                break
        return float(sum_over_ranks(total, world) / seen)

    return epoch


def _full_batch_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    params: Sequence[torch.Tensor],
    inputs: Sequence[torch.Tensor],
    y: torch.Tensor,
    sample_weight: torch.Tensor | None,
    loss_fn: LossFn,
    n_global: int,
    world: int,
    penalty: Penalty | None = None,
) -> EpochFn:
    """An epoch of one optimiser step whose closure evaluates the whole training set: the
    global weighted mean, its gradient summed over the ranks' shards, plus ``penalty()``
    (added once over the ranks)."""
    if sample_weight is None:
        total = torch.tensor(float(n_global), device=y.device)
    else:
        total = sum_over_ranks(sample_weight.sum(), world)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        losses = loss_fn(model(*inputs), y)
        if sample_weight is not None:
            losses = losses * sample_weight
        loss = losses.sum() / total
        if penalty is not None:
            loss = loss + penalty() / world  # the ranks' gradients are summed
        loss.backward()
        all_reduce_grads(params, world)
        return sum_over_ranks(loss.detach().clone(), world)

    def epoch() -> float:
        step_loss = cast(torch.Tensor, optimizer.step(closure))  # type: ignore[arg-type]
        return float(step_loss.detach())

    return epoch


def _iterative_solver(config: TrainConfig) -> Solver:
    """The minibatch or full-batch solver ``config.optimizer`` (never silently another)."""
    solver = get_solver(config.optimizer)
    if solver.kind == "closed_form":
        raise ValueError(
            f"optimizer {solver.name!r} is a closed-form solver: it fits a path model's "
            "quantitative phase (fit_glai, closed_form_epochs), not a gradient loop; choose one "
            f"of {', '.join(solver_names(ITERATIVE_KINDS))}"
        )
    return solver


# -- bookkeeping shared by every epoch -------------------------------------------------------


class _EarlyStopping:
    """Tracks the best validation score; ``exhausted`` after ``patience`` epochs without a gain
    of more than ``tol`` over the best score (never when ``patience`` is None)."""

    def __init__(self, patience: int | None, tol: float = 0.0) -> None:
        self.patience = patience
        self.tol = tol
        self.best_score = -float("inf")
        self.since_best = 0

    def improved(self, score: float) -> bool:
        """Whether ``score`` is the best so far; counts the epoch toward ``patience`` unless
        it beats the best by more than ``tol``."""
        self.since_best = 0 if score > self.best_score + self.tol else self.since_best + 1
        if score > self.best_score:
            self.best_score = score
            return True
        return False

    @property
    def exhausted(self) -> bool:
        return self.patience is not None and self.since_best >= self.patience


def _validate(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    y: torch.Tensor,
    loss_fn: LossFn,
    score_fn: ScoreFn,
) -> tuple[torch.Tensor, float, float]:
    """``(outputs, mean loss, score)`` of ``model`` on validation data."""
    out = predict_batched(model, inputs)
    return out, float(loss_fn(out, y).mean()), score_fn(out, y)


def _record(
    history: History,
    phase: str,
    train_loss: float,
    val_loss: float,
    val_score: float,
    progress: tqdm | None,
    path_distance: float | None = None,
) -> None:
    """Append this epoch to ``history`` (clock read now) and advance the progress bar."""
    history.records.append(
        EpochRecord(
            epoch=len(history.records) + 1,
            phase=phase,
            train_loss=train_loss,
            val_loss=val_loss,
            val_score=val_score,
            seconds=history.elapsed(),
            path_distance=path_distance,
        )
    )
    if progress is not None:
        progress.update(1)
        progress.set_postfix(phase=phase[:5], loss=f"{train_loss:.4f}", val=f"{val_score:.4f}")


def _shrinkage_penalty(params: Sequence[torch.nn.Parameter], strength: float) -> Penalty | None:
    """``strength / 2 * sum ||w - w_start||^2`` over ``params`` against their values now
    (TrainConfig.shrinkage, beyond the paper); None when ``strength`` is 0."""
    if not strength:
        return None
    start = [p.detach().clone() for p in params]

    def penalty() -> torch.Tensor:
        squares = torch.stack([(p - p0).pow(2).sum() for p, p0 in zip(params, start)])
        return 0.5 * strength * squares.sum()

    return penalty


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _loop_state(
    epochs: int,
    finished: bool,
    steps: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    generator: torch.Generator | None,
    stopping: _EarlyStopping,
    best_state: dict[str, torch.Tensor] | None,
    monitor: StructureMonitor | None,
) -> dict[str, Any]:
    """What a checkpoint needs to continue this phase's loop after ``epochs`` epochs."""
    return {
        "epochs": epochs,
        "finished": finished,
        "steps": steps,
        "model": _snapshot(model),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "generator": None if generator is None else generator.get_state(),
        "best_score": stopping.best_score,
        "since_best": stopping.since_best,
        "best_state": best_state,
        "monitor": None if monitor is None else monitor.state_dict(),
    }


# -- the loops ---------------------------------------------------------------------------------


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
    ``"loop"`` entry of a loaded checkpoint of this phase) continues from it.

    Returns the number of optimiser steps of this phase (one per full-batch epoch).
    """
    solver = _iterative_solver(config)
    watched = model if monitored is None else monitored
    if monitor is not None and not isinstance(watched, MLP):
        raise TypeError(
            f"a structure monitor watches a glai.MLP, got {type(watched).__name__}: pass the "
            "MLP inside the model as monitored"
        )
    device = y.device
    _, world = rank_and_world()
    lo, n_global = shard_offset(y.shape[0], world)
    if resume is not None:
        model.load_state_dict(resume["model"])
    # DDP before the optimiser (it broadcasts rank 0's parameters); full-batch solvers reduce
    # their gradients themselves.
    net = data_parallel(model, device, world) if solver.kind == "minibatch" else model
    assert solver.make_optimizer is not None
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = solver.make_optimizer(params, config)
    penalty = _shrinkage_penalty(params, config.shrinkage)
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
        run_epoch = _minibatch_epoch(
            net, optimizer, train_inputs, y, sample_weight, loss_fn, config.batch_size,
            generator, lo, n_global, world, after_step, penalty,
        )  # fmt: skip
    else:
        run_epoch = _full_batch_epoch(
            model, optimizer, params, train_inputs, y, sample_weight, loss_fn, n_global, world,
            penalty,
        )  # fmt: skip
    stopping = _EarlyStopping(config.patience, config.tol)
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
        _, val_loss, val_score = _validate(model, val_inputs, y_val, loss_fn, score_fn)
        if monitor is not None and every is None:
            stable = check()
        m_t = monitor.history[-1] if monitor is not None and monitor.history else None
        if world > 1:  # rank 0's numbers decide, so that every rank stops at the same epoch
            val_loss, val_score = broadcast_floats([val_loss, val_score], world)
        synchronize(device)
        _record(history, phase, train_loss, val_loss, val_score, progress, m_t)
        if stopping.improved(val_score) and keep_best:
            best_state = _snapshot(model)
        finished = stable or stopping.exhausted
        if checkpoint is not None:
            done = finished or epoch + 1 == config.max_epochs
            checkpoint.save(
                phase,
                _loop_state(
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


def closed_form_targets(y: torch.Tensor, n_out: int, dtype: torch.dtype) -> torch.Tensor:
    """What a closed-form solver fits for ``y``: one-hot ``[N, n_out]`` integer labels in
    ``dtype``, or floating targets as they are."""
    return y if torch.is_floating_point(y) else F.one_hot(y, n_out).to(dtype)


def closed_form_epochs(
    model: PathModel,
    train_inputs: tuple[torch.Tensor, torch.Tensor],
    targets: torch.Tensor,
    y: torch.Tensor,
    val_inputs: tuple[torch.Tensor, torch.Tensor],
    y_val: torch.Tensor,
    *,
    loss_fn: LossFn,
    score_fn: ScoreFn,
    config: TrainConfig,
    history: History,
    sample_weight: torch.Tensor | None = None,
    statistics: RidgeStatistics | None = None,
    progress: tqdm | None = None,
    checkpoint: Checkpoint | None = None,
    resume: dict[str, Any] | None = None,
) -> None:
    """Closed-form quantitative phase: one record per candidate solution, the best kept.

    ``config.optimizer`` names a closed-form solver (e.g. ``"ridge"``: one candidate per value
    of ``config.alphas``). ``train_inputs`` and ``val_inputs`` are ``(x, gates)``;
    ``targets [N, n_L]`` are what the solver fits (one-hot labels for a classifier). Under
    ``torch.distributed`` the training rows are this rank's shard and the solver sums its
    statistics over the ranks (``reduce``), so every rank gets the single-process solution.
    With ``statistics`` the solver accumulates into it (the caller keeps it to add rows later).
    ``history.events["closed_form_choice"]`` is the index of the candidate kept. A checkpoint
    is written once, after the solve; ``resume`` from it only reloads the result.
    """
    solver = get_solver(config.optimizer)
    if solver.solve is None:
        raise ValueError(
            f"optimizer {solver.name!r} is a {solver.kind} solver, not a closed-form one: "
            "train it with train_epochs"
        )
    if resume is not None and resume["finished"]:
        model.load_state_dict(resume["model"])
        return
    _, world = rank_and_world()
    extra: dict[str, Any] = {} if statistics is None else {"statistics": statistics}
    if world > 1:
        extra["reduce"] = lambda t: sum_over_ranks(t, world)
    candidates = solver.solve(
        model, *train_inputs, targets, config, sample_weight=sample_weight, **extra
    )
    _, best_score = keep_best_candidate(
        model, candidates, train_inputs, y, val_inputs, y_val, loss_fn=loss_fn,
        score_fn=score_fn, history=history, progress=progress,
    )  # fmt: skip
    if checkpoint is not None:
        stopping = _EarlyStopping(None)
        stopping.best_score = best_score
        checkpoint.save(
            "quantitative",
            _loop_state(
                int(history.events["closed_form_candidates"]), True, 0, model, None, None,
                stopping, None, None,
            ),
            history,
        )


def _resume_from(checkpoint: Checkpoint | None, history: History) -> dict[str, Any] | None:
    """The saved state of ``checkpoint`` (None: none yet), its history and RNG restored."""
    state = None if checkpoint is None else checkpoint.load()
    if state is not None:
        restore_history(history, state["history"])
        restore_rng(state["rng"])
    return state


_TRAIN_LOSS_ROWS = 8192


def keep_best_candidate(
    model: nn.Module,
    candidates: Iterable[dict[str, torch.Tensor]],
    train_inputs: Sequence[torch.Tensor],
    y: torch.Tensor,
    val_inputs: Sequence[torch.Tensor],
    y_val: torch.Tensor,
    *,
    loss_fn: LossFn,
    score_fn: ScoreFn,
    history: History,
    progress: tqdm | None = None,
) -> tuple[int, float]:
    """Load each candidate parameter dict into ``model``, record it as a quantitative epoch
    (clock read as it arrives), and keep the one of the best validation score; returns its
    index (also in ``history.events["closed_form_choice"]``) and score.

    ``candidates`` may be a generator that takes the scores: each candidate's validation score
    is sent back into it (``score = yield candidate``), so that a solver can continue from its
    best candidate so far. (choice) The training loss of a candidate is read on at most
    ``_TRAIN_LOSS_ROWS`` evenly spaced rows of each rank (a full pass per candidate would cost
    what the closed form saves); under ``torch.distributed`` over every rank's rows.
    """
    _, world = rank_and_world()
    n = y.shape[0]
    rows = torch.linspace(0, n - 1, min(n, _TRAIN_LOSS_ROWS), device=y.device).long()
    stream = iter(candidates)
    send = getattr(stream, "send", None)
    best_score, best, best_index, index = -float("inf"), None, 0, -1
    score: float | None = None
    while True:
        try:
            candidate = next(stream) if score is None or send is None else send(score)
        except StopIteration:
            break
        index += 1
        model.load_state_dict(candidate, strict=False)
        _, val_loss, score = _validate(model, val_inputs, y_val, loss_fn, score_fn)
        losses = loss_fn(predict_batched(model, [t[rows] for t in train_inputs]), y[rows])
        sums = sum_over_ranks(torch.stack([losses.sum(), losses.new_tensor(len(losses))]), world)
        train_loss = float(sums[0] / sums[1])
        synchronize(y.device)
        _record(history, "quantitative", train_loss, val_loss, score, None)
        if progress is not None:
            progress.update(1)
        if score > best_score:
            best_score, best, best_index = score, candidate, index
    if best is None:
        raise ValueError("the closed-form solver produced no candidate solution")
    model.load_state_dict(best, strict=False)
    history.events["closed_form_choice"] = best_index
    history.events["closed_form_candidates"] = index + 1
    return best_index, best_score


def fit_mlp(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    X_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    loss_fn: LossFn,
    score_fn: ScoreFn,
    config: TrainConfig,
    generator: torch.Generator,
    sample_weight: torch.Tensor | None = None,
    verbose: bool = False,
    checkpoint: Checkpoint | None = None,
) -> History:
    """Train a plain network (the baseline) with early stopping; returns its history.

    With ``checkpoint``, a checkpoint is written after every epoch, and training resumes from
    an existing one (same configuration, or a ValueError).
    """
    history = History()
    state = _resume_from(checkpoint, history)
    if state is not None and state["phase"] != "mlp":
        raise ValueError(
            f"checkpoint {checkpoint.path if checkpoint else ''} holds a GLAI run (phase "
            f"{state['phase']!r}), not an MLP's"
        )
    with tqdm(total=config.max_epochs, desc="mlp", disable=not verbose, leave=False) as bar:
        train_epochs(
            model, (X,), y, (X_val,), y_val, loss_fn=loss_fn, score_fn=score_fn,
            config=config, history=history, phase="mlp", generator=generator,
            sample_weight=sample_weight, progress=bar, checkpoint=checkpoint,
            resume=None if state is None else state["loop"],
        )  # fmt: skip
    return history


def fit_glai(
    model: GLAI,
    X: torch.Tensor,
    y: torch.Tensor,
    X_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    loss_fn: LossFn,
    score_fn: ScoreFn,
    structural: TrainConfig,
    quantitative: TrainConfig,
    monitor: StructureMonitor,
    generator: torch.Generator,
    sample_weight: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    statistics: RidgeStatistics | None = None,
    verbose: bool = False,
    checkpoint: Checkpoint | None = None,
) -> History:
    """GLAI's two phases on frozen inputs; returns one history across both.

    1. Structural: train ``model.structure`` until ``monitor`` calls its patterns stable
       (no early stopping on the score: the structure, not the fit, is wanted here), checking
       once per epoch or every ``monitor.check_every`` optimiser steps.
       ``history.events["structure_steps"]`` holds the optimiser steps it took.
    2. ``model.freeze_structure(probe)``; gates of the training and validation inputs are
       computed once (the inputs are frozen, so the gates never change) and reused every
       epoch. Train the paths with early stopping, keeping the best epoch; or, when
       ``quantitative.optimizer`` is a closed-form solver (``"ridge"``), solve for them
       against ``targets`` (default: one-hot ``y`` for integer labels, else ``y``),
       accumulating its sufficient statistics into ``statistics`` when given.

    Under ``torch.distributed``, ``X``, ``y`` (and ``sample_weight``, ``targets``) are this
    rank's shard; the probe is rank 0's ``monitor.probe_x``, sent to every rank, so that
    ``m_t`` and the paths built at the freeze are the same everywhere. With ``checkpoint``, a
    checkpoint is written after every epoch of either phase and an existing one is resumed.
    """
    if model.phase != "structural":
        raise ValueError("model must be in phase 'structural' to be fitted from scratch")
    history = History()
    state = _resume_from(checkpoint, history)
    if state is not None and state["phase"] not in ("structural", "quantitative"):
        raise ValueError(
            f"checkpoint {checkpoint.path if checkpoint else ''} holds a run of phase "
            f"{state['phase']!r}, not a GLAI's"
        )
    _, world = rank_and_world()
    monitor.probe_x = broadcast_tensor(monitor.probe_x, world)
    total = (monitor.rule.max_epochs or 0) + quantitative.max_epochs
    with tqdm(total=total, desc="glai", disable=not verbose, leave=False) as bar:
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
            steps = train_epochs(
                model.structure, (X,), y, (X_val,), y_val, loss_fn=loss_fn, score_fn=score_fn,
                config=struct_config, history=history, phase="structural",
                generator=generator, sample_weight=sample_weight, monitor=monitor,
                keep_best=False, progress=bar, checkpoint=checkpoint,
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
            model.load_state_dict({f"path_model.{k}": v for k, v in saved["model"].items()})
            model.to(X.device)
            monitor.load_state_dict(state["extra"]["monitor"])
            t0 = history.elapsed()
            if checkpoint is not None:
                checkpoint.extra.update(state["extra"])
            quant_resume = saved
        assert model.path_model is not None
        gates, gates_val = model.gates(X), model.gates(X_val)
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
            if targets is None:
                targets = closed_form_targets(y, model.out_features, X.dtype)
            closed_form_epochs(
                model.path_model, (X, gates), targets, y, (X_val, gates_val), y_val,
                loss_fn=loss_fn, score_fn=score_fn, config=quantitative, history=history,
                sample_weight=sample_weight, statistics=statistics, progress=bar,
                checkpoint=checkpoint, resume=quant_resume,
            )  # fmt: skip
            return history
        train_epochs(
            model.path_model, (X, gates), y, (X_val, gates_val), y_val, loss_fn=loss_fn,
            score_fn=score_fn, config=quantitative, history=history, phase="quantitative",
            generator=generator, sample_weight=sample_weight, progress=bar,
            checkpoint=checkpoint, resume=quant_resume,
        )  # fmt: skip
    return history
