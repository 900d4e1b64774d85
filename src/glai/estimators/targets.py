"""What classifiers and regressors do differently: targets, losses, scores, predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, validate_data

from glai.estimators.base import _as_float32, _Head
from glai.training import LossFn, ScoreFn
from glai.training.losses import accuracy, cross_entropy, r2, squared_error

__all__: list[str] = []


def _label_kind(labels: np.ndarray) -> str:
    """``"numbers"`` or ``"strings"`` (numpy strings, or objects that are all ``str``)."""
    if labels.dtype.kind in "USa":
        return "strings"
    if labels.dtype.kind == "O":
        return "strings" if all(isinstance(v, str) for v in labels.ravel()) else "objects"
    return "numbers"


class _ClassifierHead(ClassifierMixin, _Head):
    """Labels encoded as ``0 .. n_classes - 1``; cross-entropy on logits, accuracy."""

    _target_dtype = torch.long

    def _validate_training_data(
        self, X: Any, y: Any, reset: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        return validate_data(self, X, y, dtype=[np.float32, np.float64], reset=reset)

    def _unknown_labels(self, y: Any) -> np.ndarray:
        """Labels of ``y`` not in ``classes_``; a ValueError when they are of another kind
        than ``classes_`` (scikit-learn's rule: the string ``'1'`` is not the class ``1``).
        Comparing them would either duplicate every class (``['0', '1', '0', '1']``) or turn
        the fitted integer classes into strings."""
        y = np.asarray(y)
        if _label_kind(y) != _label_kind(self.classes_):
            raise ValueError(
                f"y has labels of type {y.dtype} ({_label_kind(y)}) but the model was fitted "
                f"on {self.classes_.dtype} labels ({_label_kind(self.classes_)}), classes_ = "
                f"{self.classes_[:10].tolist()}: give labels of the type it was fitted on"
            )
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
