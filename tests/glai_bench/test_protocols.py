"""The protocol contract (glai_bench.protocols): the registry, head tables and their closure
under ``only``, and a toy protocol added the documented way (one module's worth of code, a
settings dataclass, one registry entry) run end to end by ``run_bench``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from glai_bench import protocols
from glai_bench.bench import run_bench
from glai_bench.protocols import PROTOCOLS, Head, Options, Outcome, Protocol, base, protocol_for
from glai_bench.protocols.base import head_closure
from glai_bench.report import markdown_tail
from glai_bench.settings import SETTINGS, Setting


def test_every_setting_has_a_protocol() -> None:
    assert set(PROTOCOLS) == {
        "classification",
        "fewshot",
        "ssl",
        "retrain",
        "incremental",
        "federated",
    }
    for setting in SETTINGS.values():
        assert protocol_for(setting).name == setting.protocol
        names = protocol_for(setting).head_names(setting)
        assert names and len(set(names)) == len(names)


def test_head_closure_adds_what_heads_need() -> None:
    s = Setting(name="s", description="", dataset="x")
    table: list[Head[Any]] = [
        Head("a", dict), Head("b", dict, ("a",)), Head("c", dict, ("b",)), Head("d", dict, ("a",))
    ]  # fmt: skip
    assert head_closure(table, None, s) == ["a", "b", "c", "d"]
    assert head_closure(table, {"c"}, s) == ["a", "b", "c"]  # needs of needs, table order
    assert head_closure(table, {"d", "a"}, s) == ["a", "d"]
    with pytest.raises(ValueError, match="no head e in setting 's'; its heads are a, b, c, d"):
        head_closure(table, {"e"}, s)


def test_only_is_refused_where_a_protocol_runs_all_its_heads() -> None:
    fewshot = SETTINGS["wordnet-minilm-fewshot"]
    with pytest.raises(ValueError, match="runs all its heads; --only applies to the class"):
        protocol_for(fewshot).head_names(fewshot, {"glai"})
    with pytest.raises(ValueError, match="only: no head glai-x9 in setting 'fashion-effnet'.*"
                       r"--budgets and --widths add"):  # fmt: skip
        protocol_for(SETTINGS["fashion-effnet"]).head_names(SETTINGS["fashion-effnet"], {"glai-x9"})


# -- a toy protocol, as a new kind of setting would add one -------------------------------------


@dataclass(frozen=True)
class MeanSetting(Setting):
    """A toy kind: the mean of a seeded sample, by two heads."""

    protocol: ClassVar[str] = "toy-mean"
    n: int = 50


def _head(scale: float) -> Any:
    def fit(c: dict[str, Any]) -> dict[str, Any]:
        x = np.random.default_rng(c["seed"]).normal(size=c["setting"].n) * scale + c["data"]
        return {"estimate": float(x.mean())}

    return fit


class ToyMean(Protocol[MeanSetting]):
    name = "toy-mean"
    head_table = {"narrow": _head(0.1), "wide": _head(1.0)}

    def load(self, setting: MeanSetting, options: Options) -> float:
        return 3.0

    def data_info(self, setting: MeanSetting, data: float) -> dict[str, Any]:
        return {"true_mean": data}

    def run(self, setting: MeanSetting, data: float, options: Options) -> Outcome:
        runs = [
            {"model": head.name, "seed": seed,
             **head.fit({"setting": setting, "data": data, "seed": seed})}
            for seed in range(options.seeds) for head in self.heads(setting)
        ]  # fmt: skip
        return Outcome(runs, {"reference": data})

    def summarize(self, setting: MeanSetting, outcome: Outcome) -> dict[str, Any]:
        by = {n: [r["estimate"] for r in outcome.runs if r["model"] == n] for n in self.head_table}
        return {"aggregates": {n: float(np.mean(v)) for n, v in by.items()}}

    def markdown(self, report: dict[str, Any]) -> str:
        rows = [f"| {n} | {v:.3f} |" for n, v in report["aggregates"].items()]
        return "\n".join([f"### {report['setting']}", *rows, *markdown_tail(report, ["ok"])])


def test_a_new_protocol_is_a_module_a_setting_and_a_registry_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(protocols.PROTOCOLS, "toy-mean", ToyMean())
    setting = MeanSetting(name="toy", description="toy", dataset="none", seeds=3)
    report = run_bench(setting, out=tmp_path, progress=False, command="glai bench toy")
    saved = json.loads((tmp_path / "toy.json").read_text())
    assert [(r["model"], r["seed"]) for r in saved["runs"]] == [
        ("narrow", 0), ("wide", 0), ("narrow", 1), ("wide", 1), ("narrow", 2), ("wide", 2)
    ]  # fmt: skip
    # what run_bench adds for every protocol
    assert saved["config"]["setting"]["n"] == 50 and saved["config"]["seeds"] == [0, 1, 2]
    assert saved["config"]["command"] == "glai bench toy" and saved["config"]["threads"] == 1
    assert {"torch", "glai"} <= set(saved["versions"]) and saved["machine"]["cores"] >= 1
    assert saved["data"] == {"true_mean": 3.0} and saved["reference"] == 3.0
    assert abs(saved["aggregates"]["narrow"] - 3.0) < abs(saved["aggregates"]["wide"] - 3.0) + 0.1
    md = (tmp_path / "toy.md").read_text()
    assert md.startswith("### toy\n| narrow |") and "- ok" in md
    assert "Command: `glai bench toy`" in md
    assert set(report["files"]) == {"json", "markdown"}
    with pytest.raises(ValueError, match="runs all its heads"):
        run_bench(setting, out=tmp_path, progress=False, only={"wide"})


class PerSeedMean(ToyMean):
    """The toy kind through the defaults: ``run`` loops over ``run_seed``."""

    run = Protocol.run

    def run_seed(self, setting: MeanSetting, data: float, seed: int) -> list[dict[str, Any]]:
        return [{"model": head.name, "seed": seed,
                 **head.fit({"setting": setting, "data": data, "seed": seed})}
                for head in self.heads(setting)]  # fmt: skip


def test_the_default_run_is_run_seed_for_every_seed_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setting = MeanSetting(name="toy", description="toy", dataset="none")
    options = Options(seeds=3, progress=False)
    by_seed = PerSeedMean().run(setting, 3.0, options)
    assert by_seed.runs == ToyMean().run(setting, 3.0, options).runs and by_seed.fields == {}
    # ... and the default load is the features' train / validation / test splits
    seen: list[Any] = []
    monkeypatch.setattr(base, "load_splits", lambda s, **kw: seen.append((s, kw)) or "splits")
    assert Protocol.load(ToyMean(), setting, Options(seeds=1, cache_dir="c")) == "splits"
    assert seen == [(setting, {"cache_dir": "c", "device": "cpu", "progress": True})]
