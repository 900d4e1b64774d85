"""End to end on real data through real frozen backbones (slow: `make test-slow`).

These use the shared feature cache (``$GLAI_CACHE_DIR`` or ``~/.cache/glai``): the first run
extracts features (about a minute on 2 cores), later runs read them back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glai_bench.bench import run_bench
from glai_bench.datasets import FASHION_MNIST_DIR
from glai_bench.demo import run_demo
from glai_bench.settings import get_setting

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(FASHION_MNIST_DIR).is_dir(), reason="needs Debian's dataset-fashion-mnist"
    ),
]


def test_demo_on_real_features(tmp_path: Path) -> None:
    report = run_demo(tmp_path, progress=False)
    table = report["table"]
    assert "MLP head" in table and "GLAI head" in table and "machine:" in table
    runs = {r["model"]: r for r in report["runs"]}
    # the matched GLAI holds no more trainable parameters than the MLP it replaces
    assert runs["glai-auto"]["params"] <= runs["mlp"]["params"]
    # pretrained EfficientNet features of 5,000 images: both heads are far above chance (10%)
    assert runs["mlp"]["test_accuracy"] > 0.75 and runs["glai-auto"]["test_accuracy"] > 0.75
    assert (tmp_path / "path_distance.png").stat().st_size > 0
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert saved["machine"]["cores"] >= 1 and saved["versions"]["torch"]


def test_quick_bench_on_real_features(tmp_path: Path) -> None:
    setting = get_setting("fashion-effnet", quick=True)
    report = run_bench(setting, out=tmp_path, seeds=1, progress=False, command="test")
    saved = json.loads((tmp_path / f"{setting.stem}.json").read_text())
    models = {r["model"] for r in saved["runs"]}
    assert {"mlp", "glai-auto", "linear-probe", "sklearn-mlp", "narrow-mlp"} <= models
    assert saved["aggregates"]["verdict"]["text"]
    assert report["aggregates"] == saved["aggregates"]
    md = (tmp_path / f"{setting.stem}.md").read_text()
    main, picture = md.split(f"#### {setting.stem}: accuracy against time")
    assert main.count("| glai-auto |") == 1 and picture.count("| glai-auto |") == 1
