"""The types every solver shares: its kind, the configuration it reads, the registered entry.

The solver modules import these from here (never from the package ``__init__``, which imports
them); :data:`glai.solvers.SOLVERS` is the registry built from them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

__all__ = [
    "ITERATIVE_KINDS",
    "KINDS",
    "ClosedFormSolve",
    "OptimizerFactory",
    "Solver",
    "SolverConfig",
    "SolverKind",
]

SolverKind = Literal["minibatch", "full_batch", "closed_form"]
KINDS: tuple[SolverKind, ...] = ("minibatch", "full_batch", "closed_form")
ITERATIVE_KINDS: tuple[SolverKind, ...] = ("minibatch", "full_batch")  # those train_epochs runs


class SolverConfig(Protocol):
    """The fields of :class:`glai.training.TrainConfig` that solvers read."""

    lr: float
    weight_decay: float
    lbfgs_iter: int
    alphas: tuple[float, ...]
    patience: int | None
    polish_iter: int
    penalty: str  # "holdout", or a rule that picks the alpha from the statistics


OptimizerFactory = Callable[[Sequence[torch.nn.Parameter], SolverConfig], torch.optim.Optimizer]
# (model, x [N, n_0], gates [N, P + Q], targets [N, n_L], config, sample_weight=None)
#   -> candidate {"theta", "beta", "beta0"} dicts, best chosen on validation by the loop
ClosedFormSolve = Callable[..., Generator[dict[str, torch.Tensor], float, None]]


@dataclass(frozen=True)
class Solver:
    """A registered solver: its ``name``, ``kind``, a one-line ``description``, and either
    ``make_optimizer`` (kinds ``"minibatch"``, ``"full_batch"``) or ``solve``
    (``"closed_form"``)."""

    name: str
    kind: SolverKind
    description: str
    make_optimizer: OptimizerFactory | None = None
    solve: ClosedFormSolve | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"solver kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        closed = self.kind == "closed_form"
        if closed != (self.solve is not None) or closed == (self.make_optimizer is not None):
            needs = "solve" if closed else "make_optimizer"
            raise ValueError(f"a {self.kind!r} solver needs {needs} and only that")
