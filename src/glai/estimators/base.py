"""What every head estimator shares: validation, the hold-out split, tensors, fitted attributes.

:class:`_Head` is scikit-learn's contract (``__init__`` stores, ``fit`` validates, seeds,
builds and sets the attributes ending in ``_``); what classifiers and regressors do
differently lives in :mod:`~glai.estimators.targets`, the model in
:mod:`~glai.estimators.mlp_head` and :mod:`~glai.estimators.glai_fit`.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from torch import nn

from glai import params
from glai.mlp import as_widths
from glai.training import History, LossFn, ScoreFn, TrainConfig, predict_batched, resolve_device
from glai.training.losses import minus_mean_loss

__all__ = ["HEAD_PARAMS", "HEAD_DEFAULTS"]

# The arguments of every head, in signature order; their defaults, constraints and docs are
# those of glai.params. scikit-learn needs every argument spelled out in __init__, so the
# signatures read their values from HEAD_DEFAULTS.
HEAD_PARAMS = (
    "hidden_layer_sizes", "optimizer", "learning_rate", "weight_decay", "batch_size",
    "max_epochs", "patience", "tol", "validation_fraction", "device", "random_state", "verbose",
    "warm_start",
)  # fmt: skip
HEAD_DEFAULTS: dict[str, Any] = params.defaults(*HEAD_PARAMS)
_H = HEAD_DEFAULTS


def _as_float32(name: str, a: np.ndarray) -> np.ndarray:
    """``a`` as float32, refusing values that only float64 could hold (they would become inf)."""
    a32 = np.asarray(a, dtype=np.float32)
    if not np.isfinite(a32).all():
        raise ValueError(
            f"{name} has values beyond float32's range (|value| > {np.finfo(np.float32).max:.3g})"
            ", which the heads compute in; rescale it (e.g. with StandardScaler)"
        )
    return a32


class _Head(BaseEstimator):
    """Shared fit logic.

    What classifiers and regressors do differently lives in :class:`_ClassifierHead` and
    :class:`_RegressorHead` (targets, losses, output count); the model lives in
    :class:`_MLPMixin` and :class:`_GLAIMixin` (``_fit_model``).
    """

    _target_dtype: torch.dtype  # of the encoded targets the loop trains on
    _parameter_constraints: dict[str, list[Any]] = params.constraints(*HEAD_PARAMS)

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = _H["hidden_layer_sizes"],
        *,
        optimizer: str = _H["optimizer"],
        learning_rate: float = _H["learning_rate"],
        weight_decay: float = _H["weight_decay"],
        batch_size: int | str = _H["batch_size"],
        max_epochs: int = _H["max_epochs"],
        patience: int | None = _H["patience"],
        tol: float = _H["tol"],
        validation_fraction: float | str = _H["validation_fraction"],
        device: str | torch.device = _H["device"],
        random_state: int | np.random.RandomState | None = _H["random_state"],
        verbose: bool = _H["verbose"],
        warm_start: bool = _H["warm_start"],
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # What the classifier and regressor heads define:

    def _validate_training_data(
        self, X: Any, y: Any, reset: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Validated ``X [n, n_features]`` and ``y``; sets ``n_features_in_`` (with ``reset``;
        otherwise ``X`` must have that many features)."""
        raise NotImplementedError

    def _check_continuable(self, y: np.ndarray) -> None:
        """Refuse ``y`` the fitted outputs cannot take (warm start, partial updates)."""
        raise NotImplementedError

    def _encode_targets(self, y: Any, fitting: bool) -> np.ndarray:
        """What the loop trains against; ``fitting``: learn the encoding from ``y``."""
        raise NotImplementedError

    def _n_outputs(self, target: np.ndarray) -> int:
        raise NotImplementedError

    def _losses(self) -> tuple[LossFn, ScoreFn]:
        """Per-sample loss and validation score (higher is better)."""
        raise NotImplementedError

    def _stratify(self, target: np.ndarray, n_val: int) -> np.ndarray | None:
        """Labels to stratify the validation split by (None: a plain random split)."""
        return None

    # -- fitting -------------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        X_val: Any = None,
        y_val: Any = None,
    ) -> _Head:
        """Fit on ``X [n_samples, n_features]``, ``y [n_samples]`` (or ``[n, n_targets]``).

        Early stopping uses ``(X_val, y_val)`` when given, otherwise a held-out
        ``validation_fraction`` of the training data. With no held-out data (fraction 0, too
        few samples to split, or ``"auto"`` below
        :data:`glai.params.AUTO_HOLDOUT_MIN_SAMPLES`) every sample trains and training stops
        when the training loss has not fallen by more than ``tol`` for ``patience`` epochs
        (scikit-learn's ``MLPClassifier`` rule); ``best_val_score_`` is then None.

        With ``warm_start=True`` and a fitted model, training continues from it on these data
        (scikit-learn's semantics): the MLP from its weights; GLAI keeps its frozen structure
        and re-solves only the quantitative phase, from its path weights (a closed-form solver
        re-solves on these data). ``X`` must have the fitted number of features and ``y`` the
        fitted classes (new classes: :meth:`GLAIClassifier.partial_fit`) or targets.
        ``max_epochs=0`` then keeps the model as it is.

        The fitted attributes are replaced all at once when fitting succeeds: a fit that fails
        or is interrupted leaves the estimator as it was (unfitted before its first fit).
        """
        self._validate_params()
        self._on_the_side(lambda work: work._fit(X, y, sample_weight, X_val, y_val))
        return self

    def _on_the_side(self, update: Callable[[Any], None]) -> None:
        """``update`` a copy of this estimator (its model and kept statistics copied too, as
        retraining changes them in place), then take the copy's state: all or nothing."""
        work = copy.copy(self)
        for name in ("model_", "ridge_statistics_"):
            if getattr(self, name, None) is not None:
                setattr(work, name, copy.deepcopy(getattr(self, name)))
        update(work)
        self.__dict__ = work.__dict__

    def _fit(self, X: Any, y: Any, sample_weight: Any, X_val: Any, y_val: Any) -> None:
        device = resolve_device(self.device)
        # Normalised once, so that numpy widths work and messages name the user's argument.
        self._hidden = as_widths(self.hidden_layer_sizes, name="hidden_layer_sizes")
        warm = bool(self.warm_start) and hasattr(self, "model_")
        if self.max_epochs == 0 and not warm:
            raise ValueError(
                "max_epochs=0 trains nothing: it is only meaningful with warm_start=True on a "
                "fitted estimator (which then keeps its model); use max_epochs >= 1"
            )
        if warm:
            try:
                X, y = self._validate_training_data(X, y, reset=False)
            except ValueError as err:
                raise ValueError(
                    f"{err} (warm_start=True continues the fitted model; set warm_start=False "
                    "to fit a new one)"
                ) from err
            self._check_continuable(y)
        else:
            X, y = self._validate_training_data(X, y)
        X = _as_float32("X", X)
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        sw = None if sample_weight is None else _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )  # fmt: skip
        target = self._encode_targets(y, fitting=not warm)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        data, weight = self._tensors(X, target, sw, X_val, y_val, seed, device)
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            if warm:
                self.history_ = self._continue_model(data, weight, generator)
            else:
                n_out = self._n_outputs(target)
                self.model_, self.history_ = self._fit_model(
                    data, weight, n_out, X.shape[1], device, generator
                )
        self._set_fitted_attributes()

    def _tensors(
        self,
        X: np.ndarray,
        target: np.ndarray,
        sw: np.ndarray | None,
        X_val: Any,
        y_val: Any,
        seed: int,
        device: torch.device,
    ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None]:
        """``(X, y, X_val, y_val)`` and the sample weights on ``device``, the validation data
        given or split off (by ``seed``); sets ``_holdout`` and ``_batch_size``."""
        train_idx = np.arange(len(X))
        holdout = X_val is not None
        if X_val is not None:
            try:
                X_val = validate_data(self, X_val, reset=False, dtype=[np.float32, np.float64])
            except ValueError as err:
                raise ValueError(f"X_val: {err}") from err
            X_val = _as_float32("X_val", X_val)
            y_val = self._validate_y_val(y_val)
            if len(y_val) != len(X_val):
                raise ValueError(f"X_val has {len(X_val)} samples but y_val has {len(y_val)}")
            Xv, yv = X_val, self._encode_targets(y_val, fitting=False)
        else:
            Xv, yv, train_idx = self._split(X, target, seed)
            holdout = len(train_idx) < len(X)
        self._holdout = holdout

        def tensor(a: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(a)).to(device=device, dtype=dtype)

        ydtype = self._target_dtype
        data = (
            tensor(X[train_idx]), tensor(target[train_idx], ydtype),
            tensor(Xv), tensor(yv, ydtype),
        )  # fmt: skip
        weight = None if sw is None else tensor(sw[train_idx])
        self._batch_size = params.resolve_batch_size(self.batch_size, len(train_idx))
        return data, weight

    def _set_fitted_attributes(self) -> None:
        self.model_.eval()
        self._check_converged()
        self.n_trainable_params_ = sum(
            p.numel() for p in self.model_.parameters() if p.requires_grad
        )
        # The model returned is that of the last phase (for GLAI, the path model): its score.
        best = self.history_.best(phase=self.history_.final_phase)
        self.best_val_score_ = None if best is None or not self._holdout else best.val_score
        self.fit_seconds_ = self.history_.records[-1].seconds if self.history_.records else 0.0
        self.n_iter_ = len(self.history_.records)

    def _train_losses(self) -> tuple[LossFn, ScoreFn]:
        """The loss, and the score early stopping watches: the validation score, or with no
        held-out data minus the training loss (the "validation" inputs are then the training
        inputs), so that stopping watches the training loss."""
        loss_fn, score_fn = self._losses()
        return (loss_fn, score_fn) if self._holdout else (loss_fn, minus_mean_loss(loss_fn))

    def _check_converged(self) -> None:
        """Refuse a model with non-finite parameters; warn when training diverged on the way
        (the best earlier epoch was kept)."""
        if not all(bool(torch.isfinite(p).all()) for p in self.model_.parameters()):
            raise ValueError(
                "training diverged: the fitted parameters are not finite. Scale the inputs "
                "(e.g. StandardScaler) or lower learning_rate"
            )
        bad = [r.epoch for r in self.history_.records if not np.isfinite(r.train_loss)]
        if bad:
            warnings.warn(
                f"training diverged at epoch {bad[0]} (non-finite training loss); the best "
                "earlier epoch was kept. Scale the inputs or lower learning_rate",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _validate_y_val(self, y_val: Any) -> np.ndarray:
        """``y_val`` as an array, checked against what ``y`` was."""
        return np.asarray(y_val)

    def _split(
        self, X: np.ndarray, target: np.ndarray, seed: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(X)
        idx = np.arange(n)
        n_val = int(round(params.holdout_fraction(self.validation_fraction, n) * n))
        if n_val < 1 or n - n_val < 1:
            return X, target, idx
        stratify = self._stratify(target, n_val)
        tr, va = train_test_split(idx, test_size=n_val, random_state=seed, stratify=stratify)
        return X[va], target[va], np.sort(tr)

    def _config(self, lr: float | None = None, optimizer: str | None = None) -> TrainConfig:
        return TrainConfig(
            optimizer=optimizer or self.optimizer,
            lr=lr or self.learning_rate,
            weight_decay=self.weight_decay,
            batch_size=self._batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            # the validation score counts any gain; the training loss must fall by tol
            tol=0.0 if getattr(self, "_holdout", True) else self.tol,
        )

    def _fit_model(
        self,
        data: tuple[torch.Tensor, ...],
        weight: torch.Tensor | None,
        n_out: int,
        n_in: int,
        device: torch.device,
        generator: torch.Generator,
    ) -> tuple[nn.Module, History]:
        raise NotImplementedError

    def _continue_model(
        self,
        data: tuple[torch.Tensor, ...],
        weight: torch.Tensor | None,
        generator: torch.Generator,
    ) -> History:
        """Train ``self.model_`` further on ``data`` (warm start); returns the new history."""
        raise NotImplementedError

    # -- prediction ----------------------------------------------------------------------

    def _forward(self, X: Any) -> torch.Tensor:
        check_is_fitted(self)
        X = _as_float32("X", validate_data(self, X, reset=False, dtype=[np.float32, np.float64]))
        param = next(self.model_.parameters())
        x = torch.as_tensor(np.ascontiguousarray(X)).to(device=param.device, dtype=param.dtype)
        return predict_batched(self.model_, (x,)).cpu()

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
