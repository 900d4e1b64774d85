"""What a run fits: its data (:class:`Data`, :class:`Rows`) and its objective (:class:`Objective`).

One record each, passed whole, so that every run (:func:`~glai.training.fit_mlp`,
:func:`~glai.training.fit_glai`, :func:`~glai.training.fit_quantities`,
:func:`~glai.training.fit_new_outputs`) and every batch plan (:mod:`glai.training.plans`)
reads the same fields under the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["LossFn", "ScoreFn", "Objective", "Data", "Rows"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (output, target) -> per-sample loss
ScoreFn = Callable[[torch.Tensor, torch.Tensor], float]  # (output, target) -> higher is better


@dataclass(frozen=True)
class Objective:
    """What a phase minimises and what it selects on.

    Attributes:
        loss_fn: ``(out, target) -> [N]``, the per-sample loss (the loop weights and averages
            it).
        score_fn: ``(out, target) -> float``, the validation score, higher is better (early
            stopping and the best epoch or candidate kept).
    """

    loss_fn: LossFn
    score_fn: ScoreFn


@dataclass(frozen=True)
class Data:
    """The data of one run.

    Attributes:
        X: training inputs ``[N, n_0]``; under ``torch.distributed`` this rank's contiguous
            shard of the rows, in rank order (:mod:`glai.training.distributed`).
        y: training targets ``[N]`` (integer labels) or ``[N, k]`` (a closed-form solver
            fits one-hot labels, or float targets as they are); for a plan without labels,
            any tensor of ``N`` rows.
        X_val: validation inputs ``[M, n_0]``, whole on every rank.
        y_val: validation targets ``[M]`` or ``[M, k]``.
        sample_weight: weights ``[N]`` of the training rows; None: equal weights.
    """

    X: torch.Tensor
    y: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    sample_weight: torch.Tensor | None = None


@dataclass(frozen=True)
class Rows:
    """Rows that one phase of the loop trains or validates on.

    Attributes:
        inputs: the model's inputs, each ``[n, ...]`` (``x [n, n_0]``; a path model's gates
            ``[n, P]``; a plan's own layout, e.g. views ``[n, V, n_0]``).
        y: targets ``[n]`` or ``[n, k]``.
        sample_weight: ``[n]`` or None.
        lo: under ``torch.distributed``, the global index of this rank's first row: these are
            global rows ``[lo, lo + n)``.
        n_global: the rows of all ranks together (default: ``n``, one process).
        world: the number of ranks.
    """

    inputs: tuple[torch.Tensor, ...]
    y: torch.Tensor
    sample_weight: torch.Tensor | None = None
    lo: int = 0
    n_global: int = field(default=-1)
    world: int = 1

    def __post_init__(self) -> None:
        if self.n_global < 0:
            object.__setattr__(self, "n_global", self.y.shape[0])

    @property
    def device(self) -> torch.device:
        return self.y.device
