"""The MLP heads: the baseline GLAI replaces, trained by the same loop."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from torch import nn

from glai import params, validation
from glai.estimators.base import FITTED_ATTRIBUTES, HEAD_PARAMS, _as_float32, _Fit, _Head
from glai.estimators.targets import _ClassifierHead, _RegressorHead
from glai.mlp import MLP, as_widths
from glai.solvers import get_solver
from glai.training import Data, History, Objective, TrainConfig, fit_mlp, resolve_device

__all__ = ["MLPHeadClassifier", "MLPHeadRegressor"]


class _MLPMixin(_Head):
    """The baseline: the MLP ``n_features -> hidden_layer_sizes -> n_outputs``."""

    def _new_optimizer(self, model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
        """An optimiser of ``model``'s weights, kept (``_optimizer``) for a later
        ``partial_fit``, which continues its state as scikit-learn's does."""
        factory = get_solver(config.optimizer).make_optimizer
        assert factory is not None
        self._optimizer = factory([p for p in model.parameters() if p.requires_grad], config)
        return self._optimizer

    def _fit_model(self, fit: _Fit) -> tuple[nn.Module, History]:
        model = MLP(fit.n_in, self._hidden, fit.n_out, device=fit.device)
        return model, self._train(model, fit)

    def _continue_model(self, fit: _Fit) -> History:
        return self._train(self.model_, fit)

    def _train(self, model: nn.Module, fit: _Fit) -> History:
        """``fit``: a new optimiser (as scikit-learn's ``fit``, warm start or not)."""
        config = self._config()
        return fit_mlp(
            model, Data(*fit.data, sample_weight=fit.weight), Objective(*self._train_losses()),
            config=config, generator=fit.generator, verbose=bool(self.verbose),
            optimizer=self._new_optimizer(model, config),
        )  # fmt: skip

    # -- partial_fit, scikit-learn's ---------------------------------------------------------

    def _encode_batch(self, y: np.ndarray, first: bool, classes: np.ndarray | None) -> np.ndarray:
        """The targets of a ``partial_fit`` batch; ``first``: learn the encoding."""
        raise NotImplementedError

    def _mlp_partial_fit(
        self, X: Any, y: Any, sample_weight: Any, classes: np.ndarray | None
    ) -> _MLPMixin:
        """One epoch of the minibatch solver over ``X, y`` from the current weights, the
        solver's state (Adam's moments) kept from the previous call or from ``fit``."""
        self._validate_params()
        self._resolve_names()
        if self.early_stopping is True:
            raise ValueError(
                "partial_fit does not support early_stopping=True: each call is one pass over "
                "its batch and nothing is held out (as in scikit-learn); use "
                "early_stopping='auto' or False"
            )
        if get_solver(self.optimizer).kind != "minibatch":
            raise ValueError(
                f"partial_fit steps a minibatch solver; optimizer={self.optimizer!r} is not one "
                "(scikit-learn's partial_fit is only for its stochastic solvers too): use "
                "optimizer='adam'"
            )
        first = not hasattr(self, "model_")
        if first:
            X, y = self._validate_training_data(X, y)
        else:
            X, y = self._validate_more(X, y)
        self._on_the_side(lambda work: work._one_epoch(X, y, sample_weight, first, classes))
        return self

    def _one_epoch(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: Any,
        first: bool,
        classes: np.ndarray | None,
    ) -> None:
        device = resolve_device(self.device)
        sw = validation.check_sample_weight(sample_weight, X)
        target = self._encode_batch(y, first, classes)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self._holdout, self._n_train = False, len(X)  # the batch is its own "validation"
        self._batch_size = params.resolve_batch_size(self.batch_size, len(X))
        config = replace(self._config(), max_epochs=1, patience=None)
        x = torch.as_tensor(_as_float32("X", X)).to(device)
        t = torch.as_tensor(target).to(device=device, dtype=self._target_dtype)
        weight = None if sw is None else torch.as_tensor(sw).to(device, torch.float32)
        if first:
            self._hidden = as_widths(self.hidden_layer_sizes, name="hidden_layer_sizes")
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(seed)  # as fit seeds: the initial weights fit would draw
                self.model_ = MLP(X.shape[1], self._hidden, self._n_outputs(target), device=device)
            self._fitted_description = self._model_description()
        optimizer = getattr(self, "_optimizer", None) or self._new_optimizer(self.model_, config)
        for group in optimizer.param_groups:  # set_params between two calls takes effect
            group["lr"], group["weight_decay"] = config.lr, config.weight_decay
        self.history_ = fit_mlp(
            self.model_, Data(x, t, x, t, weight), Objective(*self._train_losses()),
            config=config, generator=torch.Generator().manual_seed(seed),
            verbose=bool(self.verbose), optimizer=optimizer,
        )  # fmt: skip
        self._set_fitted_attributes(continued=not first, incremental=True)


