"""Few-shot classification under both readings of "few-shot classifier" on a frozen backbone
(``wordnet-minilm-fewshot``, ``fashion-effnet-fewshot``).

For each labeling of the features (:mod:`glai_bench.fewshot_data`), the classes are split once
into base and novel classes, and every model meets the *same* novel tasks (one task seed per
task shape):

* **nearest class mean** on the raw features (``raw``), the reference;
* **per-task classifiers** (:func:`glai.fewshot.evaluate` with ``classifier=``): a logistic
  regression (``lr``), and per seed an MLP head (``mlp-task``) and a GLAI head
  (``glai-task``), scikit-learn's defaults and glai's, fitted on each task's support set;
* **episodic embedding heads** (:class:`glai.fewshot.FewShotHead`, nearest class mean on
  their embedding): per seed an MLP head (``mlp``) and a GLAI head (``glai``) trained on the
  base classes.

Paired tests over seeds compare each model with the MLP head of its protocol and with the raw
reference (:mod:`glai_bench.stats`).

Outputs in ``out`` for a setting with stem ``S``: ``S.json`` (everything), ``S.md`` (tables and
verdicts) and ``S-accuracy.png`` (accuracy with 95% intervals per task shape).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from glai import GLAI, GLAIClassifier, MLPHeadClassifier
from glai.fewshot import FewShotHead, Tasks, classifier_accuracies, evaluate, sample_tasks
from glai_bench import plots
from glai_bench.fewshot_data import FEWSHOT_LOADERS, FewShotData, split_for
from glai_bench.protocols.base import Options, Outcome, Protocol, Run
from glai_bench.report import markdown_tail, p_value
from glai_bench.settings import FewShotSetting
from glai_bench.stats import paired_test, summarize

__all__ = ["HEADS", "MODELS", "FewShot", "task_name", "run_split", "aggregate_fewshot"]


def task_name(n_way: int, k_shot: int) -> str:
    return f"{n_way}-way {k_shot}-shot"


def _shapes(setting: FewShotSetting, y: np.ndarray) -> list[tuple[str, int, int, int]]:
    """``(name, n_way, k_shot, task seed)`` of the shapes the novel classes allow."""
    n_classes = len(np.unique(y))
    return [
        (task_name(w, k), w, k, setting.split_seed + 1000 * (i + 1))
        for i, (w, k) in enumerate(setting.tasks)
        if w <= n_classes
    ]


def _cell(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "accuracy": r["accuracy"], "ci95": r["ci95"], "loss": r["loss"],
        "n_tasks": len(r["task_accuracies"]), "seconds_per_task": r["seconds_per_task"],
    }  # fmt: skip


def _score_ncm(
    setting: FewShotSetting, X: np.ndarray, y: np.ndarray, transform: Any
) -> dict[str, Any]:
    """Nearest class mean on ``transform(X)`` over every task of each shape; the accuracy on
    the first ``per_task_tasks`` of them too (``accuracy_per_task_tasks``), to pair with the
    per-task classifiers."""
    out = {}
    for name, n_way, k_shot, seed in _shapes(setting, y):
        r = evaluate(
            X, y, transform=transform, n_way=n_way, k_shot=k_shot, n_query=setting.n_query,
            n_tasks=setting.n_tasks, random_state=seed,
        )  # fmt: skip
        m = setting.per_task_tasks or setting.n_tasks
        first = float(r["task_accuracies"][:m].mean())
        out[name] = {**_cell(r), "accuracy_per_task_tasks": first}
    return out


def _score_classifier(
    setting: FewShotSetting, X: np.ndarray, y: np.ndarray, classifier: Any
) -> dict[str, Any]:
    """A clone of ``classifier`` per task, on the first ``per_task_tasks`` tasks of each shape
    (the tasks of :func:`_score_ncm`: the same draw, cut)."""
    out = {}
    for name, n_way, k_shot, seed in _shapes(setting, y):
        tasks = sample_tasks(y, n_way=n_way, k_shot=k_shot, n_query=setting.n_query,
                             n_tasks=setting.n_tasks, random_state=seed)  # fmt: skip
        m = setting.per_task_tasks or setting.n_tasks
        cut = Tasks(tasks.support[:m], tasks.query[:m], tasks.classes[:m])
        t0 = time.perf_counter()
        accs, loss = classifier_accuracies(X, y, cut, classifier)
        seconds = time.perf_counter() - t0
        out[name] = {
            "accuracy": float(accs.mean()), "ci95": float(1.96 * accs.std() / np.sqrt(m)),
            "loss": loss, "n_tasks": m, "seconds_per_task": seconds / m,
            "accuracy_per_task_tasks": float(accs.mean()),
        }  # fmt: skip
    return out


@dataclass
class SplitContext:
    """One labeling and seed: base features (``X_base [n, d]``, ``y_base``), novel ones, and
    the inputs the heads and per-task classifiers see (standardised with base statistics when
    the setting says so)."""

    setting: FewShotSetting
    X_base: np.ndarray
    y_base: np.ndarray
    X_novel: np.ndarray
    y_novel: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    seed: int = 0
    device: str = "cpu"

    def inputs(self, X: np.ndarray) -> np.ndarray:
        if not self.setting.standardize:
            return X.astype(np.float32)
        return ((X - self.mean) / self.std).astype(np.float32)


def _fit_head(kind: str, c: SplitContext) -> Run:
    """A :class:`FewShotHead` of ``kind`` fitted on the base classes, scored on novel tasks."""
    gc.collect()
    extra: dict[str, Any] = {}
    if kind == "glai" and c.setting.glai_budget is not None:
        extra["budget"] = c.setting.glai_budget
    head = FewShotHead(
        c.setting.hidden, kind=kind, random_state=c.seed, device=c.device,
        **c.setting.fewshot_kwargs(), **extra,
    )  # fmt: skip
    head.fit(c.inputs(c.X_base), c.y_base)
    scores = _score_ncm(c.setting, c.X_novel, c.y_novel,
                        lambda X, h=head: h.transform(c.inputs(X)))  # fmt: skip
    run: Run = {
        "family": "episodic",
        "params": int(head.n_trainable_params_),
        "fit_seconds": float(head.fit_seconds_),
        "checks": int(head.n_iter_),
        "best_val_score": head.best_val_score_,
        "identity_val_score": head.identity_val_score_,
        "kept_identity": bool(head.kept_identity_),
        "validation": head.validation_,
        "residual": bool(head.residual_),
        "out_features": int(head.out_features_),
        "scale": head.scale_,
        "scale_scores": None
        if head.scale_scores_ is None
        else [[float(k), float(v)] for k, v in head.scale_scores_.items()],
        "tasks": scores,
        "history": head.history_.to_dicts(),
    }
    if isinstance(head.network_, GLAI):
        run.update(
            structure_frozen_epoch=int(head.structure_frozen_epoch_),
            m_t=[float(m) for m in head.path_distance_],
            structural_widths=list(head.network_.structural_features),
            num_paths=int(head.network_.num_paths),
        )
    return run


def _per_task(make: Callable[[int], Any]) -> Callable[[SplitContext], Run]:
    """A per-task classifier row: a clone of ``make(seed)`` fitted on each task's support."""

    def fit(c: SplitContext) -> Run:
        gc.collect()
        scores = _score_classifier(c.setting, c.inputs(c.X_novel), c.y_novel, make(c.seed))
        return {"family": "per-task", "tasks": scores}

    return fit


