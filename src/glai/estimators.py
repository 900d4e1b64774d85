"""scikit-learn estimators for feature matrices: GLAI heads and their MLP baselines.

All four share one training loop (:mod:`glai.training`) and the hyper-parameters that mean
the same thing, so ``GLAIClassifier`` and ``MLPHeadClassifier`` differ only in the model.
They follow the scikit-learn contract: ``__init__`` stores arguments, ``fit`` validates,
seeds, builds and sets the fitted attributes (names ending in ``_``).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from numbers import Integral, Real
from typing import Any, TypeVar, cast

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    validate_data,
)
from torch import nn

from glai.block import GLAI
from glai.mlp import MLP, as_widths
from glai.path_model import PathModel
from glai.solvers import ITERATIVE_KINDS, get_solver, solver_names
from glai.solvers.ridge import RidgeStatistics
from glai.structure import StopRule, StructureMonitor
from glai.training import (
    History,
    LossFn,
    ScoreFn,
    TrainConfig,
    fit_glai,
    fit_mlp,
    fit_new_outputs,
    fit_quantities,
    predict_batched,
    resolve_device,
)
from glai.training.config import AUTO
from glai.training.device import is_device
from glai.training.losses import accuracy, cross_entropy, r2, squared_error

__all__ = [
    "GLAIClassifier",
    "GLAIRegressor",
    "MLPHeadClassifier",
    "MLPHeadRegressor",
    "HEAD_DEFAULTS",
    "GLAI_DEFAULTS",
]

# Defaults, declared once. The loop's hyper-parameters default to TrainConfig's; scikit-learn
# needs every argument spelled out in __init__, so the signatures read their values from here.
_LOOP = TrainConfig()
HEAD_DEFAULTS: dict[str, Any] = {
    "hidden_layer_sizes": (256,),
    "optimizer": _LOOP.optimizer,
    "learning_rate": _LOOP.lr,
    "weight_decay": _LOOP.weight_decay,
    "batch_size": "auto",  # min(AUTO_BATCH_SIZE, n_train): enough steps per epoch on tiny data
    "max_epochs": _LOOP.max_epochs,
    "patience": _LOOP.patience,
    "tol": 1e-4,  # with no held-out data only: scikit-learn's MLPClassifier default
    "validation_fraction": "auto",  # see _holdout_fraction
    "device": "cpu",
    "random_state": None,
    "verbose": False,
    "warm_start": False,
}
GLAI_DEFAULTS: dict[str, Any] = {
    "rho": "auto",
    "budget": "match",
    "structure_rule": "relative",
    "structure_check_every": "auto",  # min(100 steps, one epoch)
    "probe_size": 2048,
    "quant_optimizer": AUTO,  # picked after the freeze (glai.solvers.auto)
    "quant_learning_rate": None,  # learning_rate / 3
    "quant_warmup_steps": _LOOP.warmup_steps,
    "quant_shrinkage": _LOOP.shrinkage,
    "prune_dead": True,
}
_H, _G = HEAD_DEFAULTS, GLAI_DEFAULTS

# batch_size="auto" = min(AUTO_BATCH_SIZE, n_train), as scikit-learn's MLP does with 200.
AUTO_BATCH_SIZE = _LOOP.batch_size
# validation_fraction="auto" holds out AUTO_VALIDATION_FRACTION of the training data only from
# AUTO_HOLDOUT_MIN_SAMPLES samples up (choice): below that a tenth is too few samples to rank
# epochs by (on 100 samples, 10; one sample is 10 points of accuracy) and costs a tenth of
# scarce data, so training uses every sample and stops on the training loss, as
# scikit-learn's MLPClassifier does by default.
AUTO_VALIDATION_FRACTION = 0.1
AUTO_HOLDOUT_MIN_SAMPLES = 2000
# structure_check_every="auto" (beyond the paper): check m_t every AUTO_CHECK_STEPS optimiser
# steps when an epoch is longer, else once per epoch. Measured (BENCHMARKS.md, "Freezing
# earlier"): on WordNet features (322 steps per epoch) the default rule then froze after ~5
# epochs instead of 12 at no measurable cost (-0.05 MVA points, 3 seeds), while freezing
# after 1 epoch cost 1.3 test points; a fixed step count would hold small data sets (a few
# steps per epoch) in the structural phase for many epochs, hence the cap at one epoch.
AUTO_CHECK_STEPS = 100


class _Device(Options):
    """A torch device: a ``torch.device``, ``"auto"``, or a string torch parses (``"cpu"``,
    ``"cuda:1"``). Whether CUDA is there is checked when fitting. (An ``Options`` only because
    scikit-learn's validation takes no other kind of custom constraint.)"""

    def __init__(self) -> None:
        super().__init__(object, set())

    def is_satisfied_by(self, val: object) -> bool:
        return is_device(val)

    def __str__(self) -> str:
        return "a torch device ('cpu', 'cuda', 'cuda:1', 'auto' or a torch.device)"


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
    _parameter_constraints: dict[str, list[Any]] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        # Networks train with a gradient solver; a path model may also be solved in closed form.
        "optimizer": [StrOptions(set(solver_names(ITERATIVE_KINDS)))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        # 0 continues nothing: allowed with warm_start on a fitted estimator
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="left")],
        "device": [_Device()],
        "random_state": ["random_state"],
        "verbose": ["boolean"],
        "warm_start": ["boolean"],
    }

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
        few samples to split, or ``"auto"`` below ``AUTO_HOLDOUT_MIN_SAMPLES``) every sample
        trains and training stops when the training loss has not fallen by more than ``tol``
        for ``patience`` epochs (scikit-learn's ``MLPClassifier`` rule); ``best_val_score_``
        is then None.

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
        auto = self.batch_size == "auto"
        self._batch_size = min(AUTO_BATCH_SIZE, len(train_idx)) if auto else int(self.batch_size)
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
        if self._holdout:
            return loss_fn, score_fn

        def minus_loss(out: torch.Tensor, y: torch.Tensor) -> float:
            return -float(loss_fn(out, y).mean())

        return loss_fn, minus_loss

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
        if self.validation_fraction == "auto":
            return AUTO_VALIDATION_FRACTION if n >= AUTO_HOLDOUT_MIN_SAMPLES else 0.0
        return float(self.validation_fraction)

    def _split(
        self, X: np.ndarray, target: np.ndarray, seed: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(X)
        idx = np.arange(n)
        n_val = int(round(self._holdout_fraction(n) * n))
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


class _ClassifierHead(ClassifierMixin, _Head):
    """Labels encoded as ``0 .. n_classes - 1``; cross-entropy on logits, accuracy."""

    _target_dtype = torch.long

    def _validate_training_data(
        self, X: Any, y: Any, reset: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        return validate_data(self, X, y, dtype=[np.float32, np.float64], reset=reset)

    def _unknown_labels(self, y: Any) -> np.ndarray:
        return np.setdiff1d(np.unique(y), self.classes_)

    def _check_continuable(self, y: np.ndarray) -> None:
        check_classification_targets(y)
        unknown = self._unknown_labels(y)
        if len(unknown):
            raise ValueError(
                f"y has labels the fitted model has no output for: {unknown[:10].tolist()}; "
                f"its classes are {self.classes_[:10].tolist()}. A warm start keeps the "
                "outputs: add classes with partial_fit or add_classes (GLAI heads, structure "
                "kept), or refit with warm_start=False"
            )


    def _encode_targets(self, y: Any, fitting: bool) -> np.ndarray:
        if fitting:
            check_classification_targets(y)
            self.classes_, encoded = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"y has only one class ({self.classes_[0]!r}): a classifier needs "
                    "samples of at least 2 classes"
                )
            return encoded.astype(np.int64)
        unknown = self._unknown_labels(y)
        if len(unknown):
            raise ValueError(f"y_val has labels not seen in y: {unknown[:10].tolist()}")
        # classes added later (GLAI's partial_fit) follow the others: classes_ may be unsorted
        order = np.argsort(self.classes_, kind="stable")
        return order[np.searchsorted(self.classes_, y, sorter=order)].astype(np.int64)

    def _n_outputs(self, target: np.ndarray) -> int:
        return len(self.classes_)

    def _losses(self) -> tuple[LossFn, ScoreFn]:
        return cross_entropy, accuracy

    def _stratify(self, target: np.ndarray, n_val: int) -> np.ndarray | None:
        # Stratify only when every class can appear on both sides of the split.
        counts = np.bincount(target)
        n_classes, n_train = len(counts), len(target) - n_val
        if counts.min() >= 2 and n_val >= n_classes and n_train >= n_classes:
            return target
        return None

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``[n_samples, n_classes]`` (softmax of the logits)."""
        return torch.softmax(self._forward(X).double(), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels ``[n_samples]``."""
        labels = self._forward(X).argmax(dim=1).numpy()
        return self.classes_[labels]


class _RegressorHead(RegressorMixin, _Head):
    """Targets standardised per column (``(y - mean) / std``); squared error, R^2."""

    _target_dtype = torch.float32

    def _validate_training_data(
        self, X: Any, y: Any, reset: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(
            self, X, y, dtype=[np.float32, np.float64], multi_output=True, y_numeric=True,
            reset=reset,
        )  # fmt: skip
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if reset:
            self._y_ndim = y.ndim  # predictions come back in the shape y had
        return X, y

    def _check_continuable(self, y: np.ndarray) -> None:
        n_targets = 1 if y.ndim == 1 else y.shape[1]
        if n_targets != len(self._y_mean):
            raise ValueError(
                f"y has {n_targets} targets, the fitted model {len(self._y_mean)}: a warm start "
                "keeps the outputs; refit with warm_start=False"
            )


    def _validate_y_val(self, y_val: Any) -> np.ndarray:
        try:
            y_val = check_array(y_val, ensure_2d=False, dtype=np.float64, input_name="y_val")
        except ValueError as err:
            raise ValueError(f"y_val: {err}") from err
        columns = 1 if y_val.ndim == 1 else y_val.shape[1]
        if y_val.ndim > 2 or columns != len(self._y_mean):
            raise ValueError(
                f"y_val has {columns} target column(s) but y has {len(self._y_mean)}: give "
                "y_val the shape y had"
            )
        return y_val

    def _encode_targets(self, y: Any, fitting: bool) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        y2 = y.reshape(len(y), -1)
        if fitting:
            self._y_mean = y2.mean(axis=0)
            self._y_scale = y2.std(axis=0)
            self._y_scale[self._y_scale == 0] = 1.0
        name = "y" if fitting else "y_val"
        if not (np.isfinite(self._y_mean).all() and np.isfinite(self._y_scale).all()):
            raise ValueError(
                f"{name} is too large to standardise in float64 (its mean or spread overflows); "
                "rescale it"
            )
        return _as_float32(name, (y2 - self._y_mean) / self._y_scale)

    def _n_outputs(self, target: np.ndarray) -> int:
        return target.shape[1]

    def _losses(self) -> tuple[LossFn, ScoreFn]:
        return squared_error, r2

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``[n_samples]`` (or ``[n_samples, n_targets]``)."""
        out = self._forward(X).double().numpy() * self._y_scale + self._y_mean
        return out.ravel() if self._y_ndim == 1 else out


class _MLPMixin(_Head):
    """The baseline: the MLP ``n_features -> hidden_layer_sizes -> n_outputs``."""

    def _fit_model(
        self,
        data: tuple[torch.Tensor, ...],
        weight: torch.Tensor | None,
        n_out: int,
        n_in: int,
        device: torch.device,
        generator: torch.Generator,
    ) -> tuple[nn.Module, History]:
        model = MLP(n_in, self._hidden, n_out, device=device)
        loss_fn, score_fn = self._train_losses()
        history = fit_mlp(
            model, *data, loss_fn=loss_fn, score_fn=score_fn, config=self._config(),
            generator=generator, sample_weight=weight, verbose=self.verbose,
        )  # fmt: skip
        return model, history

    def _continue_model(
        self,
        data: tuple[torch.Tensor, ...],
        weight: torch.Tensor | None,
        generator: torch.Generator,
    ) -> History:
        loss_fn, score_fn = self._train_losses()
        return fit_mlp(
            self.model_, *data, loss_fn=loss_fn, score_fn=score_fn, config=self._config(),
            generator=generator, sample_weight=weight, verbose=self.verbose,
        )  # fmt: skip


class MLPHeadClassifier(_MLPMixin, _ClassifierHead):
    """ReLU MLP classification head (the baseline GLAI replaces), trained by glai's loop.

    Fitted attributes: ``classes_``, ``n_features_in_``, ``model_`` (a :class:`glai.MLP`),
    ``history_``, ``n_trainable_params_``, ``best_val_score_``, ``fit_seconds_``.
    ``warm_start=True``: a second ``fit`` continues from the fitted weights.
    """


class MLPHeadRegressor(_MLPMixin, _RegressorHead):
    """ReLU MLP regression head (the baseline GLAI replaces); targets are standardised."""


_G_EST = TypeVar("_G_EST", bound="_GLAIMixin")


class _GLAIMixin(_Head):
    """GLAI head: structural phase, freeze, quantitative phase."""

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
        quant_learning_rate: float | None = _G["quant_learning_rate"],
        quant_warmup_steps: int = _G["quant_warmup_steps"],
        quant_shrinkage: float = _G["quant_shrinkage"],
        prune_dead: bool = _G["prune_dead"],
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
        super().__init__(
            hidden_layer_sizes, optimizer=optimizer, learning_rate=learning_rate,
            weight_decay=weight_decay, batch_size=batch_size, max_epochs=max_epochs,
            patience=patience, tol=tol, validation_fraction=validation_fraction, device=device,
            random_state=random_state, verbose=verbose, warm_start=warm_start,
        )  # fmt: skip
        self.rho = rho
        self.budget = budget
        self.structure_rule = structure_rule
        self.structure_check_every = structure_check_every
        self.probe_size = probe_size
        self.quant_optimizer = quant_optimizer
        self.quant_learning_rate = quant_learning_rate
        self.quant_warmup_steps = quant_warmup_steps
        self.quant_shrinkage = quant_shrinkage
        self.prune_dead = prune_dead

    def _check_every(self, n_train: int) -> int | None:
        """Optimiser steps between two checks of ``m_t``: ``structure_check_every``, where
        ``"auto"`` means every :data:`AUTO_CHECK_STEPS` steps when an epoch is longer, else
        once per epoch (None)."""
        if self.structure_check_every != "auto":
            return self.structure_check_every  # type: ignore[return-value]
        steps_per_epoch = -(-n_train // self._batch_size)
        return AUTO_CHECK_STEPS if steps_per_epoch > AUTO_CHECK_STEPS else None

    def _quant_solver(self, *, rows_only: bool = False) -> str:
        """The quantitative solver to run now: the one that ran, once fitted (``"ridge"`` for
        ``rows_only`` updates of a closed form, which re-solve the kept statistics exactly:
        the polish of ``"ridge-ce"`` needs every row); before, ``quant_optimizer``, with
        ``"auto"`` kept for :func:`glai.fit_glai` to resolve after the freeze, except that it
        means ``"adam"`` when no data are held out (choice: the closed form picks its penalty
        on validation data, and on the training loss would always pick the weakest)."""
        fitted = getattr(self, "quant_optimizer_", None)
        if fitted is not None:
            closed = get_solver(fitted).kind == "closed_form"
            return "ridge" if rows_only and closed else fitted
        if self.quant_optimizer == AUTO and not self._holdout:
            return "adam"
        return self.quant_optimizer

    def _quant_config(self, *, rows_only: bool = False) -> TrainConfig:
        quant_lr = self.quant_learning_rate or self.learning_rate / 3
        config = self._config(lr=quant_lr, optimizer=self._quant_solver(rows_only=rows_only))
        config.warmup_steps = self.quant_warmup_steps
        config.shrinkage = self.quant_shrinkage
        return config

    def _closed_form(self) -> bool:
        """Whether the quantitative phase may be solved in closed form (``"auto"``: maybe)."""
        solver = self._quant_solver()
        return solver == AUTO or get_solver(solver).kind == "closed_form"

    def _fit_model(
        self,
        data: tuple[torch.Tensor, ...],
        weight: torch.Tensor | None,
        n_out: int,
        n_in: int,
        device: torch.device,
        generator: torch.Generator,
    ) -> tuple[nn.Module, History]:
        X = data[0]
        if not self._hidden:
            raise ValueError(
                "hidden_layer_sizes must hold at least one width: GLAI's gates are the ReLUs "
                "of the hidden layers, got ()"
            )
        model = GLAI(
            n_in, self._hidden, n_out, rho=self.rho, budget=self.budget,
            prune_dead=self.prune_dead, device=device,
        )  # fmt: skip
        probe_idx = torch.randperm(X.shape[0], generator=generator)[: self.probe_size]
        monitor = StructureMonitor(
            X[probe_idx.to(X.device)], rule=self.structure_rule,
            check_every=self._check_every(X.shape[0]),
        )  # fmt: skip
        loss_fn, score_fn = self._train_losses()
        self.quant_optimizer_ = None  # a refit chooses again
        config = self._quant_config()
        # kept for partial_fit and new classes; bound to the paths at the freeze
        stats = RidgeStatistics() if self._closed_form() else None
        history = fit_glai(
            model, *data, loss_fn=loss_fn, score_fn=score_fn, structural=self._config(),
            quantitative=config, monitor=monitor, generator=generator, sample_weight=weight,
            statistics=stats, verbose=self.verbose,
        )  # fmt: skip
        self.structure_frozen_epoch_ = int(history.events["structure_frozen_epoch"])
        self.path_distance_ = list(monitor.history)
        self.path_distance_steps_ = list(monitor.steps)
        self.structure_steps_ = int(history.events.get("structure_steps", 0))
        self.path_model_ = model.path_model
        self.quant_optimizer_ = history.choices.get("quant_optimizer", config.optimizer)
        self._keep_statistics(history, stats, config)
        return model, history
    def _keep_statistics(
        self, history: History, stats: RidgeStatistics | None, config: TrainConfig
    ) -> None:
        closed = get_solver(str(self.quant_optimizer_)).kind == "closed_form"
        self.ridge_statistics_ = stats if closed else None
        choice = history.events.get("closed_form_choice")
        self.alpha_ = None
        if closed and stats is not None and choice is not None:
            scores = [r.val_score for r in history.records if r.phase == "quantitative"]
            first = 1 if self.quant_optimizer_ == "ridge-ce" else 0  # ridge-ce: init first
            ridge = scores[first : first + len(config.alphas)]
            # the penalty of the candidate kept; past the ridge candidates (the init, or the
            # polish), that of the best ridge solution, which the polish used
            i = int(choice) - first
            if not 0 <= i < len(config.alphas):
                i = max(range(len(ridge)), key=lambda j: (ridge[j], -j))
            self.alpha_ = config.alphas[i]

    def _frozen_paths(self) -> PathModel:
        path_model = self.model_.path_model
        assert isinstance(path_model, PathModel)
        return path_model

    def _continue_model(
        self,
        data: tuple[torch.Tensor, ...],
        weight: torch.Tensor | None,
        generator: torch.Generator,
    ) -> History:
        """Warm start: the quantitative phase again on ``data``, structure kept; a gradient
        solver starts from the path weights, a closed-form one re-solves on ``data`` alone."""
        history = History()  # max_epochs=0: nothing to train, the model stays as it is
        if self.max_epochs > 0:
            path_model, config = self._frozen_paths(), self._quant_config()
            stats = RidgeStatistics(path_model) if self._closed_form() else None
            loss_fn, score_fn = self._train_losses()
            history = fit_quantities(
                path_model, *data, loss_fn=loss_fn, score_fn=score_fn, config=config,
                generator=generator, sample_weight=weight, statistics=stats,
                verbose=self.verbose,
            )  # fmt: skip
            self._keep_statistics(history, stats, config)
        history.events["structure_frozen_epoch"] = 0
        self.structure_frozen_epoch_ = 0
        return history

    def _validate_more(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """``X``, ``y`` of a later batch: the fitted features, and targets the fitted outputs
        take (a classifier's new labels are checked by its ``partial_fit``)."""
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
        sw = None if sample_weight is None else _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )  # fmt: skip
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
            sample_weight=weight, statistics=self.ridge_statistics_, verbose=self.verbose,
        )  # fmt: skip
        history.events["structure_frozen_epoch"] = 0
        self.history_, self.structure_frozen_epoch_ = history, 0
        self._set_fitted_attributes()




_GLAI_CONSTRAINTS: dict[str, list[Any]] = {
    "rho": [StrOptions({"auto"}), Interval(Real, 1, None, closed="left")],
    "budget": [StrOptions({"match"}), Interval(Integral, 1, None, closed="left"), None],
    "structure_rule": [StrOptions({"threshold", "relative", "window", "epochs"}), StopRule],
    "structure_check_every": [
        StrOptions({"auto"}), Interval(Integral, 1, None, closed="left"), None
    ],
    "probe_size": [Interval(Integral, 1, None, closed="left")],
    "quant_optimizer": [StrOptions({AUTO, *solver_names()})],
    "quant_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
    "quant_warmup_steps": [Interval(Integral, 0, None, closed="left")],
    "quant_shrinkage": [Interval(Real, 0, None, closed="left")],
    "prune_dead": ["boolean"],
}

_GLAI_DOC = """
    GLAI-specific arguments:
        rho: reduction factor of the structural widths, or ``"auto"`` (the widest structure
            whose paths all fit ``budget``).
        budget: trainable parameters of the paths: ``"match"`` (the MLP ``hidden_layer_sizes``
            would have), an int, or None.
        structure_rule: when the structure is stable: a :class:`glai.StopRule` or its kind.
        structure_check_every: optimiser steps between two measurements of ``m_t`` (the rule
            then counts checks and may stop the structural phase mid-epoch), None for one
            check per epoch (the paper's), or ``"auto"`` (default, **beyond the paper**): every
            100 steps where an epoch has more, else once per epoch; see
            :class:`glai.StructureMonitor`.
        probe_size: training inputs on which ``m_t`` is measured and dead paths are found.
        quant_optimizer: the quantitative phase's solver, a name of
            :data:`glai.solvers.SOLVERS` or ``"auto"`` (default; ours, beyond the paper): after
            the freeze, the closed form (``"ridge-ce"`` for a classifier: ridge, then a
            cross-entropy polish; ``"ridge"`` for a regressor) where its counted work is at
            most what Adam spends to its best epoch, else ``"adam"`` (:mod:`glai.solvers.auto`,
            measured in BENCHMARKS.md); ``"adam"`` also when no data are held out for
            validation (the closed form picks its penalty on them). The choice is in
            ``quant_optimizer_``; ``partial_fit`` after ``"ridge-ce"`` re-solves the ridge
            part exactly on the kept statistics (the polish needs every row).
        quant_learning_rate: Adam's learning rate in the quantitative phase (default
            ``learning_rate / 3``: the convex phase wanted 3-10x smaller steps).
        quant_warmup_steps, quant_shrinkage: **(beyond the paper)** a linear learning-rate
            warm-up over the quantitative phase's first steps, and a penalty
            ``quant_shrinkage / 2 * ||w - w_init||^2`` toward the frozen network's own path
            weights (:class:`glai.training.TrainConfig` ``warmup_steps``, ``shrinkage``).
        prune_dead: drop paths whose gate never opens on the probe.

    Fitted attributes (beyond the MLP heads'): ``quant_optimizer_`` (the solver that ran),
    ``structure_frozen_epoch_``,
    ``structure_steps_`` (optimiser steps of the structural phase), ``path_distance_`` (the
    ``m_t`` history) and ``path_distance_steps_`` (the step of each ``m_t``), ``path_model_``
    (a :class:`glai.PathModel`); with a closed-form ``quant_optimizer``, ``ridge_statistics_``
    (the :class:`~glai.solvers.ridge.RidgeStatistics` of every row solved on: ``D x D`` per
    path set, float64) and ``alpha_`` (the penalty chosen on validation), else None.

    Retraining, structure frozen: ``warm_start=True`` (a second ``fit`` re-solves the
    quantitative phase only), ``partial_fit`` (batches; exact with the closed form) and, for
    the classifier, new classes (``partial_fit`` with new labels, ``add_classes``).
"""



class GLAIClassifier(_GLAIMixin, _ClassifierHead):
    _parameter_constraints = {**_Head._parameter_constraints, **_GLAI_CONSTRAINTS}

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> GLAIClassifier:
        """Update on one batch, the structure frozen; labels not in ``classes_`` add classes.

        ``classes``: every class to expect (scikit-learn's convention); those not in ``y``
        nor ``classes_`` get outputs at once. The first call on an unfitted estimator is
        ``fit(X, y)``, structural phase included, on this batch alone. On later calls, a
        batch with new labels (or new ``classes``) goes to :meth:`add_classes`: the existing
        outputs are left as they are; any other batch updates every output (see
        :meth:`GLAIRegressor.partial_fit`: one re-solve with the closed form, exact over
        chunks; one epoch with a gradient solver).
        """
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
    ) -> GLAIClassifier:
        """Add the classes of ``y`` (and ``classes``) not in ``classes_`` to a fitted head.

        Each output owns its paths, so new classes get new paths on the frozen gates
        (:func:`glai.path_model.new_outputs`), fitted alone: the existing outputs' logits
        stay bit-identical. ``classes_`` grows; the new classes follow the old, sorted.

        * closed-form ``quant_optimizer``: every row of ``X`` joins ``ridge_statistics_``,
          which already hold the rows the old outputs were solved on, so the new outputs
          also learn to stay at 0 on the old classes; they are solved at ``alpha_``.
        * a gradient solver: the new outputs are trained (``max_epochs``, early stopping on
          ``(X_val, y_val)`` or a ``validation_fraction`` split) against the fixed logits of
          the old ones. ``(X, y)`` should hold samples of the old classes as well (replay),
          or the new classes learn to win everywhere.

        A later ``partial_fit`` without new labels (closed form) re-solves every output on
        all the rows seen: the full refit on the frozen structure.
        """
        check_is_fitted(self)
        X, y = self._validate_more(X, y)
        check_classification_targets(y)
        wanted = np.unique(y) if classes is None else np.union1d(np.unique(classes), y)
        new = self._unknown_labels(wanted)
        if not len(new):
            raise ValueError(
                f"y has no class beyond classes_ {self.classes_[:10].tolist()}: update the "
                "existing outputs with partial_fit, or fit with warm_start=True"
            )
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        sw = None if sample_weight is None else _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )  # fmt: skip
        self._on_the_side(lambda work: work._fit_new_classes(X, y, sw, X_val, y_val, new))
        return self

    def _fit_new_classes(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sw: np.ndarray | None,
        X_val: Any,
        y_val: Any,
        new: np.ndarray,
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
        loss_fn, score_fn = self._train_losses()
        joined, history = fit_new_outputs(
            self._frozen_paths(), len(new), *data, loss_fn=loss_fn, score_fn=score_fn,
            config=config, generator=torch.Generator().manual_seed(seed),
            sample_weight=weight, statistics=self.ridge_statistics_, verbose=self.verbose,
        )  # fmt: skip
        cast(GLAI, self.model_).set_path_model(joined)
        self.path_model_ = joined
        history.events["structure_frozen_epoch"] = 0
        history.events["classes_added"] = new.tolist()
        self.history_, self.structure_frozen_epoch_ = history, 0
        self._set_fitted_attributes()


class GLAIRegressor(_GLAIMixin, _RegressorHead):
    _parameter_constraints = {**_Head._parameter_constraints, **_GLAI_CONSTRAINTS}

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
        return self._partial_fit(X, y, sample_weight)


GLAIClassifier.__doc__ = (
    "GLAI classification head, a drop-in for :class:`MLPHeadClassifier` (and scikit-learn's "
    "``MLPClassifier``) on feature matrices.\n" + _GLAI_DOC
)
GLAIRegressor.__doc__ = "GLAI regression head (targets are standardised).\n" + _GLAI_DOC
