"""The GLAI estimators: :class:`GLAIClassifier` and :class:`GLAIRegressor`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from glai import params, validation
from glai.block import GLAI
from glai.estimators.base import FITTED_ATTRIBUTES, HEAD_PARAMS
from glai.estimators.glai_fit import GLAI_PARAMS
from glai.estimators.retraining import _Retraining
from glai.estimators.targets import _ClassifierHead, _RegressorHead
from glai.training import Data, Objective, Retraining, fit_new_outputs, resolve_device

__all__ = ["GLAIClassifier", "GLAIRegressor"]


_ATTRIBUTES = """
    Attributes
    ----------
    model_ : glai.GLAI
        The fitted block, in phase ``"quantitative"``.
    path_model_ : glai.PathModel
        Its path model.
    quant_optimizer_ : str
        The solver that ran the quantitative phase (what ``"auto"`` chose).
    structure_frozen_epoch_ : int
        Records of the structural phase.
    structure_steps_ : int
        Optimiser steps of the structural phase.
    path_distance_ : list of float
        The ``m_t`` history; ``path_distance_steps_`` holds the step of each.
    ridge_statistics_ : glai.solvers.Statistics or None
        With a closed-form ``quant_optimizer`` that keeps statistics (its ``new_statistics``;
        ``RidgeStatistics`` for ``"ridge"`` and ``"ridge-ce"``): the sufficient statistics of
        every row solved on (``D x D`` per path set, float64), which ``partial_fit`` adds to.
    alpha_ : float or None
        With a closed-form ``quant_optimizer``: the penalty the solver reported for the
        candidate kept, chosen on validation among ``TrainConfig.alphas`` or by the
        ``quant_penalty`` rule (the closed form's own: not the ``alpha`` argument).
""" + FITTED_ATTRIBUTES + """
    Notes
    -----
    Retraining, structure frozen: ``warm_start=True`` (a second ``fit`` re-solves the
    quantitative phase only), ``partial_fit`` (batches; exact with the closed form; after
    ``"ridge-ce"`` it re-solves the ridge part exactly on the kept statistics, since the polish
    needs every row) and, for the classifier, new classes (``partial_fit`` with new labels,
    ``add_classes``).
"""
_DOC = params.numpydoc("hidden_layer_sizes", *GLAI_PARAMS, *HEAD_PARAMS[1:]) + _ATTRIBUTES


class GLAIClassifier(_Retraining, _ClassifierHead):
    _parameter_constraints = params.constraints(*HEAD_PARAMS, *GLAI_PARAMS)

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> GLAIClassifier:
        """Update on one batch, the structure frozen; labels not in ``classes_`` add classes.

        ``classes``: every class to expect (scikit-learn's convention); those not in ``y``
        nor ``classes_`` get outputs at once. The first call on an unfitted estimator is
        ``fit(X, y)``, structural phase included, on this batch alone. On later calls, a
        batch with new labels (or new ``classes``) goes to :meth:`add_classes` (with the closed
        form every output is re-solved on every row seen; with a gradient solver the existing
        outputs are left as they are); any other batch updates every output (see
        :meth:`GLAIRegressor.partial_fit`: one re-solve with the closed form, exact over
        chunks; one epoch with a gradient solver).
        """
        self._validate_params()
        self._resolve_names()
        if classes is not None:
            classes = np.unique(classes)
            outside = np.setdiff1d(np.unique(y), classes)
            if len(outside):
                raise ValueError(f"y has labels not in classes: {outside[:10].tolist()}")
        if not hasattr(self, "model_"):
            self.fit(X, y, sample_weight=sample_weight)
            if classes is not None and len(np.setdiff1d(classes, self.classes_)):
                self.add_classes(X, y, classes=classes, sample_weight=sample_weight)
            return self
        X, y = self._validate_more(X, y)
        check_classification_targets(y)
        wanted = np.unique(y) if classes is None else np.union1d(classes, y)
        if len(self._unknown_labels(wanted)):
            return self.add_classes(X, y, classes=classes, sample_weight=sample_weight)
        return self._partial_fit(X, y, sample_weight)

    def add_classes(
        self,
        X: Any,
        y: Any,
        *,
        classes: Any = None,
        sample_weight: Any = None,
        X_val: Any = None,
        y_val: Any = None,
        refit_old: bool | None = None,
    ) -> GLAIClassifier:
        """Add the classes of ``y`` (and ``classes``) not in ``classes_`` to a fitted head.

        New classes get new paths on the frozen gates (:func:`glai.path_model.new_outputs`).
        ``classes_`` grows; the new classes follow the old, sorted.

        * closed-form ``quant_optimizer``: every row of ``X`` joins ``ridge_statistics_``,
          which already hold the rows the old outputs were solved on (with target 0 for the
          new classes), and every output is re-solved (``refit_old=None`` or True): the head
          equals the joint closed-form fit on all rows seen, on the frozen structure, with no
          old row stored or replayed (class-incremental learning without replay). With
          ``refit_old=False`` only the new outputs are solved, at ``alpha_``, and the old
          outputs' logits stay bit-identical.
        * a gradient solver (``refit_old`` None or False): the new outputs are trained
          (``max_iter``, early stopping on ``(X_val, y_val)`` or a ``validation_fraction``
          split) against the fixed logits of the old ones, which stay bit-identical.
          ``(X, y)`` should hold samples of the old classes as well (replay), or the new
          classes learn to win everywhere.
        """
        check_is_fitted(self)
        self._validate_params()
        self._resolve_names()
        if refit_old and getattr(self, "ridge_statistics_", None) is None:
            raise ValueError(
                "refit_old=True re-solves the old outputs on every row seen, which needs the "
                f"closed form's statistics; this head's solver is {self.quant_optimizer_!r}: "
                "pass refit_old=False (or None) to train the new outputs only"
            )
        X, y = self._validate_more(X, y)
        check_classification_targets(y)
        wanted = np.unique(y) if classes is None else np.union1d(np.unique(classes), y)
        new = self._unknown_labels(wanted)
        if not len(new):
            raise ValueError(
                f"y has no class beyond classes_ {self.classes_[:10].tolist()}: update the "
                "existing outputs with partial_fit, or fit with warm_start=True"
            )
        validation.check_pair("X_val", X_val, "y_val", y_val)
        sw = validation.check_sample_weight(sample_weight, X)
        refit = getattr(self, "ridge_statistics_", None) is not None and refit_old is not False
        self._on_the_side(
            lambda work: work._fit_new_classes(X, y, sw, X_val, y_val, new, refit=refit)
        )
        return self

    def _fit_new_classes(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sw: np.ndarray | None,
        X_val: Any,
        y_val: Any,
        new: np.ndarray,
        *,
        refit: bool = False,
    ) -> None:
        self.classes_ = np.concatenate([self.classes_, new])
        target = self._encode_targets(y, fitting=False)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        config = self._quant_config(rows_only=True)
        if self._closed_form():
            assert self.alpha_ is not None
            config = replace(config, alphas=(self.alpha_,))
            if X_val is None:  # every row into the statistics; validation scores one candidate
                X_val, y_val = X, y
        data, weight = self._tensors(X, target, sw, X_val, y_val, seed, resolve_device(self.device))
        how = Retraining(
            Objective(*self._train_losses()), config, torch.Generator().manual_seed(seed),
            statistics=self.ridge_statistics_, verbose=bool(self.verbose),
        )  # fmt: skip
        joined, history = fit_new_outputs(
            self._frozen_paths(), len(new), Data(*data, sample_weight=weight), how
        )
        cast(GLAI, self.model_).set_path_model(joined)
        self.path_model_ = joined
        if refit:  # every output on every row seen: the joint solve on the frozen structure
            self._solve_statistics()
        history.events["structure_frozen_epoch"] = 0
        history.events["classes_added"] = new.tolist()
        self.history_, self.structure_frozen_epoch_ = history, 0
        self._set_fitted_attributes(continued=True, incremental=True)


class GLAIRegressor(_Retraining, _RegressorHead):
    _parameter_constraints = params.constraints(*HEAD_PARAMS, *GLAI_PARAMS)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> GLAIRegressor:
        """Update on one batch ``X [n, n_features]``, ``y``, the structure frozen.

        The first call on an unfitted estimator is ``fit(X, y)``: the structural phase runs
        on this batch alone, so make it representative. Later calls update every output:

        * closed-form ``quant_optimizer`` (``"ridge"``): the batch's rows join the kept
          sufficient statistics (``ridge_statistics_``, which hold every row solved on so
          far: ``fit``'s training split, then each batch) and every output is re-solved at
          ``alpha_``. Batches in any chunks give exactly the solution of one solve on all of
          them (up to float rounding).
        * a gradient solver: one epoch over the batch from the current path weights, with a
          fresh optimiser (scikit-learn's ``partial_fit`` is one pass).

        ``history_`` is that of this call.
        """
        self._validate_params()
        self._resolve_names()
        return self._partial_fit(X, y, sample_weight)


GLAIClassifier.__doc__ = (
    "GLAI classification head, a drop-in for :class:`MLPHeadClassifier` (and scikit-learn's "
    "``MLPClassifier``) on feature matrices.\n\n" + _DOC
)
GLAIRegressor.__doc__ = "GLAI regression head (targets are standardised).\n\n" + _DOC