# The models trained per seed (name -> fit); "raw" and "lr" have no seed and run once.
HEADS: dict[str, Callable[[SplitContext], Run]] = {
    "mlp-task": _per_task(lambda seed: MLPHeadClassifier(random_state=seed)),
    "glai-task": _per_task(lambda seed: GLAIClassifier(random_state=seed)),
    "mlp": lambda c: _fit_head("mlp", c),
    "glai": lambda c: _fit_head("glai", c),
}
# Every row: (model, protocol, its label, the MLP head it is tested against).
MODELS: tuple[tuple[str, str, str, str], ...] = (
    ("raw", "nearest class mean", "raw features", "mlp"),
    ("lr", "per-task", "logistic regression", "mlp-task"),
    ("mlp-task", "per-task", "MLP head", "mlp-task"),
    ("glai-task", "per-task", "GLAI head", "mlp-task"),
    ("mlp", "episodic", "MLP head", "mlp"),
    ("glai", "episodic", "GLAI head", "mlp"),
)


def run_split(
    setting: FewShotSetting, data: FewShotData, split: str, seeds: int, device: str = "cpu"
) -> list[Run]:
    """Runs of one labeling: the raw reference and logistic regression, then per seed the
    models of :data:`HEADS`."""
    base_rows, novel_rows, _, _ = split_for(setting, data.labelings[split], split)
    y = data.labelings[split].y
    Xb = data.X[base_rows]
    mean = Xb.mean(axis=0, dtype=np.float64)
    std = Xb.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    c = SplitContext(setting, Xb, y[base_rows], data.X[novel_rows], y[novel_rows], mean, std,
                     device=device)  # fmt: skip
    # the reference is the backbone's own embedding space (the one a user would start from)
    reference = _score_ncm(setting, c.X_novel, c.y_novel, None)
    lr = _score_classifier(setting, c.inputs(c.X_novel), c.y_novel,
                           LogisticRegression(max_iter=1000))  # fmt: skip
    runs: list[Run] = [
        {"split": split, "model": "raw", "seed": None, "family": "reference", "tasks": reference},
        {"split": split, "model": "lr", "seed": None, "family": "per-task", "tasks": lr},
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


def _accuracies(rs: list[Run], task: str, n_seeds: int, key: str = "accuracy") -> list[float]:
    """One accuracy per seed (a model without seeds repeats its one value)."""
    values = [r["tasks"][task][key] for r in rs]
    return values * n_seeds if len(values) == 1 else values


def _paired(a: list[float], b: list[float]) -> dict[str, Any]:
    """:func:`paired_test`, without p-values where the differences do not vary over seeds
    (two seedless models, or heads whose seeds agree): a test of a constant says nothing."""
    test = paired_test(a, b)
    if np.ptp(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) < 1e-9:
        test = {**test, "t_pvalue": None, "wilcoxon_pvalue": None}
    return test


def aggregate_fewshot(runs: list[dict[str, Any]], setting: FewShotSetting) -> dict[str, Any]:
    """Per split, task and model: accuracy over seeds, seconds per task, and paired tests over
    seeds against the MLP head of the same protocol (``vs_mlp``) and against the raw
    reference (``vs_raw``; on the per-task classifiers' tasks for them)."""
    out: dict[str, Any] = {}
    for split in setting.splits:
        mine = [r for r in runs if r["split"] == split]
        by_model = {m: sorted((r for r in mine if r["model"] == m),
                              key=lambda r: -1 if r["seed"] is None else r["seed"])
                    for m, *_ in MODELS}  # fmt: skip
        n_seeds = max([len(rs) for rs in by_model.values()] + [1])
        split_out: dict[str, Any] = {"models": {}, "tasks": {}}
        for model, protocol, label, _ in MODELS:
            rs = by_model[model]
            split_out["models"][model] = {
                "protocol": protocol, "label": label, "seeds": len(rs),
                "params": summarize([r.get("params") for r in rs]),
                "fit_seconds": summarize([r.get("fit_seconds") for r in rs]),
                "kept_identity": sum(bool(r.get("kept_identity")) for r in rs),
            }  # fmt: skip
        for task in by_model["raw"][0]["tasks"]:
            t_out = {}
            for model, _, _, ref in MODELS:
                rs = by_model[model]
                acc = _accuracies(rs, task, n_seeds)
                per_task = model in ("lr", "mlp-task", "glai-task")
                key = "accuracy_per_task_tasks" if per_task else "accuracy"
                raw = _accuracies(by_model["raw"], task, n_seeds, key)
                t_out[model] = {
                    "accuracy": summarize([r["tasks"][task]["accuracy"] for r in rs]),
                    "ci95": summarize([r["tasks"][task]["ci95"] for r in rs]),
                    "n_tasks": rs[0]["tasks"][task]["n_tasks"],
                    "seconds_per_task": summarize(
                        [r["tasks"][task]["seconds_per_task"] for r in rs]),
                    "vs_raw": _paired(acc, raw),
                    "vs_mlp": _paired(acc, _accuracies(by_model[ref], task, n_seeds)),
                }  # fmt: skip
            split_out["tasks"][task] = t_out
        out[split] = split_out
    return out


def _test_phrase(test: dict[str, Any], what: str) -> str:
    p = test["t_pvalue"]
    return f"{100 * test['mean_diff']:+.2f} pts vs {what}, p={p_value(p, 2)}"


def _verdicts(agg: dict[str, Any]) -> list[str]:
    """Plain sentences per split and task shape: each model against the MLP head of its
    protocol, and each head against the raw features it reads."""
    lines = []
    for split, s in agg.items():
        for task, t in s["tasks"].items():
            parts = []
            for model, protocol, label, ref in MODELS:
                if model == "raw":
                    continue
                test = t[model]["vs_raw"]
                p = test["t_pvalue"]
                verb = "does NOT beat"
                if p is not None and p < 0.05:
                    verb = "beats" if test["mean_diff"] > 0 else "is WORSE than"
                phrase = f"{protocol} {label} {verb} raw ({_test_phrase(test, 'raw')}"
                if model != ref:
                    phrase += f", {_test_phrase(t[model]['vs_mlp'], 'the MLP head')}"
                phrase += ")"
                parts.append(phrase)
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
        per_task = s["per_task_tasks"] or s["n_tasks"]
        lines = [f"### {report['setting']}", "", f"{s['description']}. {len(cfg['seeds'])} "
                 f"seeds; {s['n_tasks']} novel tasks per shape ({s['n_query']} queries per "
                 f"class), the same tasks for every model (the per-task classifiers: the first "
                 f"{per_task} of them); accuracy % as mean ± std over seeds [mean 95% interval "
                 "half-width over tasks]; `raw` and logistic regression have no seed.",
                 ""]  # fmt: skip
        for split, a in agg.items():
            info = report["data"]["splits"][split]
            tasks = list(a["tasks"])
            lines += [
                f"**{split}**: {info['base_classes']} base classes ({info['base_samples']} "
                f"samples), {info['novel_classes']} novel classes ({info['novel_samples']} "
                "samples).",
                "",
                "| protocol | model | params | train s | " + " | ".join(tasks) + " | s / task |",
                "|---|---|---:|---:|" + "---:|" * len(tasks) + "---:|",
            ]
            for model, protocol, label, _ in MODELS:
                m = a["models"][model]
                cells = []
                for t in tasks:
                    x = a["tasks"][t][model]
                    spread = f" ± {100 * x['accuracy']['std']:.2f}" if m["seeds"] > 1 else ""
                    cells.append(f"{100 * x['accuracy']['mean']:.2f}{spread} "
                                 f"[±{100 * x['ci95']['mean']:.2f}]")  # fmt: skip
                per = np.mean([a["tasks"][t][model]["seconds_per_task"]["mean"] for t in tasks])
                params = "0" if m["params"]["mean"] is None else f"{m['params']['mean']:,.0f}"
                fit = m["fit_seconds"]
                train = "-" if fit["mean"] is None else f"{fit['mean']:.1f} ± {fit['std']:.1f}"
                if model in ("mlp", "glai") and m["kept_identity"]:
                    label += f" (back to its input: {m['kept_identity']} of {m['seeds']})"
                lines.append(f"| {protocol} | {label} | {params} | {train} | "
                             + " | ".join(cells) + f" | {per:.4f} |")  # fmt: skip
            skipped = [task_name(w, k) for w, k in s["tasks"] if task_name(w, k) not in tasks]
            if skipped:
                lines.append(f"\n{', '.join(skipped)}: n/a (only {info['novel_classes']} novel "
                             "classes).")  # fmt: skip
            lines.append("")
        return "\n".join(lines + markdown_tail(report, report["verdicts"]))
