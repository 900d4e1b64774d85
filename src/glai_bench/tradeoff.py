"""The accuracy-versus-time picture: which head reaches which accuracy, how fast.

Every head of a setting that a user could pick instead of another is a point: its maximum
validation accuracy (MVA) against the wall-clock seconds from the start of ``fit`` until that
MVA, each as mean ± std over seeds. The heads are the MLP at several widths (the matched
``mlp``, ``mlp-w*`` and the narrow structural network alone, ``narrow-mlp``), GLAI at several
parameter budgets (``glai-auto``, ``glai-x*``: multiples of the matched MLP's count) and
structures (``glai-rho*``), and the references (scikit-learn's ``LogisticRegression`` and
``MLPClassifier``, timed as whole fits). The ablations (untrained gates, a fixed long
structural phase) are not choices and stay out.

A head is on the *front* when no other head has a higher mean MVA in no more mean seconds
(or the same MVA in fewer): a reader picks among those. ``reached`` counts the seeds in which
the head reached the matched MLP's MVA of the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "TradeoffPoint",
    "family",
    "tradeoff_points",
    "smallest_matching",
    "tradeoff_markdown",
    "as_dicts",
]

FAMILY_LABELS = {
    "mlp": "MLP head",
    "glai": "GLAI (budget)",
    "glai-rho": "GLAI (rho)",
    "reference": "reference",
}


def family(model: str) -> str | None:
    """``"mlp"``, ``"glai"`` (budgets), ``"glai-rho"``, ``"reference"``; None: not a choice."""
    if model in ("mlp", "narrow-mlp") or model.startswith("mlp-w"):
        return "mlp"
    if model == "glai-auto" or model.startswith("glai-x"):
        return "glai"
    if model.startswith("glai-rho"):
        return "glai-rho"
    if model in ("linear-probe", "sklearn-mlp"):
        return "reference"
    return None


@dataclass
class TradeoffPoint:
    """One head over seeds: params, MVA and seconds to it (mean, std), test accuracy (mean),
    seeds reaching the matched MLP's MVA (``reached`` of ``seeds``) and the mean seconds they
    took, and whether the head is on the front."""

    model: str
    family: str
    params: float
    mva: float
    mva_std: float
    seconds: float
    seconds_std: float
    test_accuracy: float
    seeds: int
    reached: int
    seconds_to_mlp_mva: float | None
    front: bool = False


def _std(x: np.ndarray) -> float:
    return float(x.std(ddof=1)) if x.size > 1 else 0.0


def tradeoff_points(runs: Sequence[dict[str, Any]]) -> list[TradeoffPoint]:
    """The heads of the picture from a bench's runs, sorted by mean seconds to MVA, with the
    front marked."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        if family(r["model"]) is not None:
            groups.setdefault(r["model"], []).append(r)
    points = []
    for model, rs in groups.items():
        mva = np.array([r["mva"] for r in rs], dtype=np.float64)
        seconds = np.array([r["seconds_to_mva"] for r in rs], dtype=np.float64)
        to_mlp = [r["seconds_to_mlp_mva"] for r in rs if r.get("seconds_to_mlp_mva") is not None]
        points.append(
            TradeoffPoint(
                model=model,
                family=str(family(model)),
                params=float(np.mean([r["params"] for r in rs])),
                mva=float(mva.mean()),
                mva_std=_std(mva),
                seconds=float(seconds.mean()),
                seconds_std=_std(seconds),
                test_accuracy=float(np.mean([r["test_accuracy"] for r in rs])),
                seeds=len(rs),
                reached=len(to_mlp),
                seconds_to_mlp_mva=float(np.mean(to_mlp)) if to_mlp else None,
            )
        )
    for p in points:
        p.front = not any(
            q is not p
            and q.mva >= p.mva
            and q.seconds <= p.seconds
            and (q.mva > p.mva or q.seconds < p.seconds)
            for q in points
        )
    return sorted(points, key=lambda p: p.seconds)


def smallest_matching(
    points: Sequence[TradeoffPoint], families: Sequence[str] = ("glai", "glai-rho")
) -> TradeoffPoint | None:
    """The head of ``families`` with the fewest parameters that reached the matched MLP's MVA
    in every seed (None: none did)."""
    full = [p for p in points if p.family in families and p.seeds and p.reached == p.seeds]
    return min(full, key=lambda p: (p.params, p.seconds), default=None)


def tradeoff_markdown(points: Sequence[TradeoffPoint], figure: str | None = None) -> str:
    """The picture's table (fastest first), the smallest GLAI matching the MLP, the figure."""
    mlp = next((p for p in points if p.model == "mlp"), None)
    lines = [
        "| model | kind | params | MVA % | s to MVA | test acc % | reached MLP's MVA "
        "| s to MLP's MVA | front |",
        "|---|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for p in points:
        to_mlp = "-" if p.seconds_to_mlp_mva is None else f"{p.seconds_to_mlp_mva:.2f}"
        lines.append(
            f"| {p.model} | {FAMILY_LABELS[p.family]} | {p.params:,.0f} "
            f"| {100 * p.mva:.2f} ± {100 * p.mva_std:.2f} | {p.seconds:.2f} ± {p.seconds_std:.2f} "
            f"| {100 * p.test_accuracy:.2f} | {p.reached}/{p.seeds} | {to_mlp} "
            f"| {'yes' if p.front else ''} |"
        )
    lines.append("")
    best = smallest_matching(points)
    if mlp is not None:
        target = f"the matched MLP's MVA ({100 * mlp.mva:.2f}%, {mlp.seconds:.2f} s)"
        if best is None:
            lines.append(f"- No GLAI head reached {target} in every seed.")
        else:
            assert best.seconds_to_mlp_mva is not None
            lines.append(
                f"- Smallest GLAI head reaching {target} in every seed: {best.model}, "
                f"{best.params:,.0f} parameters ({best.params / mlp.params:.2f}x the MLP's), "
                f"{best.seconds_to_mlp_mva:.2f} s to get there "
                f"({mlp.seconds / best.seconds_to_mlp_mva:.2f}x the MLP's speed)."
            )
    front = [p.model for p in points if p.front]
    lines.append(f"- Front (no head is both more accurate and faster): {', '.join(front)}.")
    if figure:
        lines += ["", f"![accuracy against time]({figure})"]
    return "\n".join(lines) + "\n"


def as_dicts(points: Sequence[TradeoffPoint]) -> list[dict[str, Any]]:
    return [asdict(p) for p in points]
