"""`glai bench fashion-effnet-retrain-*`: retraining when data change (issue 9).

Per seed, heads are first fitted on the first data (not timed), then the second data arrive:

* ``mlp``: an MLP head from scratch on the second data; its MVA is the target of every run;
* ``mlp-warm``: the first MLP continued from its weights (``warm_start=True``);
* ``glai-warm``: the first GLAI head with its structure kept and its quantities refit
  (``warm_start=True``);
* ``glai``: a GLAI head from scratch on the second data;
* scenario ``"classes"`` only, instead of the warm runs (an MLP cannot grow outputs here):
  ``glai-add-classes`` (the new classes' paths fitted alone on all the data, old outputs
  unchanged: ``add_classes``) and ``glai-add-refit`` (then every output refit on the kept
  structure: ``add_classes`` + ``warm_start``; its clock includes both).

Times are those of the second fit alone (the retraining cost), from each head's history.
"""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from glai import GLAIClassifier, MLPHeadClassifier
from glai_bench.data import Splits, load_splits
from glai_bench.report import build_report, git_commit, markdown, write_json
from glai_bench.runner import head_record, timing_context, warm_up
from glai_bench.settings import RetrainSetting
from glai_bench.stats import aggregate

__all__ = ["RETRAIN_MODELS", "retrain_data", "run_retrain_seed", "run_retrain_bench"]

RETRAIN_MODELS = {
    "halves": ("mlp", "mlp-warm", "glai-warm", "glai"),
    "shift": ("mlp", "mlp-warm", "glai-warm", "glai"),
    "classes": ("mlp", "glai-add-classes", "glai-add-refit", "glai"),
}


def _standardize(splits: Splits, mean: np.ndarray, std: np.ndarray) -> Splits:
    def f(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(np.float32)

    return replace(
        splits, X_train=f(splits.X_train), X_val=f(splits.X_val), X_test=f(splits.X_test)
    )


def _subset(splits: Splits, keep: dict[str, np.ndarray]) -> Splits:
    return replace(
        splits,
        X_train=splits.X_train[keep["train"]], y_train=splits.y_train[keep["train"]],
        X_val=splits.X_val[keep["val"]], y_val=splits.y_val[keep["val"]],
        X_test=splits.X_test[keep["test"]], y_test=splits.y_test[keep["test"]],
    )  # fmt: skip


def retrain_data(
    setting: RetrainSetting,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[Splits, Splits]:
    """``(first, second)`` data of the scenario, standardised with the first training split's
    statistics (a deployed head keeps its scaler, so a shifted domain stays shifted)."""
    base = replace(setting, standardize=False)
    second = load_splits(base, cache_dir=cache_dir, device=device, progress=progress)
    if setting.scenario == "halves":
        half = np.random.default_rng(setting.split_seed).permutation(len(second.y_train))
        half = np.sort(half[: len(half) // 2])
        first = replace(second, X_train=second.X_train[half], y_train=second.y_train[half])
    elif setting.scenario == "shift":
        first = second
        shifted = replace(base, dataset=f"{setting.dataset}-shifted")
        second = load_splits(shifted, cache_dir=cache_dir, device=device, progress=progress)
        second.info["shift"] = setting.shift
    elif setting.scenario == "classes":
        if setting.first_classes is None:
            raise ValueError(f"setting {setting.name!r}: scenario 'classes' needs first_classes")
        c = setting.first_classes
        keep = {k: getattr(second, f"y_{k}") < c for k in ("train", "val", "test")}
        first = _subset(second, keep)
    else:
        raise ValueError(f"unknown scenario {setting.scenario!r}; use halves, shift or classes")
    mean = first.X_train.mean(axis=0, dtype=np.float64)
    std = first.X_train.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    return _standardize(first, mean, std), _standardize(second, mean, std)


def _fit(est: Any, data: Splits) -> Any:
    return est.fit(data.X_train, data.y_train, X_val=data.X_val, y_val=data.y_val)


def _offset(run: dict[str, Any], seconds: float) -> dict[str, Any]:
    """A run whose clock started ``seconds`` earlier (a step timed before its history)."""
    for key in ("seconds_to_mva", "seconds_to_mlp_mva", "fit_seconds"):
        if run.get(key) is not None:
            run[key] += seconds
    run["events"]["earlier_seconds"] = seconds
    return run


def run_retrain_seed(
    setting: RetrainSetting, first: Splits, second: Splits, seed: int, *, device: str = "cpu"
) -> list[dict[str, Any]]:
    """The runs of one seed (see the module docstring), in :data:`RETRAIN_MODELS` order."""
    shared = {**setting.head_kwargs(), "random_state": seed, "device": device}
    hidden = setting.hidden
    mlp = _fit(MLPHeadClassifier(hidden, **shared), second)
    runs = [head_record("mlp", mlp, second, None)]
    target = runs[0]["mva"]
    glai0 = _fit(GLAIClassifier(hidden, **shared, warm_start=True), first)
    first_mva = {"glai": glai0.best_val_score_}
    if setting.scenario == "classes":
        added = copy.deepcopy(glai0).add_classes(
            second.X_train, second.y_train, X_val=second.X_val, y_val=second.y_val
        )
        runs.append(head_record("glai-add-classes", added, second, target))
        add_seconds = added.fit_seconds_
        refit = _fit(added, second)  # warm_start: every output, from the added state
        runs.append(_offset(head_record("glai-add-refit", refit, second, target), add_seconds))
    else:
        mlp0 = _fit(MLPHeadClassifier(hidden, **shared, warm_start=True), first)
        first_mva["mlp"] = mlp0.best_val_score_
        runs.append(head_record("mlp-warm", _fit(mlp0, second), second, target))
        runs.append(head_record("glai-warm", _fit(glai0, second), second, target))
    runs.append(head_record("glai", _fit(GLAIClassifier(hidden, **shared), second), second, target))
    for run in runs:
        run.update(seed=seed, first_mva=first_mva)
    return runs


def run_retrain_bench(
    setting: RetrainSetting,
    *,
    out: str | os.PathLike[str] = "results",
    seeds: int | None = None,
    threads: int = 1,
    device: str = "cpu",
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Every seed of one retraining setting; writes ``S.json`` and ``S.md``; returns the
    report (with ``files``)."""
    git_commit()
    first, second = retrain_data(setting, cache_dir=cache_dir, device=device, progress=progress)
    n_seeds = setting.seeds if seeds is None else seeds
    runs: list[dict[str, Any]] = []
    with timing_context(threads) as timing:
        warm_up(first, setting.hidden, device)
        for seed in tqdm(range(n_seeds), desc=setting.stem, disable=not progress):
            runs += run_retrain_seed(setting, first, second, seed, device=device)
    agg = aggregate(runs, matched="glai-warm")
    sizes = {k: len(getattr(first, f"y_{k}")) for k in ("train", "val", "test")}
    info = {**second.info, "first_sizes": sizes}
    report = build_report(
        setting, runs, agg, data_info=info, timing=timing, device=device, seeds=n_seeds,
        command=command,
    )  # fmt: skip
    folder = Path(out)
    files = {"json": write_json(report, folder / f"{setting.stem}.json")}
    text = markdown(report).replace("GLAI (matched, rho=auto)", "glai-warm vs mlp")
    files["markdown"] = folder / f"{setting.stem}.md"
    files["markdown"].write_text(text)
    report["files"] = {k: str(p) for k, p in files.items()}
    return report
