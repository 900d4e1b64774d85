"""Tests for the SimCLR bench: augmentation, cached views, probes, the run end to end on a tiny
image data set (scikit-learn's 8x8 digits as uint8 images, raw pixels as features, so no
backbone) and through the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits

from glai_bench import cli
from glai_bench import data as data_mod
from glai_bench import settings as settings_mod
from glai_bench.bench import run_bench
from glai_bench.data import RawData
from glai_bench.probes import knn_accuracy
from glai_bench.protocols.ssl import compare_heads, ssl_verdict
from glai_bench.settings import SETTINGS, Setting, SSLSetting, get_setting
from glai_bench.views import augment, load_views

PNG = b"\x89PNG\r\n\x1a\n"


def digit_images(setting: Setting) -> RawData:
    X, y = load_digits(return_X_y=True)
    images = (X.reshape(-1, 8, 8) * 15).astype(np.uint8)
    return RawData(images[:1400], y[:1400], images[1400:], y[1400:], {"source": "digits-img"})


TINY = SSLSetting(
    name="tiny-ssl",
    description="sklearn digits as 8x8 images, raw pixels",
    dataset="digit-images",
    val_fraction=0.2,
    n_train=150,
    n_val=60,
    n_test=100,
    n_views=3,
    hidden=(16,),
    out_features=8,
    ssl_max_epochs=6,
    batch_size=64,
    seeds=2,
    quick={"n_train": 100, "seeds": 2, "ssl_max_epochs": 4},
)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    out = tmp_path_factory.mktemp("ssl")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(data_mod.LOADERS, "digit-images", digit_images)
        report = run_bench(
            TINY, out=out, cache_dir=out / "cache", progress=False, command="glai bench tiny-ssl"
        )
    yield report, out


# -- augmentation ------------------------------------------------------------------------------


def test_augment_is_seeded_and_varies_views() -> None:
    images = digit_images(TINY).X_train[:20]
    assert isinstance(images, np.ndarray)
    a = augment(images, 4, seed=1)
    assert a.shape == (20, 4, 8, 8) and a.dtype == np.uint8
    assert np.array_equal(a, augment(images, 4, seed=1))
    assert not np.array_equal(a, augment(images, 4, seed=2))
    assert not np.array_equal(a[:, 0], a[:, 1])


def test_augment_without_randomness_is_the_identity_or_a_mirror() -> None:
    images = digit_images(TINY).X_train[:30]
    assert isinstance(images, np.ndarray)
    still = augment(images, 2, seed=0, scale=(1.0, 1.0), ratio=(1.0, 1.0), max_rotation=0.0,
                    max_translation=0.0, flip=False)  # fmt: skip
    assert np.array_equal(still, np.repeat(images[:, None], 2, axis=1))
    flipped = augment(images, 8, seed=0, scale=(1.0, 1.0), ratio=(1.0, 1.0), max_rotation=0.0,
                      max_translation=0.0, flip=True)  # fmt: skip
    same = (flipped == images[:, None]).all(axis=(2, 3))
    mirror = (flipped == images[:, None, :, ::-1]).all(axis=(2, 3))
    assert bool((same | mirror).all()) and same.any() and (mirror & ~same).any()


def test_augment_rejects_bad_images() -> None:
    with pytest.raises(ValueError, match=r"images must be uint8 \[N, H, W\]"):
        augment(np.zeros((2, 8, 8), dtype=np.float32), 2, seed=0)
    with pytest.raises(ValueError, match="n_views must be >= 1"):
        augment(np.zeros((2, 8, 8), dtype=np.uint8), 0, seed=0)


def test_views_are_cached_under_their_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(data_mod.LOADERS, "digit-images", digit_images)
    data = load_views(TINY, cache_dir=tmp_path, progress=False)
    assert data.views.shape == (150, 3, 64) and data.views_val.shape == (60, 2, 64)
    assert data.X_train.shape == (150, 64) and data.y_test.shape == (100,)
    # Views of one image differ; standardised with the clean training images' statistics.
    assert not np.allclose(data.views[:, 0], data.views[:, 1])
    assert abs(float(data.X_train.mean())) < 1e-5
    files = sorted(p.name for p in tmp_path.glob("*views*.npy"))
    assert len(files) == 2 and files[0].startswith("digit-images-train-views3-raw")
    again = load_views(TINY, cache_dir=tmp_path, progress=False)
    assert np.array_equal(again.views, data.views)
    other = load_views(
        SSLSetting(**{**TINY.__dict__, "max_rotation": 20.0}), cache_dir=tmp_path, progress=False
    )
    assert not np.array_equal(other.views, data.views)
    assert len(list(tmp_path.glob("*train-views*.npy"))) == 2  # a new key, a new file


def test_knn_accuracy_by_hand() -> None:
    # Cosine neighbours: direction matters, length does not.
    ref = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    y_ref = np.array([0, 0, 1, 1])
    query = np.array([[5.0, 0.2], [0.0, 0.5], [1.0, 0.9]])
    assert knn_accuracy(ref, y_ref, query, np.array([0, 1, 1]), k=1) == pytest.approx(2 / 3)


# -- the setting -------------------------------------------------------------------------------


def test_simclr_setting_is_data() -> None:
    s = SETTINGS["fashion-effnet-simclr"]
    assert isinstance(s, SSLSetting) and s.seeds >= 5
    quick = get_setting("fashion-effnet-simclr", quick=True)
    assert quick.is_quick and isinstance(quick, SSLSetting)
    assert quick.n_views < s.n_views and (quick.n_train or 0) < (s.n_train or 0)


def test_bench_runs_both_heads_at_matched_parameters(bench: tuple[dict[str, Any], Path]) -> None:
    report, out = bench
    runs = report["runs"]
    assert sorted((r["seed"], r["model"]) for r in runs) == [
        (0, "glai"), (0, "mlp"), (1, "glai"), (1, "mlp"),
    ]  # fmt: skip
    for seed in (0, 1):
        mlp = next(r for r in runs if r["seed"] == seed and r["model"] == "mlp")
        glai = next(r for r in runs if r["seed"] == seed and r["model"] == "glai")
        # GLAI at the MLP head's parameter count: within one path per output, never above.
        assert mlp["params"] - 65 * 8 < glai["params"] <= mlp["params"]
        assert glai["structure_frozen_epoch"] >= 1
        assert {h["phase"] for h in glai["history"]} == {"structural", "quantitative"}
        for run in (mlp, glai):
            assert 0.0 <= run["linear_test"] <= 1.0 and 0.0 <= run["knn_test"] <= 1.0
            assert len(run["history"]) == run["epochs"]
            assert all("knn_val" in h for h in run["history"])
        # The MLP reaches its own bests, at the times recorded for them.
        assert mlp["seconds_to_mlp_best_loss"] == mlp["seconds_to_best_loss"]
        assert mlp["seconds_to_mlp_best_knn"] == mlp["seconds_to_best_knn"]
    raw = report["raw_features"]
    assert raw["linear_test"] > 0.5  # digits' raw pixels are a good reference
    files = report["files"]
    for key in ("json", "markdown", "curves", "path_distance"):
        assert Path(files[key]).is_file()
    for key in ("curves", "path_distance"):
        assert Path(files[key]).read_bytes()[:8] == PNG
    saved = json.loads(Path(files["json"]).read_text())
    assert saved["config"]["command"] == "glai bench tiny-ssl"
    assert saved["data"]["views"] == {"train": 3, "val": 2}
    text = Path(files["markdown"]).read_text()
    assert text.startswith("### tiny-ssl") and "backbone features, no head" in text
    assert "Command: `glai bench tiny-ssl`" in text and "machine:" in text
    for line in report["aggregates"]["verdict"]:
        assert f"- {line}" in text


def test_verdict_names_the_winner() -> None:
    def run(model: str, seed: int, acc: float, loss: float, t: float | None) -> dict[str, Any]:
        return {
            "model": model, "seed": seed, "knn_test": acc, "linear_test": acc,
            "best_val_loss": loss, "best_knn_val": acc, "seconds_to_best_loss": 10.0,
            "seconds_to_best_knn": 10.0, "seconds_to_mlp_best_loss": t,
            "seconds_to_mlp_best_knn": t,
        }  # fmt: skip

    runs = []
    for seed, noise in enumerate((0.001, -0.002, 0.0015, 0.0, -0.001)):
        runs.append(run("mlp", seed, 0.80 + noise, 5.0, 10.0))
        runs.append(run("glai", seed, 0.75 + noise / 2, 5.2, None if seed == 0 else 5.0))
    comparison = compare_heads(runs)
    lines = ssl_verdict(comparison)
    assert lines[0].startswith("linear-probe test accuracy: MLP wins")
    assert lines[2].startswith("best held-out NT-Xent: MLP wins")
    assert "reached it in 4 of 5 seeds" in lines[3] and "mean 2.00x" in lines[3]
    assert comparison["time_to_mlp_best_loss"]["speedup"]["per_seed"] == [None, 2, 2, 2, 2]


def test_cli_runs_the_quick_ssl_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(data_mod.LOADERS, "digit-images", digit_images)
    monkeypatch.setitem(settings_mod.SETTINGS, "tiny-ssl", TINY)
    out = tmp_path / "out"
    assert cli.main(["bench", "tiny-ssl", "--quick", "--out", str(out), "--no-progress",
                     "--cache-dir", str(tmp_path / "cache")]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "### tiny-ssl-quick" in printed
    report = json.loads((out / "tiny-ssl-quick.json").read_text())
    assert report["config"]["seeds"] == [0, 1] and report["data"]["sizes"]["train"] == 100
