"""Few-shot heads against nearest class mean on the raw features (``wordnet-minilm-fewshot``).

For each labeling of the features (:mod:`glai_bench.fewshot_data`), the classes are split once
into base and novel classes. Per training seed an MLP head and a GLAI head
(:class:`glai.fewshot.FewShotHead`, the rows of :data:`HEADS`) learn on the base classes; every
head, and the raw features, are scored on the *same* novel tasks (one task seed per task
shape). Runs are paired by seed for the tests of :mod:`glai_bench.stats`.

Outputs in ``out`` for a setting with stem ``S``: ``S.json`` (everything), ``S.md`` (tables and
verdicts) and ``S-accuracy.png`` (accuracy with 95% intervals per task shape).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glai import GLAI
from glai.fewshot import FewShotHead, evaluate
from glai_bench import plots
from glai_bench.fewshot_data import FEWSHOT_LOADERS, FewShotData, split_for
from glai_bench.protocols.base import Options, Outcome, Protocol, Run
from glai_bench.report import markdown_tail, p_value
from glai_bench.settings import FewShotSetting
from glai_bench.stats import paired_test, summarize

__all__ = ["HEADS", "KINDS", "FewShot", "task_name", "run_split", "aggregate_fewshot"]


def task_name(n_way: int, k_shot: int) -> str:
    return f"{n_way}-way {k_shot}-shot"


def _score(
    setting: FewShotSetting, X: np.ndarray, y: np.ndarray, transform: Any
) -> dict[str, Any]:
    """Accuracy, 95% interval and seconds per 1000 tasks of each task shape (fixed task seeds);
    shapes with more ways than there are novel classes are left out."""
    out = {}
    for i, (n_way, k_shot) in enumerate(setting.tasks):
        if n_way > len(np.unique(y)):
            continue
        r = evaluate(
            X, y, transform=transform, n_way=n_way, k_shot=k_shot, n_query=setting.n_query,
            n_tasks=setting.n_tasks, random_state=setting.split_seed + 1000 * (i + 1),
        )  # fmt: skip
        out[task_name(n_way, k_shot)] = {
            "accuracy": r["accuracy"], "ci95": r["ci95"], "loss": r["loss"],
            "seconds_per_1000_tasks": r["seconds"] * 1000 / setting.n_tasks,
        }  # fmt: skip
    return out


@dataclass
class SplitContext:
    """One labeling and seed: base features (``X_base [n, d]``, ``y_base``), novel ones, and
    the standardisation with base statistics that the heads see."""

    setting: FewShotSetting
    X_base: np.ndarray
    y_base: np.ndarray
    X_novel: np.ndarray
    y_novel: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    seed: int = 0
    device: str = "cpu"

    def standardize(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.std).astype(np.float32)


def _fit_head(kind: str, c: SplitContext) -> Run:
    """A :class:`FewShotHead` of ``kind`` fitted on the base classes, scored on novel tasks."""
    gc.collect()
    head = FewShotHead(
        c.setting.hidden, kind=kind, random_state=c.seed, device=c.device,
        **c.setting.fewshot_kwargs(),
    )  # fmt: skip
    head.fit(c.standardize(c.X_base), c.y_base)
    scores = _score(c.setting, c.X_novel, c.y_novel,
                    lambda X, h=head: h.transform(c.standardize(X)))  # fmt: skip
    run: Run = {
        "family": head.kind,
        "params": int(head.n_trainable_params_),
        "fit_seconds": float(head.fit_seconds_),
        "checks": int(head.n_iter_),
        "best_val_score": head.best_val_score_,
        "tasks": scores,
        "history": head.history_.to_dicts(),
    }
    if isinstance(head.model_, GLAI):
        run.update(
            structure_frozen_epoch=int(head.structure_frozen_epoch_),
            m_t=[float(m) for m in head.path_distance_],
            structural_widths=list(head.model_.structural_features),
            num_paths=int(head.model_.num_paths),
        )
    return run


# The heads trained per seed (name -> fit); the raw features are the reference of every one.
HEADS: dict[str, Callable[[SplitContext], Run]] = {
    "mlp": lambda c: _fit_head("mlp", c),
    "glai": lambda c: _fit_head("glai", c),
}
KINDS = tuple(HEADS)


def run_split(
    setting: FewShotSetting, data: FewShotData, split: str, seeds: int, device: str = "cpu"
) -> list[Run]:
    """Runs of one labeling: the raw reference, then per seed the heads of :data:`HEADS`."""
    base_rows, novel_rows, _, _ = split_for(setting, data.labelings[split], split)
    y = data.labelings[split].y
    Xb = data.X[base_rows]
    # The heads see features standardised with base statistics, as the other bench heads do;
    # the reference is the backbone's own embedding space (the one a user would start from).
    mean = Xb.mean(axis=0, dtype=np.float64)
    std = Xb.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    c = SplitContext(setting, Xb, y[base_rows], data.X[novel_rows], y[novel_rows], mean, std,
                     device=device)  # fmt: skip
    reference = _score(setting, c.X_novel, c.y_novel, None)
    runs: list[Run] = [
        {"split": split, "model": "raw", "seed": None, "family": "reference", "tasks": reference}
    ]
    for seed in range(seeds):
        c.seed = seed
        for head in FewShot().heads(setting):
            runs.append({"split": split, "model": head.name, "seed": seed, **head.fit(c)})
    return runs


def split_info(setting: FewShotSetting, data: FewShotData, split: str) -> dict[str, Any]:
    """Sizes of one labeling's base and novel classes, and the novel classes' names."""
    base_rows, novel_rows, base, novel = split_for(setting, data.labelings[split], split)
    return {
        "base_classes": len(base), "novel_classes": len(novel),
        "base_samples": len(base_rows), "novel_samples": len(novel_rows),
        "novel_class_names": [data.labelings[split].names[c] for c in novel],
    }  # fmt: skip
def aggregate_fewshot(runs: list[dict[str, Any]], setting: FewShotSetting) -> dict[str, Any]:
    """Per split, task and model: accuracy over seeds; paired tests over seeds of each head
    against the raw reference and of GLAI against the MLP head."""
    out: dict[str, Any] = {}
    for split in setting.splits:
        mine = [r for r in runs if r["split"] == split]
        raw = next(r for r in mine if r["model"] == "raw")
        by_kind = {k: sorted((r for r in mine if r["model"] == k), key=lambda r: r["seed"])
                   for k in KINDS}  # fmt: skip
        split_out: dict[str, Any] = {"models": {}, "tasks": {}}
        for kind, rs in by_kind.items():
            split_out["models"][kind] = {
                "params": summarize([r["params"] for r in rs]),
                "fit_seconds": summarize([r["fit_seconds"] for r in rs]),
                "structure_frozen_epoch": summarize(
                    [r.get("structure_frozen_epoch") for r in rs]
                ),
            }
        for task in raw["tasks"]:
            acc = {k: [r["tasks"][task]["accuracy"] for r in rs] for k, rs in by_kind.items()}
            ref = raw["tasks"][task]["accuracy"]
            split_out["tasks"][task] = {
                "raw": raw["tasks"][task],
                **{k: {
                    "accuracy": summarize(a),
                    "ci95": summarize([r["tasks"][task]["ci95"] for r in by_kind[k]]),
                    "seconds_per_1000_tasks": summarize(
                        [r["tasks"][task]["seconds_per_1000_tasks"] for r in by_kind[k]]),
                    "vs_raw": paired_test(a, [ref] * len(a)),
                } for k, a in acc.items()},
                "glai_vs_mlp": paired_test(acc["glai"], acc["mlp"]),
            }  # fmt: skip
        out[split] = split_out
    return out


def _verdicts(agg: dict[str, Any]) -> list[str]:
    """Plain sentences: does each head beat the raw features; does GLAI match the MLP head."""
    lines = []
    for split, s in agg.items():
        for task, t in s["tasks"].items():
            parts = []
            for kind in KINDS:
                test = t[kind]["vs_raw"]
                p = test["t_pvalue"]
                significant = p is not None and p < 0.05
                verb = "does NOT beat"
                if significant:
                    verb = "beats" if test["mean_diff"] > 0 else "is WORSE than"
                parts.append(
                    f"{kind.upper()} {verb} raw ({100 * test['mean_diff']:+.2f} pts, "
                    f"p={p_value(p, 2)})"
                )
            g = t["glai_vs_mlp"]
            p = g["t_pvalue"]
            parts.append(f"GLAI - MLP {100 * g['mean_diff']:+.2f} pts (p={p_value(p, 2)})")
            lines.append(f"{split}, {task}: " + "; ".join(parts))
    return lines


class FewShot(Protocol[FewShotSetting]):
    """The protocol of :class:`~glai_bench.settings.FewShotSetting` (module docstring)."""

    name = "fewshot"

    head_table = HEADS

    def load(self, setting: FewShotSetting, options: Options) -> FewShotData:
        o = options
        return FEWSHOT_LOADERS[setting.dataset](setting, o.cache_dir, o.device, o.progress)

    def data_info(self, setting: FewShotSetting, data: FewShotData) -> dict[str, Any]:
        splits = {split: split_info(setting, data, split) for split in setting.splits}
        return {**data.info, "n_features": int(data.X.shape[1]), "splits": splits}

    def run(self, setting: FewShotSetting, data: FewShotData, options: Options) -> Outcome:
        runs: list[Run] = []
        for split in setting.splits:
            runs += run_split(setting, data, split, options.seeds, options.device)
        return Outcome(runs)

    def config(self, setting: FewShotSetting, only: set[str] | None) -> dict[str, Any]:
        return {"head": FewShotHead(setting.hidden, **setting.fewshot_kwargs()).get_params()}

    def summarize(self, setting: FewShotSetting, outcome: Outcome) -> dict[str, Any]:
        agg = aggregate_fewshot(outcome.runs, setting)
        return {"aggregates": agg, "verdicts": _verdicts(agg)}

    def figures(
        self, setting: FewShotSetting, report: dict[str, Any], folder: Path
    ) -> dict[str, Path]:
        stem = setting.stem
        path = folder / f"{stem}-accuracy.png"
        return {"accuracy": plots.plot_fewshot_accuracy(report["aggregates"], path, stem)}

    def markdown(self, report: dict[str, Any]) -> str:
        """A Markdown section: one table per split, the verdicts, the command and the machine."""
        cfg, agg = report["config"], report["aggregates"]
        s = cfg["setting"]
        lines = [f"### {report['setting']}", "", f"{s['description']}. {len(cfg['seeds'])} "
                 f"seeds; {s['n_tasks']} novel tasks per shape ({s['n_query']} queries per class), "
                 "the same tasks for every model; accuracy % as mean ± std over seeds [mean 95% "
                 "interval half-width over tasks].", ""]  # fmt: skip
        for split, a in agg.items():
            info = report["data"]["splits"][split]
            tasks = list(a["tasks"])
            lines += [
                f"**{split}**: {info['base_classes']} base classes ({info['base_samples']} "
                f"samples), {info['novel_classes']} novel classes ({info['novel_samples']} "
                "samples).",
                "",
                "| model | params | train s | " + " | ".join(tasks) + " | s / 1000 tasks |",
                "|---|---:|---:|" + "---:|" * len(tasks) + "---:|",
            ]
            raw = [a["tasks"][t]["raw"] for t in tasks]
            lines.append(
                "| raw (nearest class mean) | 0 | 0 | "
                + " | ".join(f"{100 * r['accuracy']:.2f} [±{100 * r['ci95']:.2f}]" for r in raw)
                + f" | {np.mean([r['seconds_per_1000_tasks'] for r in raw]):.2f} |"
            )
            for kind in KINDS:
                m = a["models"][kind]
                cells = []
                for t in tasks:
                    x = a["tasks"][t][kind]
                    cells.append(
                        f"{100 * x['accuracy']['mean']:.2f} ± {100 * x['accuracy']['std']:.2f} "
                        f"[±{100 * x['ci95']['mean']:.2f}]"
                    )
                per1000 = np.mean([a["tasks"][t][kind]["seconds_per_1000_tasks"]["mean"]
                                   for t in tasks])  # fmt: skip
                lines.append(
                    f"| {kind.upper()} head | {m['params']['mean']:,.0f} | "
                    f"{m['fit_seconds']['mean']:.1f} ± {m['fit_seconds']['std']:.1f} | "
                    + " | ".join(cells) + f" | {per1000:.2f} |"
                )
            skipped = [task_name(w, k) for w, k in s["tasks"] if task_name(w, k) not in tasks]
            if skipped:
                lines.append(f"\n{', '.join(skipped)}: n/a (only {info['novel_classes']} novel "
                             "classes).")  # fmt: skip
            lines.append("")
        return "\n".join(lines + markdown_tail(report, report["verdicts"]))


