"""Retraining when data change (issue 9): heads fitted on the first data, then the second.

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
Outputs: ``S.json`` and ``S.md`` (the classification table, :func:`classification.markdown`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from glai import GLAIClassifier, MLPHeadClassifier
from glai_bench.data import Splits, load_splits
from glai_bench.protocols import classification
from glai_bench.protocols.base import Head, Options, Outcome, Protocol, Run
from glai_bench.runner import fit_on, head_record, warm_up
from glai_bench.settings import RetrainSetting
from glai_bench.stats import aggregate

__all__ = ["RETRAIN_MODELS", "Retrain", "retrain_data", "run_retrain_seed"]


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


@dataclass
class RetrainContext:
    """One seed: the two data, the heads fitted on the first (each fitted once, when a head
    first needs it) and their MVA there, the head ``add_classes`` grew, and the runs so far."""

    setting: RetrainSetting
    first: Splits
    second: Splits
    seed: int
    device: str = "cpu"
    runs: dict[str, Run] = field(default_factory=dict)
    first_fits: dict[str, Any] = field(default_factory=dict)
    first_mva: dict[str, float] = field(default_factory=dict)
    added: Any = None

    @property
    def shared(self) -> dict[str, Any]:
        return {**self.setting.head_kwargs(), "random_state": self.seed, "device": self.device}

    def first_fit(self, family: str) -> Any:
        """The ``"mlp"`` or ``"glai"`` head fitted on the first data (``warm_start=True``)."""
        if family not in self.first_fits:
            cls = MLPHeadClassifier if family == "mlp" else GLAIClassifier
            est = fit_on(cls(self.setting.hidden, **self.shared, warm_start=True), self.first)
            self.first_fits[family] = est
            self.first_mva[family] = est.best_validation_score_  # before any refit changes it
        return self.first_fits[family]

    def record(self, name: str, est: Any) -> Run:
        target = None if name == "mlp" else self.runs["mlp"]["mva"]
        return head_record(name, est, self.second, target)


def _scratch(family: str, c: RetrainContext) -> Run:
    cls = MLPHeadClassifier if family == "mlp" else GLAIClassifier
    return c.record(family, fit_on(cls(c.setting.hidden, **c.shared), c.second))


def _warm(family: str, c: RetrainContext) -> Run:
    return c.record(f"{family}-warm", fit_on(c.first_fit(family), c.second))


def _add_classes(c: RetrainContext) -> Run:
    # a copy: the first GLAI head stays as it was for the refit below
    s = c.second
    added = copy.deepcopy(c.first_fit("glai")).add_classes(
        s.X_train, s.y_train, X_val=s.X_val, y_val=s.y_val
    )
    c.added = added
    return c.record("glai-add-classes", added)


def _add_refit(c: RetrainContext) -> Run:
    added = c.added
    add_seconds = float(added.fit_seconds_)
    run = c.record("glai-add-refit", fit_on(added, c.second))  # warm_start: every output
    # its clock started with add_classes
    for key in ("seconds_to_mva", "seconds_to_mlp_mva", "fit_seconds"):
        if run.get(key) is not None:
            run[key] += add_seconds
    run["events"]["earlier_seconds"] = add_seconds
    return run


HEADS: dict[str, Callable[[RetrainContext], Run]] = {
    "mlp": lambda c: _scratch("mlp", c),
    "mlp-warm": lambda c: _warm("mlp", c),
    "glai-warm": lambda c: _warm("glai", c),
    "glai-add-classes": _add_classes,
    "glai-add-refit": _add_refit,
    "glai": lambda c: _scratch("glai", c),
}
NEEDS = {"glai-add-refit": ("glai-add-classes",)}
RETRAIN_MODELS = {
    "halves": ("mlp", "mlp-warm", "glai-warm", "glai"),
    "shift": ("mlp", "mlp-warm", "glai-warm", "glai"),
    "classes": ("mlp", "glai-add-classes", "glai-add-refit", "glai"),
}


def run_retrain_seed(
    setting: RetrainSetting, first: Splits, second: Splits, seed: int, *, device: str = "cpu"
) -> list[Run]:
    """The runs of one seed (see the module docstring), in :data:`RETRAIN_MODELS` order."""
    context = RetrainContext(setting, first, second, seed, device)
    runs = []
    for head in Retrain().heads(setting):
        run = head.fit(context)
        context.runs[head.name] = run
        if head.name == "mlp":
            context.first_fit("glai")  # every scenario retrains the first GLAI head
        runs.append(run)
    for run in runs:
        run.update(seed=seed, first_mva=context.first_mva)
    return runs


class Retrain(Protocol[RetrainSetting]):
    """The protocol of :class:`~glai_bench.settings.RetrainSetting` (see the module docstring)."""

    name = "retrain"

    def heads(self, setting: RetrainSetting) -> list[Head[RetrainContext]]:
        if setting.scenario not in RETRAIN_MODELS:
            raise ValueError(
                f"unknown scenario {setting.scenario!r}; use {', '.join(RETRAIN_MODELS)}"
            )
        return [Head(n, HEADS[n], NEEDS.get(n, ())) for n in RETRAIN_MODELS[setting.scenario]]

    def load(self, setting: RetrainSetting, options: Options) -> tuple[Splits, Splits]:
        return retrain_data(setting, **options.loading)

    def data_info(self, setting: RetrainSetting, data: tuple[Splits, Splits]) -> dict[str, Any]:
        first, second = data
        sizes = {k: len(getattr(first, f"y_{k}")) for k in ("train", "val", "test")}
        return {**second.info, "first_sizes": sizes}

    def run(
        self, setting: RetrainSetting, data: tuple[Splits, Splits], options: Options
    ) -> Outcome:
        first, second = data
        warm_up(first, setting.hidden, options.device)
        runs: list[Run] = []
        for seed in options.seed_bar(setting.stem):
            runs += run_retrain_seed(setting, first, second, seed, device=options.device)
        return Outcome(runs)

    def config(self, setting: RetrainSetting, only: set[str] | None) -> dict[str, Any]:
        return {"estimators": classification.estimator_defaults(setting)}

    def summarize(self, setting: RetrainSetting, outcome: Outcome) -> dict[str, Any]:
        return {"aggregates": aggregate(outcome.runs, matched="glai-warm")}

    def markdown(self, report: dict[str, Any]) -> str:
        return classification.markdown(report, matched="glai-warm vs mlp")
