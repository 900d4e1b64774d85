"""The closed-form quantitative phase: one record per candidate solution, the best kept."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from glai.path_model import PathModel
from glai.solvers import Candidate, Statistics, get_solver
from glai.training.checkpoint import Checkpoint
from glai.training.config import TrainConfig
from glai.training.device import synchronize
from glai.training.distributed import rank_and_world, sum_over_ranks
from glai.training.epochs import LossFn, ScoreFn
from glai.training.history import History
from glai.training.predict import predict_batched
from glai.training.problem import Objective, Rows
from glai.training.records import loop_state, record_epoch, validate
from glai.training.stopping import EarlyStopping

__all__ = ["closed_form_targets", "closed_form_epochs", "keep_best_candidate"]


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
    statistics: Statistics | None = None,
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
    With ``statistics`` (from the solver's ``new_statistics``) the solver accumulates into it
    (the caller keeps it to add rows later). ``history.events["closed_form_choice"]`` is the
    index of the candidate kept, ``"closed_form_penalty"`` its penalty. A checkpoint
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
    train, val = Rows(tuple(train_inputs), y), Rows(tuple(val_inputs), y_val)
    objective = Objective(loss_fn, score_fn)
    _, best_score = keep_best_candidate(
        model, candidates, train, val, objective, history=history, progress=progress
    )
    if checkpoint is not None:
        stopping = EarlyStopping(None)
        stopping.best_score = best_score
        checkpoint.save(
            "quantitative",
            loop_state(
                int(history.events["closed_form_candidates"]),
                True,
                0,
                model,
                None,
                None,
                stopping,
                None,
                None,
            ),
            history,
        )


_TRAIN_LOSS_ROWS = 8192


def keep_best_candidate(
    model: nn.Module,
    candidates: Iterable[Candidate],
    train: Rows,
    val: Rows,
    objective: Objective,
    *,
    history: History,
    progress: tqdm | None = None,
) -> tuple[int, float]:
    """Load each :class:`~glai.solvers.Candidate` into ``model``, record it as a quantitative
    epoch (clock read as it arrives), and keep the one of the best validation score on ``val``
    (the first of equal ones); returns its index (also in
    ``history.events["closed_form_choice"]``) and score.

    ``history.events["closed_form_penalty"]`` is the penalty of the candidate kept; where it
    was solved at none of its own (``"ridge-ce"``'s first candidate), that of the best-scoring
    candidate that was (absent when none was).

    ``candidates`` may be a generator that takes the scores: each candidate's validation score
    is sent back into it (``score = yield candidate``), so that a solver can continue from its
    best candidate so far. (choice) The training loss of a candidate is read on at most
    ``_TRAIN_LOSS_ROWS`` evenly spaced rows of each rank (a full pass per candidate would cost
    what the closed form saves); under ``torch.distributed`` over every rank's rows.
    """
    _, world = rank_and_world()
    loss_fn, y = objective.loss_fn, train.y
    n = y.shape[0]
    rows = torch.linspace(0, n - 1, min(n, _TRAIN_LOSS_ROWS), device=y.device).long()
    stream = iter(candidates)
    send = getattr(stream, "send", None)
    best_score, best, best_index, index = -float("inf"), None, 0, -1
    penalised_score, penalty = -float("inf"), None  # the best candidate with a penalty
    score: float | None = None
    while True:
        try:
            candidate = next(stream) if score is None or send is None else send(score)
        except StopIteration:
            break
        index += 1
        model.load_state_dict(candidate.parameters(), strict=False)
        _, val_loss, score = validate(model, val.inputs, val.y, loss_fn, objective.score_fn)
        losses = loss_fn(predict_batched(model, [t[rows] for t in train.inputs]), y[rows])
        sums = sum_over_ranks(torch.stack([losses.sum(), losses.new_tensor(len(losses))]), world)
        train_loss = float(sums[0] / sums[1])
        synchronize(y.device)
        record_epoch(history, "quantitative", train_loss, val_loss, score, None)
        if progress is not None:
            progress.update(1)
        if score > best_score:
            best_score, best, best_index = score, candidate, index
        if candidate.penalty is not None and score > penalised_score:
            penalised_score, penalty = score, candidate.penalty
    if best is None:
        raise ValueError("the closed-form solver produced no candidate solution")
    model.load_state_dict(best.parameters(), strict=False)
    history.events["closed_form_choice"] = best_index
    history.events["closed_form_candidates"] = index + 1
    if best.penalty is not None:
        penalty = best.penalty
    if penalty is not None:
        history.events["closed_form_penalty"] = penalty
    return best_index, best_score
