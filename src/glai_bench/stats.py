"""Aggregate a setting's runs over seeds, test GLAI against the MLP, and state a verdict.

Runs are paired by seed (same splits, same seed, same process). For each head against the
MLP head:

* accuracy: paired t-test over seeds (and Wilcoxon's signed-rank test from 6 seeds on) of the
  test accuracy and of the maximum validation accuracy (MVA);
* time: speedup_s = MLP seconds to its MVA / head's seconds to reach the MLP's MVA, per seed
  (None where the head never got there), and a paired test of those two times.

Verdict for the matched GLAI head ("glai-auto"): it *matches accuracy* when, for both test
accuracy and MVA, the difference of means is >= -0.3 points and it is not significantly worse
(p < 0.05 with a negative mean difference); it is *2x faster* when it reached the MLP's MVA in
every seed and the mean speedup is >= 2.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

__all__ = [
    "ALPHA",
    "ACCURACY_MARGIN",
    "summarize",
    "paired_test",
    "speedups",
    "compare",
    "verdict",
    "aggregate",
]

ALPHA = 0.05
ACCURACY_MARGIN = 0.003  # 0.3 points of accuracy
MIN_WILCOXON = 6  # with fewer pairs its smallest two-sided p-value is above 0.05 anyway
METRICS = (
    "params", "mva", "val_accuracy", "test_accuracy", "epochs", "epochs_to_mva",
    "seconds_to_mva", "epochs_to_mlp_mva", "seconds_to_mlp_mva", "fit_seconds",
    "inference_seconds", "structure_frozen_epoch", "rho",
)  # fmt: skip

Run = dict[str, Any]


def _finite(x: Any) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def summarize(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, sample std, median, min and max of the values that are not None; ``n`` counts them
    and ``n_missing`` the Nones (e.g. seeds that never reached a target)."""
    xs = np.array([v for v in values if v is not None], dtype=np.float64)
    out: dict[str, Any] = {"n": int(xs.size), "n_missing": len(values) - int(xs.size)}
    if xs.size == 0:
        return {**out, "mean": None, "std": None, "median": None, "min": None, "max": None}
    std = float(xs.std(ddof=1)) if xs.size > 1 else 0.0
    return {
        **out, "mean": float(xs.mean()), "std": std, "median": float(np.median(xs)),
        "min": float(xs.min()), "max": float(xs.max()),
    }  # fmt: skip


