"""The incremental and federated protocols (issue 18) on small synthetic features: every head
runs, the records hold what the tables read, and the closed-form heads are exact."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from glai_bench.data import Splits
from glai_bench.linear_heads import RidgeHead, identity
from glai_bench.protocols import PROTOCOLS, Options, protocol_for
from glai_bench.protocols.federated import dirichlet_split, federated_seed
from glai_bench.protocols.incremental import aggregate_steps, incremental_seed
from glai_bench.settings import SETTINGS, FederatedSetting, IncrementalSetting


def _splits(classes: int = 6, n: int = 900) -> Splits:
    X, y = make_blobs(n, n_features=8, centers=classes, cluster_std=3.0, random_state=0)
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    tr, va, te = slice(0, 600), slice(600, 750), slice(750, None)
    return Splits(X[tr], y[tr], X[va], y[va], X[te], y[te], {"sizes": {}})


def test_incremental_heads_run_and_the_closed_form_does_not_forget(tmp_path: Path) -> None:
    setting = IncrementalSetting(
        name="toy-incremental", description="blobs", dataset="none", hidden=(12,),
        base_classes=2, steps=(2, 2), glai_chains=2, mlp_epochs=3, max_epochs=10,
    )  # fmt: skip
    runs = incremental_seed(setting, _splits(), seed=0)
    by = {r["model"]: r for r in runs}
    assert set(by) == {h.name for h in protocol_for(setting).heads(setting)}
    for r in runs:
        assert 0 <= r["last_accuracy"] <= 1 and r["bytes"] > 0
    assert len(by["glai-closed-form"]["step_accuracy"]) == 3
    assert by["ridge-random"]["unknowns"] == by["glai-closed-form"]["unknowns"]
    # no replay: fine-tuning the MLP forgets more than the closed form, which re-solves all
    assert by["mlp-finetune"]["forgetting"] > by["glai-closed-form"]["forgetting"]
    agg = aggregate_steps(runs, "glai-closed-form")
    assert "ncm" in agg["comparisons"] and agg["models"]["ncm"]["last_accuracy"]["n"] == 1
    assert 0 < by["ridge-raw"]["bytes_packed"] < by["ridge-raw"]["bytes"]
    assert 0 < by["glai-closed-form"]["bytes_packed"] < by["glai-closed-form"]["bytes"]
    files = protocol_for(setting).figures(setting, {"runs": runs}, tmp_path)
    assert files["steps"].is_file() and files["steps"].stat().st_size > 0


def test_dirichlet_split_covers_every_row_once() -> None:
    y = np.repeat(np.arange(5), 40)
    parts = dirichlet_split(y, 7, 0.1, seed=0)
    assert sorted(np.concatenate(parts).tolist()) == list(range(200))
    # beta 0.1: most clients hold few classes
    assert np.median([len(np.unique(y[p])) for p in parts if len(p)]) <= 3


def test_federated_merge_and_forget_are_exact() -> None:
    setting = FederatedSetting(
        name="toy-federated", description="blobs", dataset="none", hidden=(12,),
        clients=(5,), dirichlet=(0.5,), rounds=(1, 2), glai_chains=2, max_epochs=10,
    )  # fmt: skip
    runs = federated_seed(setting, _splits(), seed=0)
    by = {r["model"]: r for r in runs}
    assert {"glai-merged", "glai-untrained-merged", "ridge-raw-merged", "ridge-random-merged",
            "fedavg-mlp-r1", "fedavg-mlp-r2", "mlp-central"} == set(by)  # fmt: skip
    g = by["glai-merged"]
    assert g["merge_max_abs_diff"] < 1e-4 and g["forget_max_abs_diff"] < 1e-4
    assert by["fedavg-mlp-r2"]["bytes"] == 2 * by["fedavg-mlp-r1"]["bytes"]
    summary = PROTOCOLS["federated"].summarize(setting, type("O", (), {"runs": runs})())
    assert "5 clients, beta 0.5" in summary["aggregates"]
    # packed: per-fold statistics only, Grams as triangles; less than everything kept
    for name in ("glai-merged", "ridge-raw-merged", "ridge-random-merged"):
        assert 0 < by[name]["bytes_packed"] < by[name]["bytes"]
    assert by["fedavg-mlp-r1"]["bytes_packed"] == by["fedavg-mlp-r1"]["bytes"]


def test_federated_exactness_is_checked_on_the_first_split_only() -> None:
    setting = FederatedSetting(
        name="toy-federated", description="blobs", dataset="none", hidden=(12,),
        clients=(3, 4), dirichlet=(1.0,), rounds=(1,), glai_chains=2, max_epochs=10,
    )  # fmt: skip
    runs = [r for r in federated_seed(setting, _splits(), seed=1) if r["model"] == "glai-merged"]
    assert [r["clients"] for r in runs] == [3, 4]
    assert "merge_max_abs_diff" in runs[0] and "merge_max_abs_diff" not in runs[1]


def test_packed_bytes_count_fold_triangles() -> None:
    head = RidgeHead(identity, folds=5).add(np.eye(3, dtype=np.float32), np.arange(3), 3)
    d = 4  # [x, 1]
    assert head.nbytes == 8 * (5 * d * d + 5 * d * 3 + 5 * 3 + 5)
    assert head.packed_nbytes == 8 * (5 * d * (d + 1) // 2 + 5 * d * 3 + 5 * 3 + 5)


LINEAR = [n for n, s in SETTINGS.items() if isinstance(s, (IncrementalSetting, FederatedSetting))]


@pytest.mark.parametrize("name", LINEAR)
def test_linear_settings_are_registered_and_read_the_quick_feature_subsets(name: str) -> None:
    s = SETTINGS[name]
    assert protocol_for(s).name in ("incremental", "federated")
    assert s.n_train == 5000 and s.quick_variant().seeds == 2
    if isinstance(s, IncrementalSetting):
        assert s.base_classes + sum(s.steps) == (41 if s.dataset == "wordnet" else 10)
    assert replace(s, seeds=1).seeds == 1 and Options(seeds=1).seeds == 1
