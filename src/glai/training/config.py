"""Hyper-parameters of one training phase."""

from __future__ import annotations

from dataclasses import dataclass

from glai.solvers import get_solver

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Hyper-parameters of one phase.

    optimizer: a solver of :data:`glai.solvers.SOLVERS`: ``"adam"`` (minibatch), ``"lbfgs"``
        (full batch; one epoch = ``lbfgs_iter`` iterations with a strong-Wolfe line search) or,
        for a path model only, ``"ridge"`` (closed form; one record per value of ``alphas``,
        the best kept).
    patience: stop after this many epochs without a better validation score (None: never).

    These defaults are also the estimators' defaults (:mod:`glai.estimators` reads them).
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    max_epochs: int = 200
    patience: int | None = 10
    lbfgs_iter: int = 20
    alphas: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)

    def __post_init__(self) -> None:
        try:
            get_solver(self.optimizer)
        except ValueError as err:
            raise ValueError(f"optimizer: {err}") from None
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1 or self.max_epochs < 0:
            raise ValueError(
                f"batch_size must be >= 1 and max_epochs >= 0, "
                f"got {self.batch_size}, {self.max_epochs}"
            )