def paired_test(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Paired tests of ``a`` against ``b`` (same length, paired by index).

    Returns ``n``, ``mean_diff`` (mean of ``a - b``), ``t_pvalue`` (scipy's two-sided
    ``ttest_rel``; None with fewer than 2 pairs or when every difference is equal) and
    ``wilcoxon_pvalue`` (two-sided signed-rank test; None below 6 pairs or all ties).
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out: dict[str, Any] = {
        "n": int(x.size),
        "mean_diff": float((x - y).mean()) if x.size else None,
        "t_pvalue": None,
        "wilcoxon_pvalue": None,
    }
    # Near-identical differences make scipy warn about precision; the p-value stands as computed.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if x.size >= 2:
            out["t_pvalue"] = _finite(sps.ttest_rel(x, y).pvalue)
        if x.size >= MIN_WILCOXON and np.any(x != y):
            out["wilcoxon_pvalue"] = _finite(sps.wilcoxon(x, y).pvalue)
    return out


def _by_seed(runs: Sequence[Run], model: str) -> dict[int, Run]:
    return {r["seed"]: r for r in runs if r["model"] == model}


def speedups(mlp: Sequence[Run], head: Sequence[Run]) -> list[float | None]:
    """Per seed: MLP seconds to its MVA / head's seconds to the MLP's MVA (None: never)."""
    mine = {r["seed"]: r for r in head}
    out: list[float | None] = []
    for r in sorted(mlp, key=lambda r: r["seed"]):
        t = mine[r["seed"]]["seconds_to_mlp_mva"] if r["seed"] in mine else None
        out.append(None if t is None or t <= 0 else r["seconds_to_mva"] / t)
    return out


def compare(runs: Sequence[Run], model: str, baseline: str = "mlp") -> dict[str, Any]:
    """``model`` against ``baseline`` over the seeds both ran: accuracy and time tests, speedups."""
    base, mine = _by_seed(runs, baseline), _by_seed(runs, model)
    seeds = sorted(set(base) & set(mine))
    out: dict[str, Any] = {"seeds": seeds}
    for metric in ("test_accuracy", "mva"):
        out[metric] = paired_test(
            [mine[s][metric] for s in seeds], [base[s][metric] for s in seeds]
        )
    reached = [s for s in seeds if mine[s]["seconds_to_mlp_mva"] is not None]
    out["time"] = paired_test(
        [base[s]["seconds_to_mva"] for s in reached],
        [mine[s]["seconds_to_mlp_mva"] for s in reached],
    )  # a positive mean_diff: the head got there sooner
    per_seed = speedups([base[s] for s in seeds], [mine[s] for s in seeds])
    out["speedup"] = {"per_seed": per_seed, **summarize(per_seed)}
    return out


def _worse(test: dict[str, Any]) -> str | None:
    """Why an accuracy comparison fails, or None when it holds."""
    diff, p = test["mean_diff"], test["t_pvalue"]
    if diff is None:
        return "no paired runs"
    if diff < -ACCURACY_MARGIN:
        return f"{100 * diff:+.2f} points is below -{100 * ACCURACY_MARGIN:.1f}"
    if diff < 0 and p is not None and p < ALPHA:
        return f"significantly worse (p={p:.3g})"
    return None


def verdict(comparison: dict[str, Any]) -> dict[str, Any]:
    """Plain answers for one head against the MLP: matches accuracy? 2x faster?"""
    acc_fail = [f"{m}: {why}" for m in ("test_accuracy", "mva") if (why := _worse(comparison[m]))]
    sp = comparison["speedup"]
    n_seeds = len(comparison["seeds"])
    if n_seeds == 0 or sp["n_missing"]:
        fast, why_slow = False, f"reached the MLP's MVA in {sp['n']} of {n_seeds} seeds"
    elif sp["mean"] < 2:
        fast, why_slow = False, f"mean speedup {sp['mean']:.2f}x < 2x"
    else:
        fast, why_slow = True, f"mean speedup {sp['mean']:.2f}x"

    def fmt(test: dict[str, Any]) -> str:
        p = test["t_pvalue"]
        diff = "n/a" if test["mean_diff"] is None else f"{100 * test['mean_diff']:+.2f} pts"
        return f"{diff}, p={'n/a' if p is None else f'{p:.3g}'}"

    acc_text = "yes" if not acc_fail else "no"
    time_p = comparison["time"]["t_pvalue"]
    return {
        "matches_accuracy": not acc_fail,
        "faster_2x": fast,
        "text": [
            f"matches accuracy: {acc_text} (test {fmt(comparison['test_accuracy'])}; "
            f"MVA {fmt(comparison['mva'])})"
            + ("" if not acc_fail else f" [{'; '.join(acc_fail)}]"),
            f"2x faster: {'yes' if fast else 'no'} ({why_slow}; time p="
            f"{'n/a' if time_p is None else f'{time_p:.3g}'})",
        ],
    }


def aggregate(runs: Sequence[Run], matched: str = "glai-auto") -> dict[str, Any]:
    """Per model: summaries of :data:`METRICS` (and of the seconds per epoch of each phase) over
    seeds; per head: :func:`compare` with the MLP head; the :func:`verdict` of ``matched``."""
    models: dict[str, dict[str, Any]] = {}
    for r in runs:
        models.setdefault(r["model"], {})
    summaries = {
        name: {
            m: summarize([r.get(m) for r in runs if r["model"] == name])
            for m in METRICS
            if any(r["model"] == name and m in r for r in runs)
        }
        for name in models
    }
    for name, summary in summaries.items():
        per_phase: dict[str, list[float | None]] = {}
        for r in runs:
            if r["model"] == name:
                for phase, seconds in r.get("seconds_per_epoch", {}).items():
                    per_phase.setdefault(phase, []).append(seconds)
        if per_phase:
            summary["seconds_per_epoch"] = {p: summarize(v) for p, v in per_phase.items()}
    comparisons = {name: compare(runs, name) for name in models if name != "mlp"}
    out: dict[str, Any] = {"models": summaries, "comparisons": comparisons}
    if matched in comparisons:
        out["verdict"] = verdict(comparisons[matched])
    return out
