"""The bench figures, after the paper's (Mestre et al., 2025, arXiv:2510.00883):

1. :func:`plot_paths`: the paths of a small GLAI model (Figure 1: 4 inputs, 2 hidden units,
   3 outputs = 6 paths of 4 + 1 parameters), each output's paths in one colour.
2. :func:`plot_path_distance`: ``m_t`` and its relative change against the training and
   validation loss over epochs, the structure-freeze epoch marked (Figure 2).
3. :func:`plot_mva_vs_rho`: maximum validation accuracy against ``rho``, GLAI mean ± std over
   seeds and the MLP as a band (Figure 3).

And the bench's own: accuracy against time (:func:`plot_accuracy_vs_time`), few-shot accuracy
per task shape (:func:`plot_fewshot_accuracy`), SSL loss and probe curves
(:func:`plot_ssl_curves`).

Figures are drawn on ``matplotlib.figure.Figure`` objects and saved as PNG, so no pyplot
state or interactive backend is involved.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from glai import MLP, PathModel, freeze
from glai.structure import relative_changes
from glai_bench.tradeoff import TradeoffPoint

__all__ = [
    "figure1_model",
    "plot_paths",
    "plot_path_distance",
    "plot_mva_vs_rho",
    "plot_accuracy_vs_time",
    "plot_fewshot_accuracy",
    "plot_incremental_steps",
    "plot_ssl_curves",
]

PathLike = str | os.PathLike[str]


def _save(fig: Figure, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def figure1_model(seed: int = 0) -> PathModel:
    """The paper's Figure 1 example: GLAI on an untrained 4-2-3 ReLU network, every path kept."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mlp = MLP(4, 2, 3)
    return freeze(mlp, None, budget=None, prune_dead=False)


def _column(n: int) -> np.ndarray:
    """Vertical positions of ``n`` nodes centred on 0."""
    return np.arange(n)[::-1] - (n - 1) / 2


def plot_paths(model: PathModel, path: PathLike) -> Path:
    """Draw every full path of ``model``: input fan-in, hidden units on the path, its output.

    A path ``p = (j_1, .., j_{L-1}, k)`` carries ``g_p(x) (theta_p . x + beta_p)`` into output
    ``k``; it is drawn from every input (it sees all of ``x``) through its units to ``k``,
    coloured by ``k`` and shifted slightly so paths sharing a unit stay apart.
    """
    widths = [model.in_features, *model.hidden_features, model.out_features]
    ys = [_column(n) for n in widths]
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    colors = [f"C{k}" for k in range(model.out_features)]
    units = model.units[: model.num_full].tolist()
    outputs = model.output[: model.num_full].tolist()
    n_per_unit: dict[tuple[int, int], int] = {}
    for p, (chain, k) in enumerate(zip(units, outputs)):
        # offset inside each hidden node by this path's rank among the paths through it
        ranks = []
        for layer, j in enumerate(chain, start=1):
            rank = n_per_unit.get((layer, j), 0)
            n_per_unit[(layer, j)] = rank + 1
            ranks.append(rank)
        offsets = [0.07 * (r - (model.out_features - 1) / 2) for r in ranks]
        xs = list(range(1, len(chain) + 1)) + [len(chain) + 1]
        pts = [ys[layer][j] + off for layer, (j, off) in enumerate(zip(chain, offsets), start=1)]
        pts.append(ys[-1][k])
        for y_in in ys[0]:
            ax.plot([0, 1], [y_in, pts[0]], color=colors[k], lw=0.8, alpha=0.45)
        ax.plot(
            xs,
            pts,
            color=colors[k],
            lw=2.2,
            alpha=0.9,
            label=f"output {k + 1}" if p == outputs.index(k) else None,
        )
    depth = len(widths) - 2
    names = ["x", *(f"h^{{({layer})}}" if depth > 1 else "h" for layer in range(1, depth + 1)), "y"]
    for layer, (col, name) in enumerate(zip(ys, names)):
        for i, y in enumerate(col):
            ax.scatter(layer, y, s=520, color="white", edgecolor="black", zorder=3)
            ax.text(layer, y, f"${name}_{{{i + 1}}}$", ha="center", va="center", zorder=4)
    n_params = model.in_features + 1
    ax.set_title(
        f"GLAI paths: {model.in_features} inputs, {'-'.join(map(str, model.hidden_features))} "
        f"hidden units, "
        f"{model.out_features} outputs = {model.num_full} paths x {n_params} parameters"
    )
    equation = r"$\mathrm{glai}_k(x) = \beta_{0k} + \sum_{p \in P_k} g_p(x)\,"
    equation += r"(\theta_p \cdot x + \beta_p)$"
    ax.text((len(widths) - 1) / 2, ys[0].min() - 0.9, equation, ha="center", va="top")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_xlim(-0.4, len(widths) - 0.6)
    ax.set_ylim(ys[0].min() - 1.4, ys[0].max() + 0.6)
    ax.axis("off")
    return _save(fig, path)


