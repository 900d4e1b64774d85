"""The retraining bench (glai_bench.protocols.retrain) end to end on tiny data: each scenario's
runs, their statistics and report; the corruption of a shifted domain."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from glai_bench import data as data_mod
from glai_bench.bench import run_bench
from glai_bench.data import RawData
from glai_bench.datasets import corrupt_images
from glai_bench.protocols.retrain import RETRAIN_MODELS, retrain_data
from glai_bench.settings import SETTINGS, RetrainSetting, Setting


def _digits(setting: Setting) -> RawData:
    X, y = load_digits(return_X_y=True)
    return RawData(X[:1200], y[:1200], X[1200:], y[1200:], {"source": "sklearn-digits"})


def _noisy_digits(setting: Setting) -> RawData:
    raw = _digits(setting)
    rng = np.random.default_rng(0)
    noisy = raw.X_train + rng.normal(0, 4, raw.X_train.shape)
    return RawData(noisy, raw.y_train, raw.X_test + 4, raw.y_test, {"source": "noisy-digits"})


TINY = RetrainSetting(
    name="tiny-retrain", description="sklearn digits, raw 64-d", dataset="digits",
    val_fraction=0.2, hidden=(16,), max_epochs=4, seeds=2, shift="noise-4", first_classes=6,
)  # fmt: skip


@pytest.fixture
def loaders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(data_mod.LOADERS, "digits", _digits)
    monkeypatch.setitem(data_mod.LOADERS, "digits-shifted", _noisy_digits)


@pytest.mark.parametrize(
    "scenario",
    [pytest.param("halves", marks=pytest.mark.slow), pytest.param("shift", marks=pytest.mark.slow),
     "classes"],
)  # fmt: skip
def test_each_scenario_runs_and_reports(scenario: str, loaders: None, tmp_path: Path) -> None:
    setting = replace(TINY, scenario=scenario)
    report = run_bench(setting, out=tmp_path, progress=False, command="glai bench tiny")
    runs = report["runs"]
    assert [r["model"] for r in runs] == list(RETRAIN_MODELS[scenario]) * 2
    assert {r["seed"] for r in runs} == {0, 1}
    comparisons = report["aggregates"]["comparisons"]
    assert set(comparisons) == set(RETRAIN_MODELS[scenario]) - {"mlp"}
    for run in runs:
        assert 0 <= run["test_accuracy"] <= 1 and run["fit_seconds"] > 0
        if run["model"] in ("glai-warm", "glai-add-classes", "glai-add-refit"):
            assert run["structure_frozen_epoch"] == 0  # no structural phase again
            assert all(h["phase"] == "quantitative" for h in run["history"])
    text = Path(report["files"]["markdown"]).read_text()
    assert "glai bench tiny" in text
    for name in RETRAIN_MODELS[scenario]:  # every run has its row (none taken for a size scan)
        assert f"| {name} |" in text


def test_scenarios_split_the_data_as_said(loaders: None) -> None:
    first, second = retrain_data(replace(TINY, scenario="classes"), progress=False)
    assert first.y_train.max() == 5 and second.y_train.max() == 9
    assert np.isin(first.y_test, np.arange(6)).all()
    first, second = retrain_data(replace(TINY, scenario="halves"), progress=False)
    assert len(first.y_train) == len(second.y_train) // 2
    np.testing.assert_allclose(first.X_train.mean(0), 0, atol=1e-5)  # the first's scaler
    first, second = retrain_data(replace(TINY, scenario="shift"), progress=False)
    assert len(first.y_train) == len(second.y_train)
    np.testing.assert_array_equal(first.y_train, second.y_train)  # the same samples, shifted
    assert abs(second.X_test.mean()) > 0.1  # not re-standardised on the shifted domain


def test_retrain_settings_are_data() -> None:
    names = [n for n, s in SETTINGS.items() if isinstance(s, RetrainSetting)]
    assert {s.scenario for n, s in SETTINGS.items() if n in names} == set(RETRAIN_MODELS)
    for name in names:
        s = SETTINGS[name]
        assert s.seeds >= 5 and s.quick_variant().seeds < s.seeds and s.head_kwargs() == {}


def test_corrupt_images() -> None:
    x = np.full((3, 8, 8), 128, np.uint8)
    noisy = corrupt_images(x, "noise-0.2", seed=1)
    assert noisy.dtype == np.uint8 and noisy.std() > 10
    np.testing.assert_array_equal(noisy, corrupt_images(x, "noise-0.2", seed=1))
    x[:, 4, 4] = 255
    blurred = corrupt_images(x, "blur-1")
    assert blurred[0, 4, 4] < 255 and blurred[0, 4, 5] > 128
    with pytest.raises(ValueError, match="'noise-S' or 'blur-S'"):
        corrupt_images(x, "rain-1")
