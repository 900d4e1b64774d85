"""Hyper-parameters of one training phase."""

from __future__ import annotations

from dataclasses import dataclass

from glai.params import AUTO, AUTO_BATCH_SIZE, PARAMS
from glai.solvers import get_solver
from glai.solvers.penalty import PENALTY_RULES

_D = {name: p.default for name, p in PARAMS.items()}

__all__ = ["AUTO", "TrainConfig"]


@dataclass
class TrainConfig:
    """Hyper-parameters of one phase.

    Attributes:
        optimizer: a solver of :data:`glai.solvers.SOLVERS`: ``"adam"`` (minibatch), ``"lbfgs"``
            (full batch; one epoch = ``lbfgs_iter`` iterations with a strong-Wolfe line search) or,
            for a path model only, ``"ridge"`` (closed form; one record per value of ``alphas``,
            the best kept), ``"ridge-ce"`` (ridge, then a cross-entropy polish of at most
            ``polish_iter`` iterations) or ``"auto"`` (resolved by :func:`glai.fit_glai` right after
            the freeze by the measured rule of :mod:`glai.solvers.auto`).
        patience: stop after this many epochs without a better validation score (None: never).
        tol: the least gain of that score for an epoch to reset the patience count (scikit-learn's
            ``tol``); the best epoch is still the best score, however small its gain.
        warmup_steps: **(beyond the paper)** linear learning-rate warm-up of minibatch solvers: step
            ``s = 0, 1, ..`` uses ``lr * min(1, (s + 1) / warmup_steps)``; 0 disables it. Adam's
            first steps move every parameter by about ``lr`` whatever its gradient, which at the
            phase switch moves all path weights at once away from the frozen network's function.
        shuffle: draw a new permutation of the training rows every epoch (minibatch solvers); False
            takes them in their order every epoch (scikit-learn's ``shuffle``).
        l2: scikit-learn's ``alpha``: ``l2 / (2 * B) * sum ||W||^2`` over the weight tensors
            (2 or more dimensions: not the biases) added to each step's mean loss, ``B`` the
            minibatch size (the training rows for a full-batch solver). ``weight_decay`` is
            Adam's own decay of every parameter.
        penalty: how a closed-form solver picks among ``alphas``: ``"holdout"`` (one
            candidate per alpha, the best on the validation data kept by the loop), or from
            the sufficient statistics alone, one candidate: ``"kfold"`` (exact k-fold
            cross-validation, the statistics kept per fold) or ``"gcv"``
            (:mod:`glai.solvers.penalty`; ours).
        shrinkage: **(beyond the paper)** ``lambda >= 0`` of a penalty
            ``lambda / 2 * ||w - w_start||^2`` on the trainable parameters ``w`` against their
            values ``w_start`` when the phase starts, added to the mean training loss. For a path
            model ``w_start`` is ``(theta_init, beta_init, beta0_init)``: the frozen network's own
            path weights, so the convex phase is a ridge problem centred on the network it replaces.

    The defaults are those of :data:`glai.params.PARAMS` (``lr`` is ``learning_rate``,
    ``warmup_steps`` and ``shrinkage`` the ``quant_`` ones, ``batch_size`` what ``"auto"``
    gives from 256 rows up), except ``tol``: 0 here, since this loop's early stopping watches
    a validation score, which counts any gain (the estimators pass ``tol`` when nothing is
    held out).
    """

    optimizer: str = _D["optimizer"]
    lr: float = _D["learning_rate"]
    weight_decay: float = _D["weight_decay"]
    batch_size: int = AUTO_BATCH_SIZE
    max_epochs: int = _D["max_epochs"]
    patience: int | None = _D["patience"]
    tol: float = 0.0
    lbfgs_iter: int = _D["lbfgs_iter"]
    alphas: tuple[float, ...] = _D["alphas"]
    warmup_steps: int = _D["quant_warmup_steps"]
    shrinkage: float = _D["quant_shrinkage"]
    polish_iter: int = _D["polish_iter"]
    shuffle: bool = _D["shuffle"]
    l2: float = _D["alpha"]
    penalty: str = "holdout"

    def __post_init__(self) -> None:
        if self.optimizer != AUTO:
            try:
                get_solver(self.optimizer)
            except ValueError as err:
                raise ValueError(f"optimizer: {err} (or {AUTO!r})") from None
        if self.penalty not in PENALTY_RULES:
            raise ValueError(f"penalty must be one of {PENALTY_RULES}, got {self.penalty!r}")
        if self.polish_iter < 0:
            raise ValueError(f"polish_iter must be >= 0, got {self.polish_iter}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if isinstance(self.warmup_steps, bool) or self.warmup_steps < 0:
            raise ValueError(
                f"warmup_steps must be a number of optimiser steps >= 0, got {self.warmup_steps!r}"
            )
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol}")
        if not self.l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {self.l2}")
        if not self.shrinkage >= 0:
            raise ValueError(f"shrinkage must be >= 0, got {self.shrinkage}")
        if self.batch_size < 1 or self.max_epochs < 0:
            raise ValueError(
                f"batch_size must be >= 1 and max_epochs >= 0, "
                f"got {self.batch_size}, {self.max_epochs}"
            )
