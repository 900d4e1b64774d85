"""Per-epoch records of training, on one wall clock across phases."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

__all__ = ["EpochRecord", "History", "HistoryEvents"]


class HistoryEvents(TypedDict, total=False):
    """What a run records besides its epochs (:attr:`History.events`); each key only when it
    happened. A plain dict at run time, saved as one in checkpoints (same keys as before)."""

    structure_steps: int  # optimiser steps of the structural phase
    freeze_seconds: float  # the freeze: paths built, gates computed
    structure_frozen_epoch: int  # epochs before the quantitative phase (0: no structural phase)
    gates_seconds: float  # computing the gates of a retraining run
    closed_form_choice: int  # index of the candidate kept by a closed-form solver
    closed_form_candidates: int  # candidates it yielded
    closed_form_penalty: float  # the penalty the kept candidate reports (the estimators' alpha_)
    classes_added: list[Any]  # labels added by add_classes
    forgotten_rows: int  # rows removed by forget
    merged: int  # heads summed by glai.merge
    structure_shared: bool  # a glai.share_structure copy


@dataclass
class EpochRecord:
    epoch: int  # counted across phases, from 1
    phase: str  # "mlp", "structural" or "quantitative"
    train_loss: float
    val_loss: float
    val_score: float
    seconds: float  # wall-clock since training began
    path_distance: float | None = None  # m_t (structural phase only)


@dataclass
class History:
    """Per-epoch records sharing one wall clock (``seconds`` is cumulative)."""

    records: list[EpochRecord] = field(default_factory=list)
    start: float = field(default_factory=time.perf_counter)
    events: HistoryEvents = field(default_factory=lambda: HistoryEvents())
    choices: dict[str, str] = field(default_factory=dict)  # e.g. what "auto" resolved to

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def _select(self, phase: str | None) -> list[EpochRecord]:
        return [r for r in self.records if phase is None or r.phase == phase]

    def best(self, phase: str | None = None) -> EpochRecord | None:
        """The first epoch with the highest validation score (of ``phase``, if given)."""
        records = self._select(phase)
        if not records:
            return None
        return max(records, key=lambda r: (r.val_score, -r.epoch))

    def time_to_reach(self, score: float, phase: str | None = None) -> float | None:
        """Seconds until the validation score (of ``phase``) first reached ``score``.

        None: never. ``seconds`` count from the start of training whatever ``phase`` is.
        """
        record = self.first_reaching(score, phase)
        return None if record is None else record.seconds

    def epochs_to_reach(self, score: float, phase: str | None = None) -> int | None:
        """Epochs (counted across phases) until the score (of ``phase``) reached ``score``."""
        record = self.first_reaching(score, phase)
        return None if record is None else record.epoch

    def first_reaching(self, score: float, phase: str | None = None) -> EpochRecord | None:
        """The first epoch (of ``phase``) whose validation score is at least ``score``."""
        return next((r for r in self._select(phase) if r.val_score >= score), None)

    @property
    def final_phase(self) -> str | None:
        """The phase of the last epoch: the phase of the model that training returns."""
        return self.records[-1].phase if self.records else None

    def to_dicts(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.records]
