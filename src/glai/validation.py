"""Checks of the data every entry point trains on: the estimators, ``fit_head`` and ``glai train``.

One implementation, so that each surface refuses the same inputs with the same message, naming
the argument (``X``, ``X_val``, ``y``, ``sample_weight``...) and what was expected:

* features: two-dimensional, at least one row, numbers, finite, and within float32's range
  (the heads compute in float32; a larger value would become inf) -- scikit-learn's
  ``check_array`` plus :func:`as_float32`;
* sample weights: one per row, finite, non-negative, and not all zero;
* integer class labels ``0 .. K-1`` where no label encoder is in between (``fit_head``);
* a validation set given as a pair.

The estimators call scikit-learn's ``validate_data`` (it also tracks ``n_features_in_`` and
feature names) and then these; ``fit_head`` calls :func:`check_features`, which is the same
``check_array`` with the width checked against the training data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_array

__all__ = [
    "as_float32",
    "check_class_labels",
    "check_features",
    "check_pair",
    "check_sample_weight",
    "check_targets",
]

_F32_MAX = float(np.finfo(np.float32).max)


def as_float32(name: str, a: Any) -> np.ndarray:
    """``a`` as float32, refusing values that only float64 could hold (they would become inf)."""
    with np.errstate(over="ignore", invalid="ignore"):  # what overflows is refused below
        a32 = np.asarray(a, dtype=np.float32)
    if not np.isfinite(a32).all():
        raise ValueError(
            f"{name} has values beyond float32's range (|value| > {_F32_MAX:.3g}), which the "
            "heads compute in; rescale it (e.g. with StandardScaler)"
        )
    return a32


def check_features(name: str, X: Any, n_features: int | None = None) -> np.ndarray:
    """``X [n, n_features]`` as float32: at least one row, finite numbers within float32.

    Args:
        name: the argument's name in messages (``"X"``, ``"X_val"``, ``"--data X"``...).
        n_features: the width the training data has (``None``: ``X`` is the training data).
    """
    try:
        X = check_array(X, dtype=[np.float32, np.float64], input_name=name)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from err
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features but the training data X has {n_features}"
        )
    return as_float32(name, X)


def check_sample_weight(
    sample_weight: Any, X: np.ndarray | int, *, allow_all_zero: bool = False
) -> np.ndarray | None:
    """``sample_weight [n]`` as float64 (``None`` stays ``None``): one finite, non-negative
    weight per row of ``X`` (or of ``X`` rows, an int), not all zero (unless
    ``allow_all_zero``: a caller that decides it over several shards)."""
    if sample_weight is None:
        return None
    n = X if isinstance(X, int) else len(X)
    try:
        sw = check_array(sample_weight, ensure_2d=False, dtype=np.float64,
                         input_name="sample_weight", ensure_min_samples=0)  # fmt: skip
    except ValueError as err:
        raise ValueError(f"sample_weight: {err}") from err
    if sw.shape != (n,):
        raise ValueError(
            f"sample_weight has shape {sw.shape}, expected ({n},): one weight per row of X"
        )
    if (sw < 0).any():
        raise ValueError(
            f"sample_weight holds negative weights (e.g. {sw.min():g}): weights must be >= 0"
        )
    if not allow_all_zero and not sw.sum() > 0:
        raise ValueError(
            "sample_weight: every weight is zero, so no sample would train; give some rows a "
            "positive weight"
        )
    return sw


def check_pair(x_name: str, x: Any, y_name: str, y: Any) -> None:
    """A ValueError unless ``x`` and ``y`` are both given or both absent (``None``)."""
    if (x is None) != (y is None):
        given, missing = (x_name, y_name) if y is None else (y_name, x_name)
        raise ValueError(f"{given} was given without {missing}: give both, or neither")


def check_class_labels(name: str, y: Any, n_rows: int) -> np.ndarray:
    """Class labels ``[n_rows]`` as int64 ``0 .. K-1``, for entry points without a label
    encoder (``fit_head``): integers (or integral floats would be regression, so no), not
    negative, one per row."""
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must hold integer class labels 0 .. K-1 (classification) or floats "
            f"(regression), got dtype {y.dtype}; encode string labels first (e.g. with "
            "sklearn.preprocessing.LabelEncoder), or use GLAIClassifier, which takes any labels"
        )
    _check_rows(name, y, n_rows, ndim=(1,))
    if y.size and y.min() < 0:
        raise ValueError(
            f"{name} holds negative labels (e.g. {int(y.min())}): classes are 0 .. K-1"
        )
    return y.astype(np.int64, copy=False)


def check_targets(name: str, y: Any, n_rows: int) -> np.ndarray:
    """Regression targets ``[n_rows]`` or ``[n_rows, k]`` as float32: finite, within float32."""
    y = np.asarray(y)
    if y.dtype.kind != "f":
        raise ValueError(f"{name} must hold floating regression targets, got dtype {y.dtype}")
    _check_rows(name, y, n_rows, ndim=(1, 2))
    if np.isnan(y).any() or np.isinf(y).any():
        raise ValueError(f"{name} holds NaN or infinite values")
    return as_float32(name, y)


def _check_rows(name: str, y: np.ndarray, n_rows: int, ndim: tuple[int, ...]) -> None:
    if y.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimension(s), got "
                         f"shape {y.shape}")  # fmt: skip
    if len(y) != n_rows:
        raise ValueError(f"{name} has {len(y)} rows but its features have {n_rows}")
