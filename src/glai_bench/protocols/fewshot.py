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
from glai.fewshot import FewShotHead, classifier_accuracies, evaluate, sample_tasks
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


def _rounded(accs: np.ndarray) -> list[float]:
    """Per-task accuracies for the JSON (each a count over at most a few hundred queries: 8
    digits keep them exact enough for any mean or test)."""
    return [round(float(a), 8) for a in accs]


def per_task_range(setting: FewShotSetting, seed: int | None, n_seeds: int) -> tuple[int, int]:
    """``[lo, hi)``: the tasks (of each shape's ``n_tasks``) the per-task classifiers of
    ``seed`` score; ``seed=None`` (the seedless logistic regression): those of every seed.

    ``per_task_slices=False``: the first ``m = per_task_tasks`` tasks for every seed.
    ``per_task_slices=True``: seed ``s`` scores ``[s m, (s + 1) m)``, disjoint slices that
    together cover ``[0, n_seeds m)``.

    Raises:
        ValueError: with slices, ``n_seeds * per_task_tasks`` above ``n_tasks``.
    """
    m = setting.per_task_tasks or setting.n_tasks
    if not setting.per_task_slices:
        return 0, min(m, setting.n_tasks)
    if setting.per_task_tasks is None or n_seeds * m > setting.n_tasks:
        raise ValueError(
            f"per_task_slices needs seeds * per_task_tasks <= n_tasks, got {n_seeds} seeds x "
            f"per_task_tasks={setting.per_task_tasks} and n_tasks={setting.n_tasks}; lower "
            "the seeds or per_task_tasks, or raise n_tasks"
        )
    return (0, n_seeds * m) if seed is None else (seed * m, (seed + 1) * m)


def _score_ncm(
    setting: FewShotSetting, X: np.ndarray, y: np.ndarray, transform: Any, keep: bool = False
) -> dict[str, Any]:
    """Nearest class mean on ``transform(X)`` over every task of each shape; with ``keep``,
    each task's accuracy too (``task_accuracies``, from task ``task_offset = 0``), to pair
    with the per-task classifiers on their tasks."""
    out = {}
    for name, n_way, k_shot, seed in _shapes(setting, y):
        r = evaluate(
            X, y, transform=transform, n_way=n_way, k_shot=k_shot, n_query=setting.n_query,
            n_tasks=setting.n_tasks, random_state=seed,
        )  # fmt: skip
        out[name] = _cell(r)
        if keep:
            out[name].update(task_offset=0, task_accuracies=_rounded(r["task_accuracies"]))
    return out


