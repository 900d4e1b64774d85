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

from glai import validation
from glai.estimators.base import _as_float32
from glai.estimators.glai_fit import _GLAIMixin
from glai.solvers.ridge import RidgeStatistics
from glai.training import History, fit_quantities, resolve_device

__all__: list[str] = []

_G_EST = TypeVar("_G_EST", bound="_Retraining")


class _Retraining(_GLAIMixin):
    """A GLAI head that retrains on its frozen structure (warm start, ``partial_fit``)."""

    def _continue_model(
        self,
        data: tuple[torch.Tensor, ...],
        weight: torch.Tensor | None,
        generator: torch.Generator,
    ) -> History:
        """Warm start: the quantitative phase again on ``data``, structure kept; a gradient
        solver starts from the path weights, a closed-form one re-solves on ``data`` alone."""
        history = History()  # max_iter=0: nothing to train, the model stays as it is
        if self._max_iter > 0:
            path_model, config = self._frozen_paths(), self._quant_config()
            stats = RidgeStatistics(path_model) if self._closed_form() else None
            loss_fn, score_fn = self._train_losses()
            history = fit_quantities(
                path_model, *data, loss_fn=loss_fn, score_fn=score_fn, config=config,
                generator=generator, sample_weight=weight, statistics=stats,
                verbose=bool(self.verbose),
            )  # fmt: skip
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
        if self._closed_form():
            assert self.alpha_ is not None
            config = replace(config, alphas=(self.alpha_,))
        else:
            config = replace(config, max_epochs=1, patience=None)
        self._holdout = False  # the batch is its own "validation": no validation score
        loss_fn, score_fn = self._train_losses()
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        history = fit_quantities(
            self._frozen_paths(), x, t, x, t, loss_fn=loss_fn, score_fn=score_fn,
            config=config, generator=torch.Generator().manual_seed(seed),
            sample_weight=weight, statistics=self.ridge_statistics_, verbose=bool(self.verbose),
        )  # fmt: skip
        history.events["structure_frozen_epoch"] = 0
        self.history_, self.structure_frozen_epoch_ = history, 0
        self._n_train = len(X)
        self._set_fitted_attributes(continued=True, incremental=True)