class MLPHeadClassifier(_MLPMixin, _ClassifierHead):
    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> MLPHeadClassifier:
        """One epoch over the batch ``X [n, n_features]``, ``y [n]``: scikit-learn's
        ``MLPClassifier.partial_fit``.

        ``classes`` (every class the head will see) is required on the first call, which
        builds the network with the initial weights ``fit`` would draw; ``y`` may hold only
        some of them. Later calls continue from the weights and the optimiser's state (Adam's
        moments) of the previous call or of ``fit``; their labels must be in ``classes_``
        (:meth:`GLAIClassifier.partial_fit` can add classes). ``early_stopping=True`` is
        refused: nothing is held out. ``n_iter_`` is then 1; ``t_`` and ``loss_curve_``
        accumulate.
        """
        if not hasattr(self, "model_") and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: every class the "
                "head will see (its outputs are fixed then)"
            )
        if classes is not None:
            classes = unique_labels(classes)
            if hasattr(self, "classes_") and not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"classes={classes.tolist()[:10]} is not classes_ "
                    f"{self.classes_.tolist()[:10]} of the first call: the outputs are fixed "
                    "(GLAIClassifier.partial_fit can add classes)"
                )
        return cast(MLPHeadClassifier, self._mlp_partial_fit(X, y, sample_weight, classes))

    def _encode_batch(self, y: np.ndarray, first: bool, classes: np.ndarray | None) -> np.ndarray:
        check_classification_targets(y)
        if first:
            assert classes is not None
            self.classes_ = classes
        unknown = self._unknown_labels(y)
        if len(unknown):
            raise ValueError(
                f"y has labels not in classes_ {self.classes_.tolist()[:10]}: "
                f"{unknown.tolist()[:10]}; partial_fit's classes= on the first call names "
                "every class"
            )
        return self._encode_targets(y, fitting=False)


class MLPHeadRegressor(_MLPMixin, _RegressorHead):
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPHeadRegressor:
        """One epoch over the batch ``X [n, n_features]``, ``y``: scikit-learn's
        ``MLPRegressor.partial_fit``. The first call builds the network and standardises the
        targets by this batch's mean and spread (kept for every later call); later calls
        continue from the weights and the optimiser's state. ``n_iter_`` is 1; ``t_`` and
        ``loss_curve_`` accumulate."""
        return cast(MLPHeadRegressor, self._mlp_partial_fit(X, y, sample_weight, None))

    def _encode_batch(self, y: np.ndarray, first: bool, classes: np.ndarray | None) -> np.ndarray:
        if not first:
            self._check_continuable(y)
        return self._encode_targets(y, fitting=first)


_ATTRIBUTES = """
    Attributes
    ----------
    model_ : glai.MLP
        The fitted network.
""" + FITTED_ATTRIBUTES
MLPHeadClassifier.__doc__ = (
    "ReLU MLP classification head (the baseline GLAI replaces), trained by glai's loop.\n\n"
    "    ``classes_`` holds the labels. ``warm_start=True``: a second ``fit`` continues from "
    "the fitted weights; ``partial_fit`` is scikit-learn's.\n\n"
    + params.numpydoc(*HEAD_PARAMS) + _ATTRIBUTES
)
MLPHeadRegressor.__doc__ = (
    "ReLU MLP regression head (the baseline GLAI replaces); targets are standardised.\n\n"
    + params.numpydoc(*HEAD_PARAMS) + _ATTRIBUTES
)
