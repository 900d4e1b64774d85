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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from glai import params, validation
from glai.mlp import as_widths
from glai.solvers import get_solver
from glai.training import History, LossFn, ScoreFn, TrainConfig, predict_batched, resolve_device
from glai.training.losses import minus_mean_loss

__all__ = ["HEAD_PARAMS", "HEAD_DEFAULTS", "FITTED_ATTRIBUTES"]

# The arguments of every head, in signature order: scikit-learn's MLPClassifier names and
# meanings (glai.params, as the heads mean them), then the deprecated old names. scikit-learn
# needs every argument spelled out in __init__, so the signatures read HEAD_DEFAULTS, which
# also holds the old names' marker default (max_epochs, patience).
HEAD_PARAMS: tuple[str | params.Param, ...] = tuple(
    params.head_spec(name)
    for name in (
        "hidden_layer_sizes", "optimizer", "alpha", "batch_size", "learning_rate",
        "learning_rate_init", "max_iter", "shuffle", "tol", "early_stopping",
        "validation_fraction", "n_iter_no_change", "device", "random_state", "verbose",
        "warm_start", "weight_decay",
    )
)  # fmt: skip
HEAD_DEFAULTS: dict[str, Any] = params.defaults(*HEAD_PARAMS, aliases=True)
_H = HEAD_DEFAULTS


# The fitted attributes every head has (numpydoc entries; scikit-learn's names and meanings).
FITTED_ATTRIBUTES = """    history_ : glai.training.History
        One record per epoch (of both phases for GLAI; one per candidate of a closed-form
        solver).
    loss_curve_ : list of float
        The training loss of each epoch, as ``history_`` (without the ``alpha`` term); a warm
        start or ``partial_fit`` appends to it, as in scikit-learn.
    loss_ : float
        The last entry of ``loss_curve_``.
    validation_scores_ : list of float or None
        The validation score of each epoch (accuracy, or R^2 averaged over the outputs) when
        data were held out, else None.
    best_validation_score_ : float or None
        The best validation score of the model returned (for GLAI, of the quantitative
        phase); early stopping restored that epoch. None when nothing was held out.
    best_loss_ : float or None
        The lowest training loss of the model returned when nothing was held out (early
        stopping then restored that epoch), else None.
    n_iter_ : int
        Epochs run by this ``fit``; for GLAI both phases: ``structure_frozen_epoch_``
        structural ones, then the quantitative ones (one per candidate of a closed-form
        solver). 1 after ``partial_fit`` of an MLP head.
    t_ : int
        Training samples the solver has seen: ``n_iter_`` times the training rows (the
        minibatches taken of a structural epoch that ``m_t`` ended early; one pass for a
        closed-form solve), summed over a warm start's or ``partial_fit``'s calls.
    n_features_in_ : int
        Features seen by ``fit``.
    n_trainable_params_ : int
        Trainable parameters of ``model_``.
    fit_seconds_ : float
        Wall-clock time of the last ``fit``.
    best_val_score_ : float or None
        Deprecated name of ``best_validation_score_`` (removed in glai 0.3).
"""


def _stopped_early(scores: Sequence[float], patience: int | None, tol: float) -> bool:
    """Whether early stopping (``patience`` epochs without a gain above ``tol``) ended a phase
    whose epochs scored ``scores``: the rule of :class:`glai.training.stopping.EarlyStopping`,
    replayed on the records."""
    best, since_best = -np.inf, 0
    for score in scores:
        since_best = 0 if score > best + tol else since_best + 1
        best = max(best, score)
        if patience is not None and since_best >= patience:
            return True
    return False


_PIPELINE_WAY = (
    "In a Pipeline, X_val does not go through the earlier steps: hold out validation_fraction "
    "of the training data (early_stopping=True) instead, or route X_val with metadata routing "
    "and Pipeline(..., transform_input=['X_val'])"
)