def plot_path_distance(
    history: Sequence[dict[str, Any]],
    path: PathLike,
    *,
    freeze_epoch: int | None = None,
    rule_freeze_epoch: int | None = None,
    title: str = "",
) -> Path:
    """``m_t`` and ``|m_t - m_{t-1}| / m_{t-1}`` over the structural epochs (top) against the
    training and validation loss of all epochs (bottom).

    Args:
        history: per-epoch records (``EpochRecord`` dicts: epoch, phase, train_loss,
            val_loss, path_distance).
        freeze_epoch: the last structural epoch of this run.
        rule_freeze_epoch: where another stop rule froze the same structural trajectory (the
            default rule, when ``history`` comes from a longer fixed structural phase).
    """
    structural = [r for r in history if r.get("path_distance") is not None]
    epochs = [r["epoch"] for r in structural]
    m_t = [r["path_distance"] for r in structural]
    fig = Figure(figsize=(7, 5.5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(epochs, m_t, "o-", color="C0", ms=3, label="$m_t$ (fraction of gates changed)")
    top.set_ylabel("$m_t$")
    rel = relative_changes(m_t)
    right = top.twinx()
    rel_pts = [(e, v) for e, v in zip(epochs[1:], rel) if math.isfinite(v) and v > 0]
    if rel_pts:
        right.semilogy(*zip(*rel_pts), "s--", color="C1", ms=3, label="relative change")
    right.set_ylabel("$|m_t - m_{t-1}| / m_{t-1}$")
    all_epochs = [r["epoch"] for r in history]
    bottom.plot(all_epochs, [r["train_loss"] for r in history], color="C2", label="training loss")
    bottom.plot(all_epochs, [r["val_loss"] for r in history], color="C3", label="validation loss")
    bottom.set_xlabel("epoch")
    bottom.set_ylabel("loss")
    for ax in (top, bottom):
        if freeze_epoch is not None:
            ax.axvline(freeze_epoch + 0.5, color="k", ls="--", lw=1, label="structure frozen")
        if rule_freeze_epoch is not None:
            ax.axvline(
                rule_freeze_epoch + 0.5, color="gray", ls=":", lw=1.5, label="default rule froze"
            )
    handles = top.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    top.legend(
        handles[0] + more[0], handles[1] + more[1], fontsize=8, loc="upper right", framealpha=0.85
    )
    bottom.legend(fontsize=8, loc="upper right")
    top.set_title(title or "Path distance m_t against the loss")
    return _save(fig, path)


def plot_mva_vs_rho(runs: Sequence[dict[str, Any]], path: PathLike, *, title: str = "") -> Path:
    """MVA against ``rho``: the GLAI runs ``glai-auto`` (marked: the matched parameter count)
    and ``glai-rho*`` as mean ± std over seeds; the MLP head as a line with a ±std band."""
    fig = Figure(figsize=(6.5, 4))
    ax = fig.add_subplot()
    mlp = np.array([r["mva"] for r in runs if r["model"] == "mlp"]) * 100
    if mlp.size:
        std = mlp.std(ddof=1) if mlp.size > 1 else 0.0
        ax.axhline(mlp.mean(), color="C3", label=f"MLP head ({mlp.size} seeds)")
        ax.axhspan(mlp.mean() - std, mlp.mean() + std, color="C3", alpha=0.15)
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        if r["model"] == "glai-auto" or r["model"].startswith("glai-rho"):
            groups.setdefault(r["model"], []).append(r)
    points = sorted(
        (
            (float(np.mean([x["rho"] for x in rs])), np.array([x["mva"] for x in rs]) * 100, name)
            for name, rs in groups.items()
        ),
        key=lambda point: point[0],
    )
    if points:
        rho = [p[0] for p in points]
        mean = [p[1].mean() for p in points]
        err = [p[1].std(ddof=1) if p[1].size > 1 else 0.0 for p in points]
        ax.errorbar(rho, mean, yerr=err, fmt="o-", color="C0", capsize=3, label="GLAI (mean ± std)")
        for x, y, (_, _, name) in zip(rho, mean, points):
            if name == "glai-auto":
                ax.plot(x, y, "*", ms=14, color="C1", label=f"GLAI matched (rho={x:.3g})")
    ax.set_xscale("log")
    if points:
        ax.set_xticks(rho, [f"{x:.3g}" for x in rho])
        ax.minorticks_off()
    ax.set_xlabel("reduction factor rho (structural width = hidden / rho)")
    ax.set_ylabel("max validation accuracy (%)")
    ax.legend(fontsize=8)
    ax.set_title(title or "MVA against rho")
    return _save(fig, path)


def _short_label(p: TradeoffPoint) -> str:
    if p.model == "mlp":
        return "matched"
    if p.model == "glai-auto":
        return "x1"
    if p.model == "narrow-mlp":
        return "narrow"
    for prefix in ("mlp-w", "glai-"):
        if p.model.startswith(prefix):
            return p.model[len(prefix) :]
    return p.model


def plot_accuracy_vs_time(
    points: Sequence[TradeoffPoint], path: PathLike, *, title: str = ""
) -> Path:
    """MVA against seconds to MVA (log scale), mean ± std over seeds, one point per head.

    MLP heads are joined in order of width, GLAI heads in order of budget (labels: multiples
    of the matched MLP's parameter count); GLAI at other ``rho`` and the references are single
    points; heads on the front (none both more accurate and faster) are ringed; the matched
    MLP's MVA is a dashed line.
    """
    fig = Figure(figsize=(9, 4.8))
    ax = fig.add_subplot()
    style = {
        "mlp": dict(color="C3", marker="o", ls="-"),
        "glai": dict(color="C0", marker="s", ls="-"),
        "glai-rho": dict(color="C9", marker="D", ls=""),
        "reference": dict(color="C2", marker="^", ls=""),
    }
    for fam, label in (
        ("mlp", "MLP head (width)"),
        ("glai", "GLAI (budget / matched MLP)"),
        ("glai-rho", "GLAI at the matched budget, other rho"),
        ("reference", "scikit-learn references"),
    ):
        pts = sorted((p for p in points if p.family == fam), key=lambda p: p.params)
        if not pts:
            continue
        ax.errorbar(
            [p.seconds for p in pts], [100 * p.mva for p in pts],
            xerr=[p.seconds_std for p in pts], yerr=[100 * p.mva_std for p in pts],
            capsize=2, ms=6, lw=1.2, label=label, **style[fam],  # type: ignore[arg-type]
        )  # fmt: skip
        for p in pts:
            ax.annotate(
                _short_label(p), (p.seconds, 100 * p.mva), fontsize=7,
                xytext=(4, 4), textcoords="offset points", color=style[fam]["color"],
            )  # fmt: skip
    front = [p for p in points if p.front]
    if front:
        ax.scatter(
            [p.seconds for p in front], [100 * p.mva for p in front], s=180,
            facecolors="none", edgecolors="k", lw=1, label="front", zorder=3,
        )  # fmt: skip
    mlp = next((p for p in points if p.model == "mlp"), None)
    if mlp is not None:
        ax.axhline(100 * mlp.mva, color="C3", ls="--", lw=1, label="matched MLP's MVA")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel("seconds from the start of fit to its MVA (log)")
    ax.set_ylabel("max validation accuracy (%)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title or "accuracy against time")
    return _save(fig, path)


def plot_fewshot_accuracy(agg: dict[str, Any], path: PathLike, title: str) -> Path:
    """Few-shot bench: accuracy per task shape and model (bars: every protocol's models), error
    bars the 95% interval over tasks, one panel per labeling (``agg``:
    :func:`~glai_bench.protocols.fewshot.aggregate_fewshot`)."""
    fig = Figure(figsize=(7.5 * len(agg), 3.8))
    axes = fig.subplots(1, len(agg), squeeze=False)
    for ax, (split, a) in zip(axes[0], agg.items()):
        tasks = list(a["tasks"])
        x = np.arange(len(tasks))
        models = list(a["models"])
        width = 0.8 / len(models)
        lowest = 1.0
        for j, key in enumerate(models):
            info = a["models"][key]
            acc = [a["tasks"][t][key]["accuracy"]["mean"] for t in tasks]
            err = [a["tasks"][t][key].get("ci95_tasks", a["tasks"][t][key]["ci95"]["mean"])
                   for t in tasks]  # fmt: skip
            lowest = min(lowest, *acc)
            ax.bar(x + (j - (len(models) - 1) / 2) * width, 100 * np.asarray(acc), width,
                   yerr=100 * np.asarray(err), capsize=2,
                   label=f"{info['protocol']}: {info['label']}")  # fmt: skip
        ax.set_xticks(x, tasks)
        ax.set_ylabel("novel-class accuracy %")
        ax.set_title(f"{title}: {split}")
        ax.set_ylim(max(0.0, 100 * lowest - 10), 112)  # room for the legend
        ax.legend(fontsize=7, loc="upper left", ncols=2)
    fig.tight_layout()
    return _save(fig, path)


def plot_incremental_steps(
    runs: Sequence[dict[str, Any]], bounds: Sequence[int], path: PathLike, *, title: str = ""
) -> Path:
    """Class-incremental bench: test accuracy on the classes seen after each step, mean over
    seeds per head (the joint heads, scored once, as points at the last step)."""
    fig = Figure(figsize=(6.5, 4.0))
    ax = fig.subplots()
    models = list(dict.fromkeys(r["model"] for r in runs))
    for m in models:
        accs = np.array([r["step_accuracy"] for r in runs if r["model"] == m])
        xs = list(bounds)[-accs.shape[1] :]
        ax.plot(xs, 100 * accs.mean(0), marker="o", ms=3, label=m)
    ax.set_xlabel("classes seen")
    ax.set_ylabel("test accuracy on the classes seen %")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_ssl_curves(runs: Sequence[dict[str, Any]], path: PathLike, *, title: str = "") -> Path:
    """SSL bench: held-out NT-Xent and kNN validation accuracy against seconds, the heads of
    one seed."""
    fig = Figure(figsize=(10, 3.8))
    left, right = fig.subplots(1, 2)
    for i, run in enumerate(runs):
        hist = run["history"]
        t = [h["seconds"] for h in hist]
        label = f"{run['model']} ({run['params']:,} params)"
        left.plot(t, [h["val_loss"] for h in hist], color=f"C{i}", label=label)
        right.plot(t, [100 * h["knn_val"] for h in hist], color=f"C{i}", label=label)
        frozen = run.get("structure_frozen_epoch")
        if frozen:
            for ax in (left, right):
                ax.axvline(hist[frozen - 1]["seconds"], color=f"C{i}", ls=":", lw=1,
                           label="GLAI structure frozen" if ax is left else None)  # fmt: skip
    left.set(xlabel="training seconds", ylabel="held-out NT-Xent", title="contrastive loss")
    right.set(xlabel="training seconds", ylabel="kNN val accuracy %", title="probe")
    left.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)
