"""fit_head refuses what the estimators refuse (glai.validation, one implementation), takes
numpy arrays, and builds its model on the CPU from the seed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch

import glai.run as run_module
from glai.run import RunConfig, fit_head

RUN = RunConfig(model="glai", hidden=(8,), batch_size=16, max_epochs=2, patience=None,
                probe_size=32, lr=1e-2, seed=1)  # fmt: skip


def _data(n: int = 60, d: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n + 20, d)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return {"X": X[:n], "y": y[:n], "X_val": X[n:], "y_val": y[n:]}


def _fit(d: dict[str, Any], config: RunConfig = RUN, **kw: Any) -> Any:
    return fit_head(config, d["X"], d["y"], d["X_val"], d["y_val"], **kw)


def _with(name: str, value: Any) -> dict[str, Any]:
    return {**_data(), name: value}


def _poisoned(name: str, value: float, dtype: Any = np.float64) -> np.ndarray:
    a = _data()[name].astype(dtype)
    a.flat[3] = value
    return a


@pytest.mark.parametrize("name", ["X", "X_val"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e39])
def test_non_finite_or_beyond_float32_features_are_refused(name: str, value: float) -> None:
    # Used to exit 0 with a NaN model written.
    match = "beyond float32" if value == 1e39 else "NaN|infinity"
    with pytest.raises(ValueError, match=rf"{name}.*({match})"):
        _fit(_with(name, _poisoned(name, value)))


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e39])
def test_non_finite_regression_targets_are_refused(value: float) -> None:
    d = _data()
    d["y"], d["y_val"] = d["X"][:, 0] * 2.0, d["X_val"][:, 0] * 2.0
    for name in ("y", "y_val"):
        bad = {**d, name: d[name].astype(np.float64)}
        bad[name][2] = value
        with pytest.raises(ValueError, match=rf"^{name} (holds NaN|has values beyond float32)"):
            _fit(bad, replace(RUN, model="mlp"))


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (np.full(60, np.nan), "sample_weight: Input sample_weight contains NaN"),
        (-np.ones(60), r"sample_weight holds negative weights \(e.g. -1\)"),
        (np.ones(59), r"sample_weight has shape \(59,\), expected \(60,\)"),
        (np.zeros(60), "sample_weight: every weight is zero"),
    ],
)
def test_bad_sample_weights_are_refused(weights: np.ndarray, match: str) -> None:
    # All of these used to be accepted (all negative trained nothing).
    with pytest.raises(ValueError, match=match):
        _fit(_data(), sample_weight=weights)


def test_x_val_of_another_width_is_refused_before_training(monkeypatch: Any) -> None:
    # Used to fail with a matmul error after the first epoch.
    monkeypatch.setattr(run_module, "fit_glai", _never)
    d = _data()
    with pytest.raises(ValueError, match="X_val has 3 features but the training data X has 4"):
        _fit({**d, "X_val": d["X_val"][:, :3]})


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.array(["a", "b", "c"] * 20), "y must hold integer class labels 0 .. K-1"),
        (np.arange(60) % 3 - 1, r"y holds negative labels \(e.g. -1\)"),
    ],
)
def test_string_or_negative_labels_are_refused(labels: np.ndarray, match: str) -> None:
    # Used to be a raw TypeError / IndexError.
    with pytest.raises(ValueError, match=match):
        _fit(_with("y", labels))


def test_validation_labels_the_training_data_has_not_are_refused() -> None:
    d = _data()
    y_val = d["y_val"].copy()
    y_val[0] = 7
    with pytest.raises(ValueError, match=r"y_val has labels not seen in y: \[7\]"):
        _fit({**d, "y_val": y_val})


@pytest.mark.parametrize("name", ["X", "X_val"])
def test_empty_data_is_refused(name: str) -> None:
    # Used to be a max() error.
    d = _data()
    d[name] = d[name][:0]
    d["y" if name == "X" else "y_val"] = d["y" if name == "X" else "y_val"][:0]
    with pytest.raises(ValueError, match=rf"{name}: Found array with 0 sample"):
        _fit(d)


def test_more_processes_than_training_rows_is_refused(monkeypatch: Any) -> None:
    monkeypatch.setattr(run_module, "rank_and_world", lambda: (0, 4))
    monkeypatch.setattr(run_module, "shard_offset", lambda n, world: (0, 3))  # 3 rows in all
    d = _data(n=1)
    with pytest.raises(ValueError, match="3 training rows for 4 processes"):
        _fit(d)


def test_numpy_arrays_train_what_tensors_train() -> None:
    # fit_head used to take tensors only (a TypeError on numpy arrays).
    d = _data()
    from_numpy, _ = _fit(d)
    t = {k: torch.from_numpy(v) for k, v in d.items()}
    from_tensors, _ = _fit(t)
    for (name, a), b in zip(from_numpy.state_dict().items(), from_tensors.state_dict().values()):
        assert torch.equal(a, b), name


def _never(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("training started before the input was checked")
