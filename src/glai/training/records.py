"""Bookkeeping shared by every epoch of every phase: validation, records, snapshots, resuming."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from glai.structure import StructureMonitor
from glai.training.checkpoint import Checkpoint, restore_history, restore_rng
from glai.training.epochs import LossFn, ScoreFn
from glai.training.history import EpochRecord, History
from glai.training.predict import predict_batched
from glai.training.stopping import EarlyStopping

__all__ = ["validate", "record_epoch", "snapshot", "loop_state", "resume_from"]


def validate(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    y: torch.Tensor,
    loss_fn: LossFn,
    score_fn: ScoreFn,
) -> tuple[torch.Tensor, float, float]:
    """``(outputs, mean loss, score)`` of ``model`` on validation data."""
    out = predict_batched(model, inputs)
    return out, float(loss_fn(out, y).mean()), score_fn(out, y)


def record_epoch(
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


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def loop_state(
    epochs: int,
    finished: bool,
    steps: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    generator: torch.Generator | None,
    stopping: EarlyStopping,
    best_state: dict[str, torch.Tensor] | None,
    monitor: StructureMonitor | None,
) -> dict[str, Any]:
    """What a checkpoint needs to continue this phase's loop after ``epochs`` epochs."""
    return {
        "epochs": epochs,
        "finished": finished,
        "steps": steps,
        "model": snapshot(model),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "generator": None if generator is None else generator.get_state(),
        "best_score": stopping.best_score,
        "since_best": stopping.since_best,
        "best_state": best_state,
        "monitor": None if monitor is None else monitor.state_dict(),
    }


def resume_from(checkpoint: Checkpoint | None, history: History) -> dict[str, Any] | None:
    """The saved state of ``checkpoint`` (None: none yet), its history and RNG restored."""
    state = None if checkpoint is None else checkpoint.load()
    if state is not None:
        restore_history(history, state["history"])
        restore_rng(state["rng"])
    return state