def _score_classifier(
    setting: FewShotSetting, X: np.ndarray, y: np.ndarray, classifier: Any, lo: int, hi: int
) -> dict[str, Any]:
    """A clone of ``classifier`` per task, on tasks ``[lo, hi)`` of each shape (the tasks of
    :func:`_score_ncm`: the same draw, cut); each task's accuracy is kept
    (``task_accuracies``, the first one task ``task_offset = lo``)."""
    out = {}
    for name, n_way, k_shot, seed in _shapes(setting, y):
        tasks = sample_tasks(y, n_way=n_way, k_shot=k_shot, n_query=setting.n_query,
                             n_tasks=setting.n_tasks, random_state=seed)  # fmt: skip
        cut = tasks[lo:hi]
        t0 = time.perf_counter()
        accs, loss = classifier_accuracies(X, y, cut, classifier)
        seconds = time.perf_counter() - t0
        out[name] = {
            "accuracy": float(accs.mean()), "ci95": float(1.96 * accs.std() / np.sqrt(len(cut))),
            "loss": loss, "n_tasks": len(cut), "seconds_per_task": seconds / len(cut),
            "task_offset": lo, "task_accuracies": _rounded(accs),
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
    n_seeds: int = 1

    @classmethod
    def of(
        cls, setting: FewShotSetting, data: FewShotData, split: str, **kwargs: Any
    ) -> SplitContext:
        """The context of labeling ``split`` of ``data``: its base and novel rows
        (:func:`~glai_bench.fewshot_data.split_for`) and the base rows' per-feature mean and
        std (float64; a constant feature's std taken as 1); ``kwargs``: ``seed``, ``device``,
        ``n_seeds``."""
        base_rows, novel_rows, _, _ = split_for(setting, data.labelings[split], split)
        y = data.labelings[split].y
        X_base = data.X[base_rows]
        mean = X_base.mean(axis=0, dtype=np.float64)
        std = X_base.std(axis=0, dtype=np.float64)
        std[std == 0] = 1.0
        return cls(setting, X_base, y[base_rows], data.X[novel_rows], y[novel_rows], mean, std,
                   **kwargs)  # fmt: skip

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
        lo, hi = per_task_range(c.setting, c.seed, c.n_seeds)
        scores = _score_classifier(c.setting, c.inputs(c.X_novel), c.y_novel, make(c.seed),
                                   lo, hi)  # fmt: skip
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
    c = SplitContext.of(setting, data, split, device=device, n_seeds=seeds)
    lo, hi = per_task_range(setting, None, seeds)  # refuses slices that do not fit first
    # the reference is the backbone's own embedding space (the one a user would start from)
    reference = _score_ncm(setting, c.X_novel, c.y_novel, None, keep=True)
    lr = _score_classifier(setting, c.inputs(c.X_novel), c.y_novel,
                           LogisticRegression(max_iter=1000), lo, hi)  # fmt: skip
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


PER_TASK = ("lr", "mlp-task", "glai-task")


def _task_range(r: Run, task: str) -> tuple[int, int]:
    cell = r["tasks"][task]
    lo = int(cell.get("task_offset", 0))
    return lo, lo + int(cell["n_tasks"])


def _kept(cell: dict[str, Any], lo: int, hi: int) -> np.ndarray | None:
    """``cell``'s accuracies on tasks ``[lo, hi)``; None when it kept none, or not those."""
    accs = cell.get("task_accuracies")
    off = int(cell.get("task_offset", 0))
    if accs is None or lo < off or hi > off + len(accs):
        return None
    return np.asarray(accs[lo - off : hi - off], dtype=np.float64)


def _per_seed(
    rs: list[Run], task: str, ranges: list[tuple[int, int]], old_key: str = "accuracy"
) -> list[float]:
    """One accuracy per seed, seed ``s`` on its tasks ``ranges[s]``: a model with seeds its
    own runs' (each on its seed's tasks); a seedless one (one run) its mean over each range
    (a run that kept no per-task accuracies, saved before they were: its ``old_key``,
    repeated)."""
    if rs[0]["seed"] is not None:
        return [r["tasks"][task]["accuracy"] for r in rs]
    cell = rs[0]["tasks"][task]
    out = []
    for lo, hi in ranges:
        accs = _kept(cell, lo, hi)
        out.append(float(cell.get(old_key, cell["accuracy"]) if accs is None else accs.mean()))
    return out


def _task_means(rs: list[Run], task: str) -> np.ndarray | None:
    """Per task index, the mean accuracy over the runs that scored it (NaN where none did);
    None when a run kept no per-task accuracies."""
    ends = [_task_range(r, task)[1] for r in rs]
    sums, counts = np.zeros(max(ends)), np.zeros(max(ends))
    for r in rs:
        lo, hi = _task_range(r, task)
        accs = _kept(r["tasks"][task], lo, hi)
        if accs is None:
            return None
        sums[lo:hi] += accs
        counts[lo:hi] += 1
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _over_tasks(a: np.ndarray | None, b: np.ndarray | None) -> dict[str, Any] | None:
    """:func:`paired_test` over the tasks both scored (per task: the mean over the seeds that
    fitted it), None without per-task accuracies."""
    if a is None or b is None:
        return None
    n = min(len(a), len(b))
    both = ~np.isnan(a[:n]) & ~np.isnan(b[:n])
    return paired_test(a[:n][both], b[:n][both])


def _paired(a: list[float], b: list[float]) -> dict[str, Any]:
    """:func:`paired_test`, without p-values where the differences do not vary over seeds
    (two seedless models, or heads whose seeds agree): a test of a constant says nothing."""
    test = paired_test(a, b)
    if np.ptp(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) < 1e-9:
        test = {**test, "t_pvalue": None, "wilcoxon_pvalue": None}
    return test


def _seed_ranges(
    by_model: dict[str, list[Run]], model: str, ref: str, task: str, n_seeds: int
) -> list[tuple[int, int]]:
    """The tasks of each seed that ``model`` is compared on: its own runs' for a model with
    seeds; for a seedless per-task model (logistic regression), those of its reference's
    seeds (the slices it is paired with); else its one range, once per seed."""
    rs = by_model[model]
    if rs[0]["seed"] is None and model in PER_TASK and by_model.get(ref):
        rs = by_model[ref]
    ranges = [_task_range(r, task) for r in rs]
    return ranges * n_seeds if len(ranges) == 1 else ranges


def aggregate_fewshot(runs: list[dict[str, Any]], setting: FewShotSetting) -> dict[str, Any]:
    """Per split, task and model: accuracy over seeds, seconds per task, and paired tests
    against the MLP head of the same protocol (``vs_mlp``) and against the raw reference
    (``vs_raw``; for the per-task classifiers on their tasks).

    The tests pair one accuracy per seed (``vs_raw``, ``vs_mlp``: seed ``s``'s model on its
    tasks against the other model on the same tasks); for the per-task classifiers also one
    accuracy per task (``vs_raw_tasks``, ``vs_mlp_tasks``: per task the mean over the seeds
    that fitted it; with ``per_task_slices`` each task is fitted by one seed), with
    ``ci95_tasks``, the 95% half-width of the mean over those ``tasks_scored`` tasks.
    """
    out: dict[str, Any] = {}
    models = [m for m, *_ in MODELS]
    for split in setting.splits:
        mine = [r for r in runs if r["split"] == split]
        by_model = {m: sorted((r for r in mine if r["model"] == m),
                              key=lambda r: -1 if r["seed"] is None else r["seed"])
                    for m in models}  # fmt: skip
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
        raw_rs = by_model["raw"]
        for task in raw_rs[0]["tasks"]:
            t_out = {}
            raw_tasks = _task_means(raw_rs, task)
            for model, _, _, ref in MODELS:
                rs = by_model[model]
                per_task = model in PER_TASK
                ranges = _seed_ranges(by_model, model, ref, task, n_seeds)
                acc = _per_seed(rs, task, ranges)
                old_key = "accuracy_per_task_tasks" if per_task else "accuracy"
                raw = _per_seed(raw_rs, task, ranges, old_key)
                ref_acc = _per_seed(by_model[ref], task, ranges)
                cell = {
                    "accuracy": summarize([r["tasks"][task]["accuracy"] for r in rs]),
                    "ci95": summarize([r["tasks"][task]["ci95"] for r in rs]),
                    "n_tasks": rs[0]["tasks"][task]["n_tasks"],
                    "seconds_per_task": summarize(
                        [r["tasks"][task]["seconds_per_task"] for r in rs]),
                    "vs_raw": _paired(acc, raw),
                    "vs_mlp": _paired(acc, ref_acc),
                }  # fmt: skip
                mean_tasks = _task_means(rs, task) if per_task else None
                if mean_tasks is not None:
                    scored = mean_tasks[~np.isnan(mean_tasks)]
                    cell.update(
                        tasks_scored=int(scored.size),
                        ci95_tasks=float(1.96 * scored.std() / np.sqrt(scored.size)),
                        vs_raw_tasks=_over_tasks(mean_tasks, raw_tasks),
                        vs_mlp_tasks=None if model == ref
                        else _over_tasks(mean_tasks, _task_means(by_model[ref], task)),
                    )  # fmt: skip
                t_out[model] = cell
            split_out["tasks"][task] = t_out
        out[split] = split_out
    return out


def _test_phrase(test: dict[str, Any], what: str, tasks: dict[str, Any] | None = None) -> str:
    """``+d pts vs WHAT, p=P`` (over seeds), then ``, over N tasks p=P`` when tested per task."""
    p = test["t_pvalue"]
    phrase = f"{100 * test['mean_diff']:+.2f} pts vs {what}, p={p_value(p, 2)}"
    if tasks is not None:
        phrase += f", over {tasks['n']} tasks p={p_value(tasks['t_pvalue'], 2)}"
    return phrase


def _verdicts(agg: dict[str, Any]) -> list[str]:
    """Plain sentences per split and task shape: each model against the MLP head of its
    protocol, and each head against the raw features it reads (the verb from the test over
    seeds; the per-task classifiers' test over tasks follows it)."""
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
                cell = t[model]
                raw_phrase = _test_phrase(test, "raw", cell.get("vs_raw_tasks"))
                phrase = f"{protocol} {label} {verb} raw ({raw_phrase}"
                if model != ref:
                    mlp = _test_phrase(cell["vs_mlp"], "the MLP head", cell.get("vs_mlp_tasks"))
                    phrase += f", {mlp}"
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
        n_seeds = len(cfg["seeds"])
        per_task = s["per_task_tasks"] or s["n_tasks"]
        if s.get("per_task_slices"):
            which = (f"seed s the tasks [{per_task}s, {per_task}(s+1)), {n_seeds * per_task} "
                     "distinct tasks in all, each fitted once per classifier; logistic "
                     "regression all of them")  # fmt: skip
        else:
            which = f"the first {per_task} of them, for every seed"
        lines = [f"### {report['setting']}", "", f"{s['description']}. {n_seeds} "
                 f"seeds; {s['n_tasks']} novel tasks per shape ({s['n_query']} queries per "
                 f"class), the same tasks for every model (the per-task classifiers: {which}); "
                 "accuracy % as mean ± std over seeds [95% interval half-width over tasks: "
                 "the mean over seeds of each seed's, for the per-task classifiers that of "
                 "the mean over the tasks they scored]; `raw` and logistic regression have no "
                 "seed.", ""]  # fmt: skip
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
                    ci = x.get("ci95_tasks", x["ci95"]["mean"])
                    cells.append(f"{100 * x['accuracy']['mean']:.2f}{spread} "
                                 f"[±{100 * ci:.2f}]")  # fmt: skip
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
