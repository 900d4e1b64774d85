"""Fitting a GLAI head: structural phase, freeze, quantitative phase (the solver's choice)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import is_classifier
from torch import nn

from glai import params
from glai.block import GLAI
from glai.estimators.base import _H, _Fit, _Head
from glai.path_model import PathModel
from glai.solvers import Solver, Statistics, get_solver
from glai.solvers.auto import closed_form_for, resolve_penalty, without_holdout
from glai.structure import StopRule, StructureMonitor
from glai.training import Data, History, Objective, TrainConfig, fit_glai
from glai.training.config import AUTO

__all__ = ["GLAI_PARAMS", "GLAI_DEFAULTS"]

# GLAI's own arguments, in signature order (after hidden_layer_sizes, before the heads' others).
GLAI_PARAMS = (
    "rho", "budget", "structure_rule", "structure_check_every", "probe_size", "quant_optimizer",
    "quant_penalty", "quant_learning_rate", "quant_warmup_steps", "quant_shrinkage",
    "prune_dead",
)  # fmt: skip
GLAI_DEFAULTS: dict[str, Any] = params.defaults(*GLAI_PARAMS)
_G = GLAI_DEFAULTS


class _GLAIMixin(_Head):
    """GLAI head: structural phase, freeze, quantitative phase."""

    # A warm start keeps the frozen structure and the solver that ran: these may not change
    # between fit and a warm start / partial_fit (refused, see _Head._check_describes_model).
    _model_params = ("hidden_layer_sizes", "rho", "budget", "prune_dead", "quant_optimizer")

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = _H["hidden_layer_sizes"],
        *,
        rho: float | str = _G["rho"],
        budget: int | str | None = _G["budget"],
        structure_rule: str | StopRule = _G["structure_rule"],
        structure_check_every: int | str | None = _G["structure_check_every"],
        probe_size: int = _G["probe_size"],
        quant_optimizer: str = _G["quant_optimizer"],
        quant_penalty: str = _G["quant_penalty"],
        quant_learning_rate: float | None = _G["quant_learning_rate"],
        quant_warmup_steps: int = _G["quant_warmup_steps"],
        quant_shrinkage: float = _G["quant_shrinkage"],
        prune_dead: bool = _G["prune_dead"],
        optimizer: str = _H["optimizer"],
        alpha: float = _H["alpha"],
        batch_size: int | str = _H["batch_size"],
        learning_rate: str = _H["learning_rate"],
        learning_rate_init: float = _H["learning_rate_init"],
        max_iter: int = _H["max_iter"],
        shuffle: bool = _H["shuffle"],
        tol: float = _H["tol"],
        early_stopping: bool | str = _H["early_stopping"],
        validation_fraction: float | str = _H["validation_fraction"],
        n_iter_no_change: int | float = _H["n_iter_no_change"],
        device: str | torch.device = _H["device"],
        random_state: int | np.random.RandomState | None = _H["random_state"],
        verbose: bool | int = _H["verbose"],
        warm_start: bool = _H["warm_start"],
        weight_decay: float | str = _H["weight_decay"],
        max_epochs: int | str = _H["max_epochs"],
        patience: int | str | None = _H["patience"],
    ) -> None:
        super().__init__(
            hidden_layer_sizes, optimizer=optimizer, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            max_iter=max_iter, shuffle=shuffle, tol=tol, early_stopping=early_stopping,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            device=device, random_state=random_state, verbose=verbose, warm_start=warm_start,
            weight_decay=weight_decay, max_epochs=max_epochs, patience=patience,
        )  # fmt: skip
        self.rho = rho
        self.budget = budget
        self.structure_rule = structure_rule
        self.structure_check_every = structure_check_every
        self.probe_size = probe_size
        self.quant_optimizer = quant_optimizer
        self.quant_penalty = quant_penalty
        self.quant_learning_rate = quant_learning_rate
        self.quant_warmup_steps = quant_warmup_steps
        self.quant_shrinkage = quant_shrinkage
        self.prune_dead = prune_dead

    def _check_every(self, n_train: int) -> int | None:
        """Optimiser steps between two checks of ``m_t`` (:func:`glai.params.check_every`)."""
        return params.check_every(self.structure_check_every, n_train, self._batch_size)

    def _quant_solver(self, *, rows_only: bool = False) -> str:
        """The quantitative solver to run now: the one that ran, once fitted (``"ridge"`` for
        ``rows_only`` updates of a closed form, which re-solve the kept statistics exactly:
        the polish of ``"ridge-ce"`` needs every row); before, ``quant_optimizer``, with
        ``"auto"`` kept for :func:`glai.fit_glai` to resolve after the freeze, except that it
        means ``"adam"`` when no data are held out and ``quant_penalty`` needs a hold-out
        (:func:`glai.solvers.auto.without_holdout`)."""
        fitted = getattr(self, "quant_optimizer_", None)
        if fitted is not None:
            closed = get_solver(fitted).kind == "closed_form"
            return "ridge" if rows_only and closed else fitted
        return without_holdout(self.quant_optimizer, self._holdout, self.quant_penalty)

    def _penalty_rule(self) -> str:
        """How the closed form picks its penalty: the rule that was fitted with, else
        ``quant_penalty`` resolved for the data (:func:`glai.solvers.auto.resolve_penalty`)."""
        fitted = getattr(self, "quant_penalty_", None)
        if fitted is not None:
            return str(fitted)
        return resolve_penalty(self.quant_penalty, bool(getattr(self, "_holdout", True)))

    def _closed_form_solver(self) -> Solver | None:
        """The closed-form solver that runs (or that ``"auto"`` may pick), else None."""
        name = self._quant_solver()
        if name == AUTO:
            name = closed_form_for(is_classifier(self))
        solver = get_solver(name)
        return solver if solver.kind == "closed_form" else None

    def _new_statistics(self, model: PathModel | None = None) -> Statistics | None:
        """Empty statistics from the closed-form solver (None for one that keeps none, or a
        gradient solver), bound to ``model`` when given."""
        solver = self._closed_form_solver()
        if solver is None or solver.new_statistics is None:
            return None
        return solver.new_statistics(model, self._penalty_rule())

    def _quant_config(self, *, rows_only: bool = False) -> TrainConfig:
        quant_lr = params.quant_learning_rate(self._lr, self.quant_learning_rate)
        config = self._config(lr=quant_lr, optimizer=self._quant_solver(rows_only=rows_only))
        config.warmup_steps = self.quant_warmup_steps
        config.shrinkage = self.quant_shrinkage
        config.penalty = self._penalty_rule()
        return config

    def _closed_form(self) -> bool:
        """Whether the quantitative phase may be solved in closed form (``"auto"``: maybe)."""
        solver = self._quant_solver()
        return solver == AUTO or get_solver(solver).kind == "closed_form"

    def _fit_model(self, fit: _Fit) -> tuple[nn.Module, History]:
        X, generator = fit.data[0], fit.generator
        if not self._hidden:
            raise ValueError(
                "hidden_layer_sizes must hold at least one width: GLAI's gates are the ReLUs "
                "of the hidden layers, got ()"
            )
        model = GLAI(
            fit.n_in, self._hidden, fit.n_out, rho=self.rho, budget=self.budget,
            prune_dead=self.prune_dead, device=fit.device,
        )  # fmt: skip
        probe_idx = torch.randperm(X.shape[0], generator=generator)[: self.probe_size]
        monitor = StructureMonitor(
            X[probe_idx.to(X.device)], rule=self.structure_rule,
            check_every=self._check_every(X.shape[0]),
        )  # fmt: skip
        objective = Objective(*self._train_losses())
        self.quant_optimizer_ = None  # a refit chooses again
        self.quant_penalty_: str | None = None
        config = self._quant_config()
        # kept for partial_fit and new classes; bound to the paths at the freeze
        stats = self._new_statistics()
        history = fit_glai(
            model, Data(*fit.data, sample_weight=fit.weight), objective,
            structural=self._config(), quantitative=config, monitor=monitor, generator=generator,
            statistics=stats, verbose=bool(self.verbose),
        )  # fmt: skip
        self.structure_frozen_epoch_ = int(history.events["structure_frozen_epoch"])
        self._structure_settled = monitor.rule.is_stable(monitor.history)
        self.path_distance_ = list(monitor.history)
        self.path_distance_steps_ = list(monitor.steps)
        self.structure_steps_ = int(history.events.get("structure_steps", 0))
        self.path_model_ = model.path_model
        self.quant_optimizer_ = history.choices.get("quant_optimizer", config.optimizer)
        self._keep_statistics(history, stats, config)
        return model, history

    def _keep_statistics(
        self, history: History, stats: Statistics | None, config: TrainConfig
    ) -> None:
        """After a closed-form solve: keep its statistics, its penalty rule and the penalty
        the solver reported for the candidate kept (``alpha_``)."""
        closed = get_solver(str(self.quant_optimizer_)).kind == "closed_form"
        self.ridge_statistics_ = stats if closed else None
        self.quant_penalty_ = config.penalty if closed else None
        penalty = history.events.get("closed_form_penalty") if closed else None
        self.alpha_ = None if penalty is None else float(penalty)

    def _solved_in_closed_form(self) -> bool:
        return get_solver(str(self.quant_optimizer_)).kind == "closed_form"

    def _unconverged(self) -> list[str]:
        """Also when ``max_iter`` cut the structural phase before ``m_t`` settled (the
        structure was frozen there)."""
        messages = super()._unconverged()
        structural = sum(r.phase == "structural" for r in self.history_.records)
        if self._max_iter and structural >= self._max_iter and not self._structure_settled:
            messages.insert(0, (
                f"max_iter={self._max_iter} epochs stopped the structural phase before the "
                "path distance m_t settled (structure_rule); the structure was frozen there. "
                "Raise max_iter"
            ))  # fmt: skip
        return messages

    def _set_fitted_attributes(self, continued: bool = False, incremental: bool = False) -> None:
        # path_model_ follows model_: retraining works on a copy of model_ (all or nothing),
        # so a path_model_ set before would name the copy's predecessor
        self.path_model_ = self._frozen_paths()
        super()._set_fitted_attributes(continued=continued, incremental=incremental)

    def _frozen_paths(self) -> PathModel:
        path_model = self.model_.path_model
        assert isinstance(path_model, PathModel)
        return path_model