def _warn_if_other_scale(X: np.ndarray, X_val: np.ndarray) -> None:
    """Warn when ``X_val`` is on another scale than ``X``: the median over features of the
    shift of its mean is over 3 training standard deviations, or of its spread over a factor
    10. The usual cause is ``fit(X, y, X_val=...)`` inside a Pipeline, whose earlier steps
    transform ``X`` but not ``X_val``. (Conservative by design: samples of one distribution
    stay far below both, even a handful of them; a shift that passes may still hurt.)"""
    std = X.std(axis=0, dtype=np.float64)
    live = std > 0
    if len(X_val) < 2 or not live.any():
        return
    shift = np.abs(X_val.mean(axis=0, dtype=np.float64) - X.mean(axis=0, dtype=np.float64))
    ratio = X_val.std(axis=0, dtype=np.float64)[live] / std[live]
    z = float(np.median(shift[live] / std[live]))
    spread = float(np.median(np.abs(np.log10(np.maximum(ratio, 1e-12)))))
    if z > 3 or spread > 1:
        warnings.warn(
            f"X_val is on another scale than X (the median feature's mean lies {z:.3g} "
            f"training standard deviations away, its spread is off by a factor "
            f"{10**spread:.3g}): was fit(..., X_val=...) called inside a Pipeline? "
            + _PIPELINE_WAY,
            UserWarning,
            stacklevel=7,  # fit's caller (through _on_the_side, _fit and _tensors)
        )





_as_float32 = validation.as_float32  # the one check, shared with fit_head (glai.validation)


@dataclass(frozen=True)
class _Fit:
    """What one ``fit`` trains on, handed to ``_fit_model`` / ``_continue_model``.

    ``data``: ``(X [N, n_in], y [N] or [N, n_out], X_val, y_val)`` tensors on ``device``;
    ``weight``: sample weights ``[N]`` or None; ``generator``: seeded for this fit; ``n_in``,
    ``n_out``: the widths of a new model (a warm start keeps the fitted one's).
    """

    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
    weight: torch.Tensor | None
    generator: torch.Generator
    n_in: int
    n_out: int
    device: torch.device


