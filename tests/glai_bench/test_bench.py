"""Tests for the bench harness: settings, splits, runner, statistics, report and figures.

The end-to-end run uses a tiny setting on scikit-learn's digits (registered in place of a real
data set), so it needs no backbone and takes seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy import stats as sps
from sklearn.datasets import load_digits

from glai import GLAIClassifier, MLPHeadClassifier
from glai_bench import data as data_mod
from glai_bench.bench import run_bench
from glai_bench.data import RawData, Splits, load_splits, split_indices
from glai_bench.protocols.classification import Classification, markdown
from glai_bench.runner import timing_context, warm_up
from glai_bench.settings import SETTINGS, Setting, get_setting
from glai_bench.stats import aggregate, paired_test, speedups, summarize, verdict
from glai_bench.tradeoff import smallest_matching, tradeoff_markdown, tradeoff_points

PNG = b"\x89PNG\r\n\x1a\n"


def digits(setting: Setting) -> RawData:
    X, y = load_digits(return_X_y=True)
    return RawData(X[:1400], y[:1400], X[1400:], y[1400:], {"source": "sklearn-digits"})


def head_names(only: set[str] | None = None) -> list[str]:
    return Classification().head_names(TINY, only)


TINY = Setting(
    name="tiny",
    description="sklearn digits, raw 64-d",
    dataset="digits",
    val_fraction=0.2,
    hidden=(16,),
    rhos=(2,),
    widths=(8, 32),
    budgets=(2,),
    long_structure_epochs=6,
    max_epochs=8,
    seeds=2,
)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    out = tmp_path_factory.mktemp("bench")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(data_mod.LOADERS, "digits", digits)
        report = run_bench(TINY, out=out, progress=False, command="glai bench tiny")
    yield report, out


# -- settings and data ------------------------------------------------------------------------


def test_settings_are_data_and_follow_library_defaults() -> None:
    assert {"fashion-effnet", "wordnet-minilm", "mnist1d-raw", "fashion-raw"} <= set(SETTINGS)
    for name, s in SETTINGS.items():
        quick = get_setting(name, quick=True)
        assert quick.is_quick and quick.stem == f"{name}-quick" and s.stem == name
        assert quick.seeds <= s.seeds and len(quick.rhos) <= len(s.rhos)
        # None: the estimators' own defaults reach the bench untouched
        assert s.head_kwargs() == {}
    fe = SETTINGS["fashion-effnet"]
    assert fe.resolution == 64 and fe.seeds == 5 and fe.hidden == (256,)
    with pytest.raises(KeyError, match="unknown setting 'nope'.*fashion-effnet"):
        get_setting("nope")


def test_split_indices_fixed_disjoint_stratified() -> None:
    y = np.repeat(np.arange(4), 50)
    raw = RawData(np.zeros((200, 3)), y)
    s = Setting(
        name="s", description="", dataset="x", val_fraction=0.25, test_fraction=0.2, n_train=60
    )
    a, b = split_indices(s, raw), split_indices(s, raw)
    sizes = {k: len(idx) for k, (_, idx) in a.items()}
    assert sizes == {"train": 60, "val": 40, "test": 40}
    assert all(np.array_equal(a[k][1], b[k][1]) for k in a)  # same seed, same splits
    sets = [set(idx.tolist()) for _, idx in a.values()]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert {src for src, _ in a.values()} == {"train"}
    np.testing.assert_array_equal(np.bincount(y[a["train"][1]]), [15] * 4)


def test_load_splits_standardises_and_caches_backbone_features(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(data_mod.LOADERS, "digits", digits)
    calls: list[int] = []

    def fake_backbone(setting: Setting, device: torch.device, progress: bool) -> Any:
        def featurize(x: Any) -> np.ndarray:
            calls.append(len(x))
            return np.asarray(x, dtype=np.float32)[:, :10] * setting.resolution

        return {"backbone": "fake", "resolution": setting.resolution}, featurize

    monkeypatch.setattr(data_mod, "backbone_featurizer", fake_backbone)
    s = Setting(name="f", description="", dataset="digits", backbone="fake", resolution=2)
    first = load_splits(s, cache_dir=tmp_path, progress=False)
    assert len(calls) == 3 and first.X_train.shape[1] == 10
    assert first.info["sizes"] == {"train": 1260, "val": 140, "test": 397}
    cols = first.X_train.std(axis=0) > 0
    np.testing.assert_allclose(first.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(first.X_train.std(axis=0)[cols], 1, atol=1e-4)
    again = load_splits(s, cache_dir=tmp_path, progress=False)
    assert len(calls) == 3  # read from the cache
    np.testing.assert_array_equal(first.X_test, again.X_test)
    load_splits(Setting(**{**s.__dict__, "resolution": 3}), cache_dir=tmp_path, progress=False)
    assert len(calls) == 6  # a resolution change is a new key


def test_timing_context_sets_and_restores() -> None:
    before = torch.get_num_threads()
    with timing_context(threads=1) as timing:
        assert torch.get_num_threads() == 1
        assert timing == {"threads": 1, "flush_denormal": True}
        assert torch.tensor([1e-40]).item() * 1.0 == 0.0  # denormals flushed
    assert torch.get_num_threads() == before


def test_head_names_and_their_dependencies() -> None:
    assert head_names() == [
        "mlp", "glai-auto", "glai-rho2", "glai-untrained-gates", "glai-long-structure",
        "narrow-mlp", "mlp-w8", "mlp-w32", "glai-x2", "linear-probe", "sklearn-mlp",
    ]  # fmt: skip
    assert head_names({"glai-auto"}) == ["mlp", "glai-auto"]
    assert head_names({"narrow-mlp"}) == ["mlp", "glai-auto", "narrow-mlp"]
    with pytest.raises(ValueError, match="no head glai-x9 in setting 'tiny'"):
        head_names({"glai-x9"})


def test_warm_up_copes_with_sorted_labels_and_many_classes() -> None:
    # Data sets stored class by class (WordNet) once broke a warm-up on the first rows.
    y = np.repeat(np.arange(40), 30)
    X = np.random.default_rng(0).normal(size=(1200, 8)).astype(np.float32)
    warm_up(Splits(X, y, X, y, X, y), hidden=(256,))


# -- end to end ------------------------------------------------------------------------------


def test_bench_json_schema(bench: tuple[dict[str, Any], Path]) -> None:
    _, out = bench
    report = json.loads((out / "tiny.json").read_text())
    assert set(report) >= {"setting", "config", "data", "versions", "machine", "runs", "aggregates"}
    cfg = report["config"]
    assert cfg["seeds"] == [0, 1] and cfg["threads"] == 1 and cfg["flush_denormal"] is True
    assert cfg["setting"]["name"] == "tiny" and cfg["command"] == "glai bench tiny"
    # the heads ran with the library's defaults, plus only what the setting names
    glai_params = GLAIClassifier((16,), max_iter=8).get_params()
    assert cfg["estimators"]["glai"] == json.loads(json.dumps(glai_params, default=list))
    assert cfg["estimators"]["mlp"]["learning_rate_init"] == MLPHeadClassifier().learning_rate_init
    assert {"torch", "numpy", "scikit-learn", "glai"} <= set(report["versions"])
    assert {"platform", "cpu", "cores", "threads", "gpu", "date"} <= set(report["machine"])
    assert report["data"]["sizes"] == {"train": 1120, "val": 280, "test": 397}
    names = head_names()
    assert [r["model"] for r in report["runs"]] == names * 2
    assert [r["seed"] for r in report["runs"]] == [0] * len(names) + [1] * len(names)
    for r in report["runs"]:
        assert {"params", "mva", "test_accuracy", "seconds_to_mva", "seconds_to_mlp_mva",
                "epochs_to_mva", "fit_seconds", "inference_seconds"} <= set(r)  # fmt: skip
        assert 0 <= r["test_accuracy"] <= 1 and r["inference_seconds"] > 0
        if r["family"] != "sklearn":
            seconds = [h["seconds"] for h in r["history"]]
            assert seconds == sorted(seconds) and r["fit_seconds"] == seconds[-1]
            # scores of the returned model: the last phase (GLAI: paths, not structure)
            last = r["history"][-1]["phase"]
            assert r["mva"] == max(h["val_score"] for h in r["history"] if h["phase"] == last)
            assert r["mva"] == r["phase_mva"][last]
            assert set(r["seconds_per_epoch"]) <= {"mlp", "structural", "quantitative"}
    mlp = report["runs"][0]
    assert mlp["seconds_to_mlp_mva"] == mlp["seconds_to_mva"]


def test_bench_ablations_are_what_they_say(bench: tuple[dict[str, Any], Path]) -> None:
    report, _ = bench
    for seed in (0, 1):
        runs = {r["model"]: r for r in report["runs"] if r["seed"] == seed}
        assert runs["glai-untrained-gates"]["structure_frozen_epoch"] == 0
        assert runs["glai-untrained-gates"]["m_t"] == []
        assert runs["glai-long-structure"]["structure_frozen_epoch"] == 6
        assert len(runs["glai-long-structure"]["m_t"]) == 6
        auto = runs["glai-auto"]
        assert runs["narrow-mlp"]["hidden"] == auto["structural_widths"]
        assert auto["params"] <= runs["mlp"]["params"] == 64 * 16 + 16 + 16 * 10 + 10
        assert runs["glai-rho2"]["rho"] == 2.0 and runs["glai-rho2"]["structural_widths"] == [8]
        # same seed, same structural trajectory until the default rule stopped it
        k = auto["structure_frozen_epoch"]
        long_m = runs["glai-long-structure"]["m_t"]
        np.testing.assert_allclose(auto["m_t"][: min(k, 6)], long_m[: min(k, 6)])


def test_bench_aggregates_and_markdown(bench: tuple[dict[str, Any], Path]) -> None:
    report, out = bench
    agg = report["aggregates"]
    assert set(agg["models"]) == set(head_names())
    assert set(agg["comparisons"]) == set(head_names()) - {"mlp"}
    mva = [r["mva"] for r in report["runs"] if r["model"] == "mlp"]
    assert agg["models"]["mlp"]["mva"]["mean"] == pytest.approx(np.mean(mva))
    assert set(agg["verdict"]) == {"matches_accuracy", "faster_2x", "text"}
    md = (out / "tiny.md").read_text()
    assert md == markdown(json.loads((out / "tiny.json").read_text()))
    assert "| model | params | MVA % |" in md and "machine:" in md
    for name in head_names():
        assert f"| {name} |" in md
    assert "matches accuracy: " in md and "2x faster: " in md


def test_bench_writes_the_four_figures(bench: tuple[dict[str, Any], Path]) -> None:
    report, out = bench
    for name in ("paths.png", "tiny-path-distance.png", "tiny-rho.png", "tiny-tradeoff.png"):
        assert (out / name).read_bytes()[:8] == PNG, name
    assert set(report["files"]) == {
        "paths", "path_distance", "rho", "tradeoff", "json", "markdown"
    }  # fmt: skip


def test_bench_accuracy_against_time(bench: tuple[dict[str, Any], Path]) -> None:
    report, out = bench
    saved = json.loads((out / "tiny.json").read_text())
    points = {p["model"]: p for p in saved["tradeoff"]}
    # every head a user could pick, none of the ablations
    assert set(points) == {
        "mlp", "glai-auto", "glai-rho2", "narrow-mlp", "mlp-w8", "mlp-w32", "glai-x2",
        "linear-probe", "sklearn-mlp",
    }  # fmt: skip
    runs = report["runs"]
    for name, p in points.items():
        mine = [r for r in runs if r["model"] == name]
        assert p["mva"] == pytest.approx(np.mean([r["mva"] for r in mine]))
        assert p["seconds"] == pytest.approx(np.mean([r["seconds_to_mva"] for r in mine]))
        assert p["seeds"] == 2
        assert p["reached"] == sum(r["seconds_to_mlp_mva"] is not None for r in mine)
    # the GLAI budget is a multiple of the matched MLP's parameter count
    mlp_params = points["mlp"]["params"]
    assert mlp_params < points["glai-x2"]["params"] <= 2 * mlp_params
    assert points["mlp-w8"]["params"] == 64 * 8 + 8 + 8 * 10 + 10
    md = (out / "tiny.md").read_text()
    assert (
        "#### tiny: accuracy against time" in md
        and "![accuracy against time](tiny-tradeoff.png)" in md
    )
    # the main table leaves the heads of other sizes to the picture's table
    main = md.split("#### tiny: accuracy against time")[0]
    assert "| mlp-w8 |" not in main and "| glai-x2 |" in md.split("accuracy against time")[1]


def _point(
    model: str, mva: float, seconds: float, params: float = 100, reached: int = 0
) -> dict[str, Any]:
    return {"model": model, "seed": 0, "mva": mva, "seconds_to_mva": seconds, "params": params,
            "test_accuracy": mva, "seconds_to_mlp_mva": seconds if reached else None}  # fmt: skip


def test_tradeoff_front_and_smallest_matching_glai() -> None:
    runs = [
        _point("mlp", 0.90, 10.0, 1000, reached=1),
        _point("mlp-w32", 0.85, 2.0, 200),
        _point("mlp-w1024", 0.90, 30.0, 4000, reached=1),  # as accurate as mlp, slower: off
        _point("glai-auto", 0.88, 12.0, 1000),  # dominated by mlp: off the front
        _point("glai-x4", 0.91, 40.0, 4000, reached=1),  # most accurate: on
        _point("glai-x8", 0.92, 80.0, 8000, reached=1),  # more accurate still: on
        _point("glai-untrained-gates", 0.99, 1.0),  # an ablation: not a choice, left out
        _point("linear-probe", 0.80, 1.0, 50),  # fastest: on
    ]
    points = tradeoff_points(runs)
    assert [p.model for p in points] == [
        "linear-probe", "mlp-w32", "mlp", "glai-auto", "mlp-w1024", "glai-x4", "glai-x8"
    ]  # fmt: skip
    front = {p.model for p in points if p.front}
    assert front == {"linear-probe", "mlp-w32", "mlp", "glai-x4", "glai-x8"}
    best = smallest_matching(points)
    assert best is not None and best.model == "glai-x4"
    text = tradeoff_markdown(points)
    assert (
        "Smallest GLAI head reaching the matched MLP's MVA (90.00%, 10.00 s) in every seed: "
        "glai-x4, 4,000 parameters (4.00x the MLP's), 40.00 s to get there (0.25x" in text
    )
    assert (
        smallest_matching([p for p in points if p.model != "glai-x4" and p.model != "glai-x8"])
        is None
    )


# -- statistics on hand-made numbers -----------------------------------------------------------


def _runs(model: str, mva: list[float], test: list[float], to_mva: list[float],
          to_mlp: list[float | None]) -> list[dict[str, Any]]:  # fmt: skip
    return [
        {
            "model": model,
            "seed": s,
            "mva": m,
            "test_accuracy": t,
            "seconds_to_mva": a,
            "seconds_to_mlp_mva": b,
            "params": 100,
        }  # fmt: skip
        for s, (m, t, a, b) in enumerate(zip(mva, test, to_mva, to_mlp))
    ]


def test_speedup_and_never() -> None:
    mlp = _runs("mlp", [0.9] * 3, [0.9] * 3, [10.0, 8.0, 6.0], [10.0, 8.0, 6.0])
    glai = _runs("glai-auto", [0.9] * 3, [0.9] * 3, [4.0, 9.0, 2.0], [5.0, None, 2.0])
    assert speedups(mlp, glai) == [2.0, None, 3.0]
    s = summarize([2.0, None, 3.0])
    assert s["mean"] == 2.5 and s["median"] == 2.5 and s["n"] == 2 and s["n_missing"] == 1
    assert summarize([None])["mean"] is None
    agg = aggregate(mlp + glai)
    comp = agg["comparisons"]["glai-auto"]
    assert comp["speedup"]["per_seed"] == [2.0, None, 3.0]
    assert comp["time"]["n"] == 2 and comp["time"]["mean_diff"] == pytest.approx(4.5)
    assert agg["models"]["glai-auto"]["seconds_to_mlp_mva"]["n_missing"] == 1
    assert agg["verdict"]["faster_2x"] is False
    assert "reached the MLP's MVA in 2 of 3 seeds" in agg["verdict"]["text"][1]


def test_paired_test_agrees_with_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.9, 0.01, 8), rng.normal(0.9, 0.01, 8)
    out = paired_test(a, b)
    assert out["t_pvalue"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert out["wilcoxon_pvalue"] == pytest.approx(sps.wilcoxon(a, b).pvalue)
    assert out["mean_diff"] == pytest.approx(np.mean(a - b))
    small = paired_test(a[:5], b[:5])
    assert small["t_pvalue"] == pytest.approx(sps.ttest_rel(a[:5], b[:5]).pvalue)
    assert small["wilcoxon_pvalue"] is None  # below 6 pairs
    assert paired_test([0.5, 0.6], [0.5, 0.6])["t_pvalue"] is None  # no variance: no p-value
    assert paired_test([0.5], [0.4])["t_pvalue"] is None
    with pytest.raises(ValueError, match="length"):
        paired_test([1.0], [1.0, 2.0])


@pytest.mark.parametrize(
    ("glai_test", "matches"),
    [
        ([0.899, 0.897, 0.903, 0.899, 0.902], True),  # -0.0 points, noise
        ([0.895, 0.894, 0.896, 0.895, 0.895], False),  # -0.5 points: beyond the margin
        ([0.898, 0.8979, 0.8981, 0.898, 0.898], False),  # -0.2 points but consistently worse
    ],
)
def test_accuracy_verdict(glai_test: list[float], matches: bool) -> None:
    mlp = _runs("mlp", [0.9] * 5, [0.9] * 5, [10.0] * 5, [10.0] * 5)
    glai = _runs("glai-auto", [0.9] * 5, glai_test, [1.0] * 5, [4.0, 5.0, 4.0, 5.0, 4.0])
    v = aggregate(mlp + glai)["verdict"]
    assert v["matches_accuracy"] is matches
    assert v["faster_2x"] is True  # every seed reached the MLP's MVA, mean speedup 2.25
    assert v["text"][0].startswith(f"matches accuracy: {'yes' if matches else 'no'}")


def test_verdict_speed_threshold() -> None:
    mlp = _runs("mlp", [0.9] * 3, [0.9] * 3, [10.0] * 3, [10.0] * 3)
    slow = _runs("glai-auto", [0.9] * 3, [0.9] * 3, [9.0] * 3, [6.0] * 3)
    v = verdict(aggregate(mlp + slow)["comparisons"]["glai-auto"])
    assert v["faster_2x"] is False and "1.67x < 2x" in v["text"][1]


def test_git_commit_names_this_checkout() -> None:
    from glai_bench.report import git_commit

    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    commit = git_commit()
    assert commit is not None and len(commit.removesuffix("+dirty")) == 40
