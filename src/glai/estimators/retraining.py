"""Retraining a fitted GLAI head on its frozen structure: warm start and ``partial_fit``.

New classes (:meth:`glai.GLAIClassifier.add_classes`) live with the classifier; the
computations are :mod:`glai.training.retrain`'s.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from glai import validation
from glai.estimators.base import _as_float32, _Fit
from glai.estimators.glai_fit import _GLAIMixin
from glai.solvers import Statistics, get_solver
from glai.training import Data, History, Objective, Retraining, fit_quantities, resolve_device
from glai.training.closed_form import closed_form_targets

__all__: list[str] = []

_G_EST = TypeVar("_G_EST", bound="_Retraining")


class _Retraining(_GLAIMixin):
    """A GLAI head that retrains on its frozen structure (warm start, ``partial_fit``)."""

    def _continue_model(self, fit: _Fit) -> History:
        """Warm start: the quantitative phase again on ``fit.data``, structure kept; a
        gradient solver starts from the path weights, a closed-form one re-solves on
        ``fit.data`` alone."""
        history = History()  # max_iter=0: nothing to train, the model stays as it is
        if self._max_iter > 0:
            path_model, config = self._frozen_paths(), self._quant_config()
            stats = self._new_statistics(path_model)
            how = Retraining(
                Objective(*self._train_losses()), config, fit.generator, statistics=stats,
                verbose=bool(self.verbose),
            )  # fmt: skip
            history = fit_quantities(path_model, Data(*fit.data, sample_weight=fit.weight), how)
            self._keep_statistics(history, stats, config)
        history.events["structure_frozen_epoch"] = 0
        self.structure_frozen_epoch_ = 0
        return history

    def _validate_more(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """``X``, ``y`` of a later batch: the fitted features, and targets the fitted outputs
        take (a classifier's new labels are checked by its ``partial_fit``)."""
        self._check_describes_model("partial_fit")
        try:
            return self._validate_training_data(X, y, reset=False)
        except ValueError as err:
            raise ValueError(f"{err} (the structure is frozen for that many features)") from err

    def _partial_fit(self: _G_EST, X: Any, y: Any, sample_weight: Any = None) -> _G_EST:
        """Update on one batch, the structure frozen: the body of
        :meth:`GLAIRegressor.partial_fit` (which documents it) and of the classifier's once
        new classes are handled."""
        if not hasattr(self, "model_"):
            return self.fit(X, y, sample_weight=sample_weight)
        X, y = self._validate_more(X, y)
        self._check_continuable(y)
        self._on_the_side(lambda work: work._update_quantities(X, y, sample_weight))
        return self

    def _update_quantities(self, X: np.ndarray, y: np.ndarray, sample_weight: Any) -> None:
        sw = validation.check_sample_weight(sample_weight, X)
        device = resolve_device(self.device)
        x = torch.as_tensor(_as_float32("X", X)).to(device)
        t = torch.as_tensor(self._encode_targets(y, fitting=False)).to(
            device=device, dtype=self._target_dtype
        )
        weight = None if sw is None else torch.as_tensor(sw).to(device, torch.float32)
        config = self._quant_config(rows_only=True)
        if self._closed_form() and config.penalty == "holdout":
            assert self.alpha_ is not None
            config = replace(config, alphas=(self.alpha_,))
        elif not self._closed_form():
            config = replace(config, max_epochs=1, patience=None)
        self._holdout = False  # the batch is its own "validation": no validation score
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        how = Retraining(
            Objective(*self._train_losses()), config, torch.Generator().manual_seed(seed),
            statistics=self.ridge_statistics_, verbose=bool(self.verbose),
        )  # fmt: skip
        history = fit_quantities(self._frozen_paths(), Data(x, t, x, t, weight), how)
        if self._closed_form():  # the penalty the solver reports (chosen again by a rule)
            self.alpha_ = float(history.events["closed_form_penalty"])
        history.events["structure_frozen_epoch"] = 0
        self.history_, self.structure_frozen_epoch_ = history, 0
        self._n_train = len(X)
        self._set_fitted_attributes(continued=True, incremental=True)

    # -- the closed form's statistics: re-solve, forget ------------------------------------

    def _kept_statistics(self, what: str) -> Statistics:
        """``ridge_statistics_``, or a ValueError saying why ``what`` needs them."""
        check_is_fitted(self)
        stats = getattr(self, "ridge_statistics_", None)
        if stats is None:
            raise ValueError(
                f"{what} needs the sufficient statistics of a closed-form quantitative phase, "
                f"but this head's was solved by {self.quant_optimizer_!r}, which keeps no "
                "statistics (gradient solvers never do); fit with quant_optimizer='ridge' "
                "(or 'ridge-ce')"
            )
        return stats

    @torch.no_grad()
    def _solve_statistics(self) -> None:
        """Re-solve every output from ``ridge_statistics_`` with the solver's ``refit`` (the
        ridge part of ``"ridge-ce"``): at the penalty the statistics choose (``"kfold"``,
        ``"gcv"``) or at ``alpha_``."""
        stats = self._kept_statistics("re-solving")
        refit = get_solver(str(self.quant_optimizer_)).refit
        assert refit is not None  # kept statistics come from a solver that refits them
        rule, alpha = self._penalty_rule(), self.alpha_
        assert rule != "holdout" or alpha is not None
        alphas = self._quant_config().alphas if alpha is None or rule != "holdout" else (alpha,)
        (solution,) = refit(stats, alphas, rule, None)
        self.alpha_ = solution.penalty
        path_model = self._frozen_paths()
        for name, value in solution.parameters().items():
            getattr(path_model, name).copy_(value.to(getattr(path_model, name).dtype))

    def statistics_of(self, X: Any, y: Any, sample_weight: Any = None) -> Statistics:
        """The sufficient statistics of rows ``(X, y)`` on this head's frozen paths, without
        solving: what a site sends to be summed (``RidgeStatistics.merge``, or an
        ``all_reduce`` of its ``tensors()``). The same rows give the same sums as ``fit`` and
        ``partial_fit`` add (float32 inputs, encoded targets, gates; folds by row content)."""
        self._kept_statistics("statistics_of")
        X, y = self._validate_more(X, y)
        self._check_continuable(y)
        return self._statistics_of(X, y, sample_weight)

    def _statistics_of(self, X: np.ndarray, y: np.ndarray, sample_weight: Any) -> Statistics:
        stats = self._kept_statistics("forget")
        sw = validation.check_sample_weight(sample_weight, X)
        path_model = self._frozen_paths()
        device = path_model.theta.device
        x = torch.as_tensor(_as_float32("X", X)).to(device)
        t = torch.as_tensor(self._encode_targets(y, fitting=False)).to(
            device=device, dtype=self._target_dtype
        )
        weight = None if sw is None else torch.as_tensor(sw).to(device, torch.float32)
        targets = closed_form_targets(t, path_model.out_features, x.dtype)
        return stats.empty_like().add(x, path_model.gates(x), targets, weight)

    def forget(self: _G_EST, X: Any, y: Any, sample_weight: Any = None) -> _G_EST:
        """Remove rows fitted before and re-solve: the head then equals the fit without them.

        ``X [n, n_features]``, ``y`` and ``sample_weight`` must be rows this head was solved
        on (by ``fit``'s training split, ``partial_fit``, new classes or :func:`glai.merge`),
        with the same values: their statistics are subtracted from ``ridge_statistics_`` (in
        float64) and every output is re-solved, so the path weights equal a closed-form fit
        without those rows on the same frozen structure, up to float rounding (the penalty
        too, with ``quant_penalty`` ``"kfold"`` or ``"gcv"``). Rows never seen are refused
        where the sums show it (a class's or a gate's weight below zero; with ``"kfold"``,
        per fold); rows given to ``fit`` as validation data were never solved on.

        **The structure itself was learned with the forgotten rows** (the structural phase
        saw them): forgetting makes the quantitative phase exact, not the gates. To forget
        completely, learn the structure on other data (e.g. public or already-released
        rows), then add the private rows with ``partial_fit`` on a
        :func:`glai.share_structure` copy: forgetting those is then exact end to end.

        Needs a closed-form quantitative phase (``ridge_statistics_``); after ``"ridge-ce"``
        the ridge part is re-solved (the polish needs every row).
        """
        self._kept_statistics("forget")
        X, y = self._validate_more(X, y)
        self._check_continuable(y)

        def remove(work: _Retraining) -> None:
            rows = work._statistics_of(X, y, sample_weight)
            work._kept_statistics("forget").subtract(rows)
            work._solve_statistics()
            work.history_ = History()
            work.history_.events["forgotten_rows"] = int(len(X))
            work._holdout = False
            work._set_fitted_attributes(continued=True, incremental=True)

        self._on_the_side(remove)
        return self