class _Head(BaseEstimator):
    """Shared fit logic.

    What classifiers and regressors do differently lives in :class:`_ClassifierHead` and
    :class:`_RegressorHead` (targets, losses, output count); the model lives in
    :class:`_MLPMixin` and :class:`_GLAIMixin` (``_fit_model``).
    """

    _target_dtype: torch.dtype  # of the encoded targets the loop trains on
    loss_curve_: list[float]  # fitted attributes read back by a continued fit
    t_: int
    _parameter_constraints: dict[str, list[Any]] = params.constraints(*HEAD_PARAMS)

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = _H["hidden_layer_sizes"],
        *,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.optimizer = optimizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience

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

        Early stopping (``early_stopping``) uses ``(X_val, y_val)`` when given, otherwise a
        held-out ``validation_fraction`` of the training data. With no held-out data
        (``early_stopping=False``; with ``"auto"``, fewer than
        :data:`glai.params.AUTO_HOLDOUT_MIN_SAMPLES` samples, or a fraction of 0) every
        sample trains and training stops when the training loss has not fallen by more than
        ``tol`` for more than ``n_iter_no_change`` epochs (scikit-learn's ``MLPClassifier``
        rule); ``validation_scores_`` and ``best_validation_score_`` are then None.

        ``X_val`` is used as given: inside a ``Pipeline`` the earlier steps do not transform
        it (a warning says so when it is visibly on another scale than ``X``). There, hold out
        ``validation_fraction`` instead, or enable scikit-learn's metadata routing, request
        ``set_fit_request(X_val=True, y_val=True)`` and build the pipeline with
        ``transform_input=["X_val"]``.

        With ``warm_start=True`` and a fitted model, training continues from it on these data
        (scikit-learn's semantics): the MLP from its weights; GLAI keeps its frozen structure
        and re-solves only the quantitative phase, from its path weights (a closed-form solver
        re-solves on these data). ``X`` must have the fitted number of features and ``y`` the
        fitted classes (new classes: :meth:`GLAIClassifier.partial_fit`) or targets, of the
        type of ``classes_`` (the string ``"1"`` is not the class ``1``). A warm start (and
        ``partial_fit``) is refused when a parameter that describes the fitted model was
        changed since (``set_params``): ``hidden_layer_sizes``, and for GLAI ``rho``,
        ``budget``, ``prune_dead`` and ``quant_optimizer`` -- it would keep training the old
        model while ``get_params()`` reports another; refit with ``warm_start=False``.
        ``max_iter=0`` then keeps the model as it is.

        The fitted attributes are replaced all at once when fitting succeeds: a fit that fails
        or is interrupted leaves the estimator as it was (unfitted before its first fit).
        """
        self._validate_params()
        self._resolve_names()
        if self.early_stopping is False and X_val is not None:
            raise ValueError(
                "X_val, y_val were given but early_stopping=False: nothing would use them; set "
                "early_stopping=True (or 'auto') to stop on their score"
            )
        self._on_the_side(lambda work: work._fit(X, y, sample_weight, X_val, y_val))
        return self

    def _resolve_names(self) -> None:
        """The loop's settings from scikit-learn's names, or from the deprecated old ones
        (:func:`glai.params.resolve_aliases`, FutureWarning): ``_max_iter``, ``_lr``,
        ``_patience`` (epochs without a gain before stopping: ``n_iter_no_change + 1``, None
        for never) and ``_weight_decay`` (Adam's, of the deprecated ``weight_decay``)."""
        names = params.resolve_aliases(self)
        self._max_iter = int(names["max_iter"])
        self._lr = float(names["learning_rate_init"])
        n_iter_no_change = names["n_iter_no_change"]
        self._patience = None if n_iter_no_change == np.inf else int(n_iter_no_change) + 1
        self._weight_decay = 0.0
        if not isinstance(self.weight_decay, str):
            warnings.warn(
                "weight_decay is deprecated (glai 0.2) and will be removed in glai 0.3: use "
                "alpha, scikit-learn's L2 penalty (alpha / (2 * batch_size) * ||W||^2 on the "
                "weights, not the biases; weight_decay=w, Adam's decay of every parameter, is "
                "close to alpha=w * batch_size). Until then weight_decay keeps its meaning",
                FutureWarning,
                stacklevel=3,
            )
            self._weight_decay = float(self.weight_decay)

    def _on_the_side(self, update: Callable[[Any], None]) -> None:
        """``update`` a copy of this estimator (its model, optimiser, kept statistics and
        curves copied too, as retraining changes them in place), then take the copy's state:
        all or nothing."""
        work = copy.copy(self)
        memo: dict[int, Any] = {}  # one memo: the optimiser's copy steps the model's copy
        for name in ("model_", "_optimizer", "ridge_statistics_", "loss_curve_",
                     "validation_scores_"):  # fmt: skip
            if getattr(self, name, None) is not None:
                setattr(work, name, copy.deepcopy(getattr(self, name), memo))
        update(work)
        self.__dict__ = work.__dict__

    def _fit(self, X: Any, y: Any, sample_weight: Any, X_val: Any, y_val: Any) -> None:
        device = resolve_device(self.device)
        # Normalised once, so that numpy widths work and messages name the user's argument.
        self._hidden = as_widths(self.hidden_layer_sizes, name="hidden_layer_sizes")
        warm = bool(self.warm_start) and hasattr(self, "model_")
        if self._max_iter == 0 and not warm:
            raise ValueError(
                "max_iter=0 trains nothing: it is only meaningful with warm_start=True on a "
                "fitted estimator (which then keeps its model); use max_iter >= 1"
            )
        if warm:
            self._check_describes_model("warm_start=True")
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
        validation.check_pair("X_val", X_val, "y_val", y_val)
        sw = validation.check_sample_weight(sample_weight, X)
        target = self._encode_targets(y, fitting=not warm)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        data, weight = self._tensors(X, target, sw, X_val, y_val, seed, device)
        generator = torch.Generator().manual_seed(seed)
        n_out = self._n_outputs(target)
        fit = _Fit(data, weight, generator, X.shape[1], n_out, device)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            if warm:
                self.history_ = self._continue_model(fit)
            else:
                self.model_, self.history_ = self._fit_model(fit)
        self._set_fitted_attributes(continued=warm)
        if not warm:
            self._fitted_description = self._model_description()

    def _tensors(
        self,
        X: np.ndarray,
        target: np.ndarray,
        sw: np.ndarray | None,
        X_val: Any,
        y_val: Any,
        seed: int,
        device: torch.device,
    ) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor | None]:
        """``(X, y, X_val, y_val)`` and the sample weights on ``device``, the validation data
        given or split off (by ``seed``); sets ``_holdout``, ``_batch_size`` and ``_n_train``."""
        train_idx = np.arange(len(X))
        holdout = X_val is not None
        if X_val is not None:
            try:
                X_val = validate_data(self, X_val, reset=False, dtype=[np.float32, np.float64])
            except ValueError as err:
                raise ValueError(f"X_val: {err}. {_PIPELINE_WAY}") from err
            X_val = _as_float32("X_val", X_val)
            _warn_if_other_scale(X, X_val)
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
        self._n_train = len(train_idx)
        return data, weight

    def _set_fitted_attributes(self, continued: bool = False, incremental: bool = False) -> None:
        """The fitted attributes from ``history_`` (this call's). ``continued`` (a warm start,
        ``partial_fit``): ``loss_curve_``, ``validation_scores_`` and ``t_`` go on from the
        fitted model's, as in scikit-learn; ``incremental`` (``partial_fit``, one pass by
        design): no ConvergenceWarning."""
        self.model_.eval()
        self._check_converged()
        self.n_trainable_params_ = sum(
            p.numel() for p in self.model_.parameters() if p.requires_grad
        )
        records = self.history_.records
        # The model returned is that of the last phase (for GLAI, the path model): its scores.
        final = [r for r in records if r.phase == self.history_.final_phase]
        held = self._holdout
        self.best_validation_score_ = max((r.val_score for r in final), default=None)
        self.best_loss_ = min((r.train_loss for r in final), default=None)
        if held:
            self.best_loss_ = None
        else:
            self.best_validation_score_ = None
        self.fit_seconds_ = records[-1].seconds if records else 0.0
        self.n_iter_ = len(records)
        before = continued and hasattr(self, "t_")
        losses = [r.train_loss for r in records]
        self.loss_curve_ = (self.loss_curve_ if before else []) + losses
        earlier = getattr(self, "validation_scores_", None) if before else None
        self.validation_scores_ = (earlier or []) + [r.val_score for r in records] if held else None
        if records or not before:
            self.loss_ = losses[-1] if losses else None
        self.t_ = (self.t_ if before else 0) + self._samples_seen()
        if not incremental:
            for message in self._unconverged():
                # stacklevel: fit's caller (through _on_the_side and _fit)
                warnings.warn(message, ConvergenceWarning, stacklevel=6)

    def _samples_seen(self) -> int:
        """Training samples the solver went through in ``history_`` (scikit-learn's ``t_``):
        ``n_train`` per epoch of a gradient solver, the minibatches taken of an epoch that
        the structural phase ended early; a closed-form solve counts one pass."""
        n, records = self._n_train, self.history_.records
        counted = 0
        for phase in dict.fromkeys(r.phase for r in records):
            epochs = sum(r.phase == phase for r in records)
            if phase == "quantitative" and self._solved_in_closed_form():
                counted += n
            elif phase == "structural" and get_solver(self.optimizer).kind == "minibatch":
                steps = int(self.history_.events.get("structure_steps", 0))
                per_epoch = -(-n // self._batch_size)  # the last minibatch may be smaller
                full, rest = divmod(steps, per_epoch)
                counted += full * n + min(rest * self._batch_size, n)
            else:
                counted += epochs * n
        return counted

    def _solved_in_closed_form(self) -> bool:
        """Whether the quantitative phase that ran was a closed-form solve (GLAI only)."""
        return False

    def _unconverged(self) -> list[str]:
        """The messages of scikit-learn's ConvergenceWarning: ``max_iter`` stopped the last
        phase (a gradient one) before early stopping did."""
        records = self.history_.records
        if not records or self._max_iter == 0 or self._solved_in_closed_form():
            return []
        phase = records[-1].phase
        scores = [r.val_score for r in records if r.phase == phase]
        if len(scores) < self._max_iter or _stopped_early(scores, self._patience, self.tol):
            return []
        watched = "validation score" if self._holdout else "training loss"
        return [
            f"max_iter={self._max_iter} epochs stopped the {phase} phase before early stopping "
            f"did (its {watched} was still improving by more than tol={self.tol:g}); raise "
            "max_iter"
        ]

    @property
    def best_val_score_(self) -> float | None:
        """Deprecated name of ``best_validation_score_`` (removed in glai 0.3)."""
        warnings.warn(
            "best_val_score_ is deprecated (glai 0.2) and will be removed in glai 0.3: use "
            "best_validation_score_, scikit-learn's name",
            FutureWarning,
            stacklevel=2,
        )
        return self.best_validation_score_

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

    def _holdout_fraction(self, n: int) -> float:
        """The share of ``n`` training samples to hold out: none with
        ``early_stopping=False``; ``validation_fraction`` with True (``"auto"``: 0.1); with
        ``"auto"``, :func:`glai.params.holdout_fraction`."""
        if self.early_stopping is False:
            return 0.0
        if self.early_stopping is True and self.validation_fraction == params.AUTO:
            return params.AUTO_VALIDATION_FRACTION
        return params.holdout_fraction(self.validation_fraction, n)

    def _split(
        self, X: np.ndarray, target: np.ndarray, seed: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(X)
        idx = np.arange(n)
        fraction = self._holdout_fraction(n)
        n_val = int(round(fraction * n))
        if self.early_stopping is True and (n_val < 2 or n - n_val < 1):
            raise ValueError(
                f"early_stopping=True holds out validation_fraction={fraction:g} of {n} "
                f"samples: {n_val}, too few to score epochs by (at least 2); raise "
                "validation_fraction or pass X_val, y_val"
            )
        if n_val < 1 or n - n_val < 1:
            return X, target, idx
        stratify = self._stratify(target, n_val)
        tr, va = train_test_split(idx, test_size=n_val, random_state=seed, stratify=stratify)
        return X[va], target[va], np.sort(tr)

    def _config(self, lr: float | None = None, optimizer: str | None = None) -> TrainConfig:
        return TrainConfig(
            optimizer=optimizer or self.optimizer,
            lr=lr or self._lr,
            weight_decay=self._weight_decay,
            batch_size=self._batch_size,
            max_epochs=self._max_iter,
            patience=self._patience,
            tol=self.tol,  # of the validation score, or of the training loss: scikit-learn's
            shuffle=self.shuffle,
            l2=self.alpha,
        )

    def _fit_model(self, fit: _Fit) -> tuple[nn.Module, History]:
        """Build a new model of ``fit``'s widths and train it; returns it and its history."""
        raise NotImplementedError

    def _continue_model(self, fit: _Fit) -> History:
        """Train ``self.model_`` further on ``fit.data`` (warm start); returns the new history."""
        raise NotImplementedError

    def _validate_more(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """``X``, ``y`` of a later batch (``partial_fit``): the fitted features, and targets
        the fitted outputs take (a classifier's new labels are checked by its
        ``partial_fit``)."""
        self._check_describes_model("partial_fit")
        try:
            return self._validate_training_data(X, y, reset=False)
        except ValueError as err:
            raise ValueError(f"{err} (the fitted model takes that many)") from err

    # The parameters whose values the fitted model was built with: a warm start or a
    # partial_fit continues that model, so they may not have changed since (set_params).
    _model_params: tuple[str, ...] = ("hidden_layer_sizes",)

    def _model_description(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self._model_params}
        if "hidden_layer_sizes" in values:
            values["hidden_layer_sizes"] = as_widths(values["hidden_layer_sizes"])
        return values

    def _check_describes_model(self, how: str) -> None:
        """Refuse to continue the fitted model when a parameter in :attr:`_model_params`
        was changed since it was fitted: it would keep training the old model while
        ``get_params()`` reports another (a fitted model from before glai 0.2 is not checked)."""
        fitted = getattr(self, "_fitted_description", None)
        if fitted is None:
            return
        now = self._model_description()
        changed = [f"{k}: fitted with {fitted[k]!r}, now {now[k]!r}" for k in now
                   if k in fitted and now[k] != fitted[k]]  # fmt: skip
        if changed:
            raise ValueError(
                f"{how} continues the fitted model, but its parameters changed since it was "
                f"fitted ({'; '.join(changed)}): set them back, or refit with "
                "warm_start=False (fit builds a new model)"
            )

    # -- prediction ----------------------------------------------------------------------

    def _forward(self, X: Any) -> torch.Tensor:
        check_is_fitted(self)
        X = _as_float32("X", validate_data(self, X, reset=False, dtype=[np.float32, np.float64]))
        param = next(self.model_.parameters())
        x = torch.as_tensor(np.ascontiguousarray(X)).to(device=param.device, dtype=param.dtype)
        # float64: a row's prediction must not depend on the rows predicted with it (the
        # float32 product's summation order does; see predict_batched).
        return predict_batched(self.model_, (x,), dtype=torch.float64).cpu()

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
