"""The types every solver shares: its kind, the configuration it reads, what a closed-form
solver yields and keeps, the registered entry.

The solver modules import these from here (never from the package ``__init__``, which imports
them); :data:`glai.solvers.SOLVERS` is the registry built from them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import torch

if TYPE_CHECKING:
    from typing_extensions import Self

    from glai.path_model import PathModel

__all__ = [
    "ITERATIVE_KINDS",
    "KINDS",
    "Candidate",
    "ClosedFormSolve",
    "NewStatistics",
    "OptimizerFactory",
    "Refit",
    "Solver",
    "SolverConfig",
    "SolverKind",
    "Statistics",
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


@dataclass(frozen=True)
class Candidate:
    """One candidate solution of a closed-form solver: the trainable parameters of a
    :class:`~glai.path_model.PathModel` and the ridge penalty it stands for.

    ``theta [P, n_0]``, ``beta [P + Q]``, ``beta0 [n_L]`` (``P`` full paths, ``Q`` bias
    paths), in the model's shapes. ``penalty``: the ``alpha`` (scale-free, one of
    ``config.alphas`` or the one a rule chose) that the solution was solved at, and that a
    re-solve of the kept statistics uses again (``alpha_`` of the estimators); a candidate
    derived from a penalised solve (e.g. a polish iterate of ``"ridge-ce"``) carries that
    solve's. ``None``: solved at no penalty of its own (e.g. ``"ridge-ce"``'s first candidate,
    the frozen network's own paths); the loop then reports the penalty of the best candidate
    that has one (:func:`glai.training.closed_form.keep_best_candidate`).
    """

    theta: torch.Tensor
    beta: torch.Tensor
    beta0: torch.Tensor
    penalty: float | None = None

    @classmethod
    def of(
        cls,
        parameters: Mapping[str, torch.Tensor],
        penalty: float | None = None,
        dtype: torch.dtype | None = None,
    ) -> Candidate:
        """A candidate from a ``{"theta", "beta", "beta0"}`` mapping (cast to ``dtype``)."""
        theta, beta, beta0 = (parameters[k] for k in ("theta", "beta", "beta0"))
        if dtype is not None:
            theta, beta, beta0 = theta.to(dtype), beta.to(dtype), beta0.to(dtype)
        return cls(theta, beta, beta0, None if penalty is None else float(penalty))

    def parameters(self) -> dict[str, torch.Tensor]:
        """``{"theta", "beta", "beta0"}``, for ``PathModel.load_state_dict(..., strict=False)``."""
        return {"theta": self.theta, "beta": self.beta, "beta0": self.beta0}


class Statistics(Protocol):
    """Sufficient statistics that a closed-form solver keeps for retraining (sums over rows,
    e.g. :class:`~glai.solvers.ridge.RidgeStatistics`): rows add, statistics of the same
    frozen structure merge and subtract, and follow new outputs. ``structure``: a digest of
    the frozen structure they belong to (statistics of other structures do not merge);
    ``dims``: the unknowns of each linear problem they hold."""

    structure: str

    @property
    def dims(self) -> list[int]: ...

    def add(
        self,
        x: torch.Tensor,
        gates: torch.Tensor,
        targets: torch.Tensor,
        sample_weight: torch.Tensor | None = None,
    ) -> Self: ...

    def merge(self, other: Self) -> Self: ...

    def subtract(self, other: Self) -> Self: ...

    def empty_like(self) -> Self: ...

    def extend(self, model: PathModel) -> Self: ...

    def tensors(self) -> list[torch.Tensor]: ...


OptimizerFactory = Callable[[Sequence[torch.nn.Parameter], SolverConfig], torch.optim.Optimizer]
# (model, x [N, n_0], gates [N, P + Q], targets [N, n_L], config, *, sample_weight=None,
#  statistics=None, reduce=None) -> Candidates, the best chosen on validation by the loop
ClosedFormSolve = Callable[..., Generator[Candidate, float, None]]
# (model or None, penalty rule) -> empty statistics that solve(..., statistics=) fills
NewStatistics = Callable[["PathModel | None", str], Statistics]
# (kept statistics, alphas, penalty rule, outputs or None) -> one Candidate per alpha
# ("holdout"; only the given outputs' entries filled) or one at the alpha the rule chooses.
# (Its first argument is the solver's own statistics type, hence "...".)
Refit = Callable[..., list[Candidate]]


@dataclass(frozen=True)
class Solver:
    """A registered solver: its ``name``, ``kind``, a one-line ``description``, and either
    ``make_optimizer`` (kinds ``"minibatch"``, ``"full_batch"``) or ``solve``
    (``"closed_form"``).

    A closed-form solver that keeps sufficient statistics (so that a fitted head can take
    more rows, forget rows and add outputs without its old rows) also gives
    ``new_statistics(model, penalty) -> Statistics`` (empty statistics, bound to ``model``
    when given, that ``solve(..., statistics=)`` fills) and ``refit(statistics, alphas,
    penalty, outputs) -> [Candidate]`` (the solutions from the statistics alone). Without
    them, the heads it fits refuse ``partial_fit``, ``forget`` and new classes with a
    message naming the solver.
    """

    name: str
    kind: SolverKind
    description: str
    make_optimizer: OptimizerFactory | None = None
    solve: ClosedFormSolve | None = None
    new_statistics: NewStatistics | None = None
    refit: Refit | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"solver kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        closed = self.kind == "closed_form"
        if closed != (self.solve is not None) or closed == (self.make_optimizer is not None):
            needs = "solve" if closed else "make_optimizer"
            raise ValueError(f"a {self.kind!r} solver needs {needs} and only that")
        if (self.new_statistics is None) != (self.refit is None) or (
            not closed and self.new_statistics is not None
        ):
            raise ValueError(
                "new_statistics and refit come together, and only with a closed-form solver"
            )
