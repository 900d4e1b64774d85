"""``python -m glai train``: a head fitted on a saved feature matrix, model and history written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glai.cli import load_features, main
from glai.io import load_glai


def _save(folder: Path, n: int = 120) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5)).astype(np.float16)  # float16 features are read as float32
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", y)


def test_train_glai_writes_a_loadable_model_and_history(tmp_path: Path) -> None:
    _save(tmp_path / "data")
    out = tmp_path / "out"
    argv = ["train", str(tmp_path / "data"), "--model", "glai", "--hidden", "8", "--epochs", "3",
            "--batch-size", "16", "--quant-optimizer", "ridge", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    model = load_glai(out / "model.safetensors")
    assert model.phase == "quantitative" and model.out_features == 3
    history = json.loads((out / "history.json").read_text())
    assert history["world_size"] == 1
    assert {r["phase"] for r in history["records"]} == {"structural", "quantitative"}


def test_shards_of_a_folder_cover_the_training_rows_once(tmp_path: Path) -> None:
    _save(tmp_path)
    parts = [load_features(str(tmp_path), 0.25, 0, r, 3) for r in range(3)]
    assert [len(p["X"]) for p in parts] == [30, 30, 30]  # 120 rows, 30 held out
    assert all(np.array_equal(p["X_val"], parts[0]["X_val"]) for p in parts)
    train = np.concatenate([p["X"] for p in parts])
    rows = {tuple(r) for r in np.concatenate([train, parts[0]["X_val"]])}
    assert len(train) == 90 and len(rows) == 120 and train.dtype == np.float32


def test_bad_data_is_a_clear_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)))
    with pytest.raises(SystemExit, match=r"lacks \['y'\]"):
        main(["train", str(tmp_path / "d.npz"), "--out", str(tmp_path / "o")])


@pytest.mark.slow
def test_torchrun_two_processes_match_one(tmp_path: Path) -> None:
    _save(tmp_path / "data")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["train", str(tmp_path / "data"), "--model", "mlp", "--hidden", "8", "--epochs",
              "3", "--batch-size", "16", "--patience", "100"]  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    two_out = ["--out", str(tmp_path / "two")]
    subprocess.run([*torchrun, "-m", "glai", *common, *two_out], check=True, env=env)
    subprocess.run([sys.executable, "-m", "glai", *common, "--out", str(tmp_path / "one")],
                   check=True, env=env)  # fmt: skip
    two = json.loads((tmp_path / "two" / "history.json").read_text())
    one = json.loads((tmp_path / "one" / "history.json").read_text())
    assert two["world_size"] == 2
    for a, b in zip(two["records"], one["records"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)


def test_version_of_glai_and_python_m_glai(capsys: pytest.CaptureFixture[str]) -> None:
    from glai import __version__

    with pytest.raises(SystemExit) as exc:  # the `glai` console script's target
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"glai {__version__}\n"
    done = subprocess.run([sys.executable, "-m", "glai", "--version"], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and done.stdout == f"glai {__version__}\n", done.stderr


def test_the_bench_registers_its_commands_through_the_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The entry point pyproject.toml declares (read here: a checkout may not be reinstalled).
    import importlib.metadata

    from glai.cli import COMMANDS_GROUP, build_parser

    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"][COMMANDS_GROUP]
    assert project["project"]["scripts"] == {"glai": "glai.cli:main"}
    eps = importlib.metadata.EntryPoints(
        importlib.metadata.EntryPoint(name, value, COMMANDS_GROUP)
        for name, value in declared.items()
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps.select(group=group))
    parser = build_parser()
    assert parser.parse_args(["demo"]).command == "demo"
    assert parser.parse_args(["train", "d.npz"]).command == "train"


# -- refusals: before any work, naming the option or the array --------------------------------

TINY = ["--model", "glai", "--hidden", "8", "--epochs", "2", "--batch-size", "16"]


def _train(tmp_path: Path, *extra: str, data: Path | None = None) -> int:
    return main(["train", str(data or tmp_path / "data"), *TINY,
                 "--out", str(tmp_path / "out"), *extra])  # fmt: skip


def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    import glai.run

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started before the arguments were checked")

    monkeypatch.setattr(glai.run, "fit_glai", never)
    monkeypatch.setattr(glai.run, "fit_mlp", never)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--quant-lr", "-1", "argument --quant-lr: must be a number > 0, got '-1'"),
        ("--seed", "-1", "argument --seed: must be an integer >= 0, got '-1'"),
        ("--lr", "nan", "argument --lr: must be a number > 0, got 'nan'"),
        ("--epochs", "0", "argument --epochs: must be an integer >= 1, got '0'"),
        ("--val-fraction", "1", "argument --val-fraction: must be a number >= 0 and < 1 or 'auto'"),
        ("--rho", "0.5", "argument --rho: must be a number >= 1 or 'auto', got '0.5'"),
        ("--batch-size", "0", "argument --batch-size: must be an integer >= 1 or 'auto'"),
    ],
)
def test_a_bad_option_is_named(
    option: str, value: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _save(tmp_path / "data")
    with pytest.raises(SystemExit) as stop:
        _train(tmp_path, option, value)
    assert stop.value.code == 2
    assert expected in capsys.readouterr().err


def test_an_out_that_is_a_file_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model used to be lost after the whole run.
    _save(tmp_path / "data")
    _no_training(monkeypatch)
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(SystemExit, match=r"--out '.*out' is a file, not a folder"):
        _train(tmp_path)
    (tmp_path / "parent").write_text("a file")
    with pytest.raises(SystemExit, match=r"--out '.*child' cannot be created"):
        main(["train", str(tmp_path / "data"), *TINY, "--out", str(tmp_path / "parent/child")])


def test_an_out_holding_a_model_is_not_overwritten_without_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _save(tmp_path / "data")
    assert _train(tmp_path) == 0
    first = (tmp_path / "out" / "model.safetensors").read_bytes()
    with monkeypatch.context() as m:
        _no_training(m)
        with pytest.raises(SystemExit, match=r"already holds a model \(model.safetensors, "
                           r"history.json\): pass --force"):  # fmt: skip
            _train(tmp_path, "--seed", "5")
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == first
    assert _train(tmp_path, "--seed", "5", "--force") == 0
    assert (tmp_path / "out" / "model.safetensors").read_bytes() != first


def _npz(tmp_path: Path, **arrays: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    base = {"X": X, "y": (X[:, 0] > 0).astype(np.int64)}
    path = tmp_path / "d.npz"
    np.savez(path, **(base | arrays))
    return path


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X_val": np.zeros((10, 4), np.float32)}, "X_val was given without y_val"),
        ({"y_val": np.zeros(10, np.int64)}, "y_val was given without X_val"),
        ({"X_val": np.zeros((10, 3), np.float32), "y_val": np.zeros(10, np.int64)},
         "X_val has 3 features but the training data X has 4"),
        ({"sample_weight": np.ones(59)}, "sample_weight has 59 rows but X has 60"),
        ({"sample_weight": -np.ones(60)}, "sample_weight holds negative weights"),
        ({"sample_weight": np.full(60, np.nan)}, "sample_weight: Input sample_weight contains NaN"),
        ({"y": np.array(["a", "b"] * 30)}, "y must hold integer class labels"),
        ({"y": np.arange(60) % 2 - 1}, "y holds negative labels"),
        ({"X": np.full((60, 4), np.nan)}, "X: Input X contains NaN"),
        ({"X": np.full((60, 4), 1e39)}, "X has values beyond float32's range"),
        ({"X": np.zeros((0, 4)), "y": np.zeros(0, np.int64)}, "X: Found array with 0 sample"),
    ],
)
def test_bad_data_is_refused_by_name(
    arrays: dict, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Used to exit 0 with a NaN model, accept bad weights, or raise KeyError / TypeError /
    # IndexError / a matmul error after an epoch / a max() error.
    _no_training(monkeypatch)
    with pytest.raises(SystemExit, match=f"glai train: .*{message}"):
        _train(tmp_path, data=_npz(tmp_path, **arrays))


def test_python_dash_m_glai_refuses_the_same(tmp_path: Path) -> None:
    data = _npz(tmp_path, X_val=np.zeros((10, 4), np.float32))
    done = subprocess.run([sys.executable, "-m", "glai", "train", str(data), *TINY, "--out",
                           str(tmp_path / "o")], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1 and "X_val was given without y_val" in done.stderr
    assert not (tmp_path / "o" / "model.safetensors").exists()
