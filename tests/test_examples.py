"""Every script in ``examples/`` runs, on its own small data, and does what it says.

Each runs in this process (``runpy``, as ``__main__``; a fresh interpreter per script would
cost more than the scripts), with temporary files under ``tmp_path``; the assertions read the
script's own variables.
"""

from __future__ import annotations

import runpy
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return runpy.run_path(str(EXAMPLES / name), run_name="__main__")


def test_every_example_is_tested() -> None:
    tested = {n.removeprefix("test_") + ".py" for n in globals() if n.startswith("test_")}
    assert {p.name for p in EXAMPLES.glob("*.py")} <= tested


def test_head_on_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = _run("head_on_features.py", tmp_path, monkeypatch)
    assert g["glai"].path_model_ is not None and g["model"].score(g["X_test"], g["y_test"]) > 0.9


def test_block_in_torch_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = _run("block_in_torch_loop.py", tmp_path, monkeypatch)
    assert g["head"].phase == "quantitative" and len(g["monitor"].history) < 50
    assert g["accuracy"] > 0.5  # 5 classes: chance is 0.2


def test_ssl_projection_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = _run("ssl_projection_head.py", tmp_path, monkeypatch)
    assert g["head"].phase == "quantitative" and g["z"].shape == (128, 16)
    # NT-Xent of 128 pairs at temperature 0.5 starts near log(2 * 128 - 1) = 5.54
    assert -g["best"].val_score < 5.0


def test_few_shot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = _run("few_shot.py", tmp_path, monkeypatch)
    assert g["head"].kind == "glai" and g["head"].transform(g["X"][:3]).shape == (3, 32)
    assert g["raw"]["n_tasks"] == g["scores"]["n_tasks"] == 200
    assert 0.25 < g["raw"]["accuracy"] <= 1  # 4-way tasks: chance is 0.25
    assert g["per_task"]["protocol"] == "per-task classifier" and g["per_task"]["n_tasks"] == 20


def test_retraining(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = _run("retraining.py", tmp_path, monkeypatch)
    assert g["same"] is True and g["clf"].classes_.tolist() == list(range(10))
    assert g["clf"].score(g["X"][g["test"]], g["y"][g["test"]]) > 0.8


def test_save_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = _run("save_load.py", tmp_path, monkeypatch)
    assert torch.equal(g["loaded"](g["x"]), g["block"](g["x"]))
    assert g["structural"].phase == "structural" and g["folder"].parent == tmp_path


def test_train_on_npz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = _run("train_on_npz.py", tmp_path, monkeypatch)
    assert g["model"].phase == "quantitative" and g["accuracy"] > 0.8
    assert g["history"]["world_size"] == 1


def test_sklearn_vocabulary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = _run("sklearn_vocabulary.py", tmp_path, monkeypatch)
    assert set(g["search"].best_params_) == {"glaiclassifier__alpha", "glaiclassifier__max_iter"}
    assert g["warned"] is True
    X_val, y_val = g["X_val"], g["y_val"]
    # routed through the scaler, early stopping scored the validation data the model sees ...
    routed = g["routed"]
    assert routed[-1].best_validation_score_ == pytest.approx(routed.score(X_val, y_val))
    # ... untransformed, it scored other inputs than those
    naive = g["naive"]
    assert naive[-1].best_validation_score_ != pytest.approx(naive.score(X_val, y_val))
    assert g["held"][-1].validation_scores_ is not None
