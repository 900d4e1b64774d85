"""`glai bench wordnet-minilm-fewshot`: few-shot heads against nearest class mean on raw features.

For each labeling of the features (``lexname``: WordNet's lexicographer files; ``hypernym``:
noun synsets grouped under their hypernym), the classes are split once into base and novel
classes. Per training seed an MLP head and a GLAI head (:class:`glai.fewshot.FewShotHead`)
learn on the base classes; every head, and the raw features, are scored on the *same* novel
tasks (one task seed per task shape). Runs are paired by seed for the tests of
:mod:`glai_bench.stats`.

Outputs in ``out`` for a setting with stem ``S``: ``S.json`` (everything), ``S.md`` (tables and
verdicts) and ``S-accuracy.png`` (accuracy with 95% intervals per task shape).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glai import GLAI
from glai.fewshot import FewShotHead, evaluate
from glai.training import resolve_device
from glai_bench import datasets
from glai_bench.data import backbone_featurizer
from glai_bench.features import array_digest, cached_features, key_digest
from glai_bench.report import git_commit, jsonable, machine, machine_line, versions, write_json
from glai_bench.runner import timing_context
from glai_bench.settings import FewShotSetting
from glai_bench.stats import paired_test, summarize

__all__ = [
    "Labeling",
    "FewShotData",
    "FEWSHOT_LOADERS",
    "split_classes",
    "run_fewshot_bench",
    "fewshot_markdown",
]

KINDS = ("mlp", "glai")
REFERENCES = ("raw",)


@dataclass
class Labeling:
    """Classes of the rows of one feature matrix: ``y [N]`` int64 (-1: in no class), names."""

    y: np.ndarray
    names: list[str]


@dataclass
class FewShotData:
    """Backbone features ``X [N, d]`` (float32, not standardised) and labelings of its rows."""

    X: np.ndarray
    labelings: dict[str, Labeling]
    info: dict[str, Any] = field(default_factory=dict)


def _wordnet_labelings(min_members: int) -> tuple[list[str], dict[str, Labeling]]:
    """Glosses, labelled by lexicographer file and, for nouns, by hypernym group (groups of
    ``min_members`` or more direct hyponyms; -1 elsewhere)."""
    texts, lex_y, names = datasets.load_wordnet_glosses()
    offsets, lexfiles, hypernyms, lemmas = datasets.load_wordnet_noun_hypernyms()
    # load_wordnet_glosses lists the nouns of the kept lexicographer files first, in file order
    kept = np.isin(np.asarray(datasets.LEXNAMES)[lexfiles], names)
    hyper = hypernyms[kept]
    groups, counts = np.unique(hyper[hyper >= 0], return_counts=True)
    groups = groups[counts >= min_members]
    y_hyper = np.full(len(texts), -1, dtype=np.int64)
    y_hyper[: kept.sum()] = np.where(np.isin(hyper, groups), np.searchsorted(groups, hyper), -1)
    lemma = dict(zip(offsets.tolist(), lemmas))
    return texts, {
        "lexname": Labeling(np.asarray(lex_y), list(names)),
        "hypernym": Labeling(y_hyper, [f"{lemma[o]}.n.{o:08d}" for o in groups.tolist()]),
    }


def _wordnet(
    setting: FewShotSetting, cache_dir: str | os.PathLike[str] | None, device: str, progress: bool
) -> FewShotData:
    """MiniLM embeddings of the glosses that the setting's class splits use (cached), and the
    labelings restricted to them.

    Only the selected rows are embedded (``max_per_class`` bounds them): embedding all 117,425
    glosses takes most of an hour on a shared 2-core CPU.
    """
    texts, labelings = _wordnet_labelings(setting.min_members)
    selected = {}
    for split in setting.splits:
        base, novel, _, _ = _split_for(setting, labelings[split], split)
        selected[split] = np.concatenate([base, novel])
    rows = np.unique(np.concatenate(list(selected.values())))
    backbone_key, featurize = backbone_featurizer(setting, resolve_device(device), progress)
    key = {"dataset": "wordnet", "min_count": 100, "examples": False,
           "indices": array_digest(rows), **backbone_key}  # fmt: skip
    X = cached_features(
        f"wordnet-fewshot-{setting.backbone}", key,
        lambda: featurize([texts[i] for i in rows]), cache_dir=cache_dir, shape=(len(rows), None),
    )  # fmt: skip
    out = {}
    for split in setting.splits:
        y = np.full(len(rows), -1, dtype=np.int64)
        mine = np.isin(rows, selected[split])
        y[mine] = labelings[split].y[rows[mine]]
        out[split] = Labeling(y, labelings[split].names)
    return FewShotData(X, out, {"source": "WordNet 3.0 glosses", "embedded_rows": len(rows),
                                "feature_cache_key": key_digest(key)})  # fmt: skip


# dataset name -> loader(setting, cache_dir, device, progress); tests register tiny data here.
FEWSHOT_LOADERS: dict[str, Callable[..., FewShotData]] = {"wordnet": _wordnet}


def split_classes(
    labeling: Labeling, n_novel: int, *, min_members: int, max_per_class: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """Base and novel rows: classes of ``min_members`` or more, ``n_novel`` of them drawn as
    novel (fixed by ``seed``), at most ``max_per_class`` rows each (a fixed random subset).

    Returns:
        base rows, novel rows (sorted int64), base classes, novel classes (sorted, disjoint).
    """
    counts = np.bincount(labeling.y[labeling.y >= 0], minlength=len(labeling.names))
    classes = np.flatnonzero(counts >= min_members)
    if not 1 <= n_novel < len(classes):
        raise ValueError(
            f"n_novel={n_novel} must leave base classes: {len(classes)} classes have "
            f"{min_members} members or more"
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(classes)
    novel, base = np.sort(perm[:n_novel]), np.sort(perm[n_novel:])
    rows: dict[int, np.ndarray] = {}
    for c in classes:
        idx = np.flatnonzero(labeling.y == c)
        if max_per_class is not None and len(idx) > max_per_class:
            idx = np.sort(rng.choice(idx, max_per_class, replace=False))
        rows[int(c)] = idx
    base_rows = np.sort(np.concatenate([rows[int(c)] for c in base]))
    novel_rows = np.sort(np.concatenate([rows[int(c)] for c in novel]))
    return base_rows, novel_rows, base.tolist(), novel.tolist()


def _split_for(
    setting: FewShotSetting, labeling: Labeling, split: str
) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """:func:`split_classes` with the setting's numbers for the labeling ``split``."""
    return split_classes(
        labeling, dict(setting.n_novel)[split], min_members=setting.min_members,
        max_per_class=dict(setting.max_per_class).get(split), seed=setting.split_seed,
    )  # fmt: skip


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


def _head_run(head: FewShotHead, scores: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = {
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


def run_split(
    setting: FewShotSetting, data: FewShotData, split: str, seeds: int, device: str = "cpu"
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Runs of one labeling: the raw reference, then per seed the MLP and GLAI heads."""
    base_rows, novel_rows, base, novel = _split_for(setting, data.labelings[split], split)
    y = data.labelings[split].y
    Xb, yb, Xn, yn = data.X[base_rows], y[base_rows], data.X[novel_rows], y[novel_rows]
    # The heads see features standardised with base statistics, as the other bench heads do;
    # the reference is the backbone's own embedding space (the one a user would start from).
    mean = Xb.mean(axis=0, dtype=np.float64)
    std = Xb.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0

    def standardize(X: np.ndarray) -> np.ndarray:
        return ((X - mean) / std).astype(np.float32)

    reference = _score(setting, Xn, yn, None)
    runs: list[dict[str, Any]] = [
        {"split": split, "model": "raw", "seed": None, "family": "reference", "tasks": reference}
    ]
    for seed in range(seeds):
        for kind in KINDS:
            gc.collect()
            head = FewShotHead(
                setting.hidden, kind=kind, random_state=seed, device=device,
                **setting.fewshot_kwargs(),
            )  # fmt: skip
            head.fit(standardize(Xb), yb)
            scores = _score(setting, Xn, yn, lambda X, h=head: h.transform(standardize(X)))
            runs.append({"split": split, "model": kind, "seed": seed, **_head_run(head, scores)})
    info = {
        "base_classes": len(base), "novel_classes": len(novel),
        "base_samples": len(base_rows), "novel_samples": len(novel_rows),
        "novel_class_names": [data.labelings[split].names[c] for c in novel],
    }  # fmt: skip
    return runs, info


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
                    f"{kind.upper()} {verb} raw "
                    f"({100 * test['mean_diff']:+.2f} pts, p={'n/a' if p is None else f'{p:.2g}'})"
                )
            g = t["glai_vs_mlp"]
            p = g["t_pvalue"]
            parts.append(
                f"GLAI - MLP {100 * g['mean_diff']:+.2f} pts "
                f"(p={'n/a' if p is None else f'{p:.2g}'})"
            )
            lines.append(f"{split}, {task}: " + "; ".join(parts))
    return lines


def fewshot_markdown(report: dict[str, Any]) -> str:
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
            f"samples), {info['novel_classes']} novel classes ({info['novel_samples']} samples).",
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
    lines += [f"- {v}" for v in report["verdicts"]]
    lines += ["", f"Command: `{cfg['command']}`", "", machine_line(report["machine"]), ""]
    return "\n".join(lines)


def plot_accuracy(agg: dict[str, Any], path: Path, title: str) -> Path:
    """Bars: accuracy per task shape and model, error bars the 95% interval over tasks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(agg), figsize=(5.5 * len(agg), 3.6), squeeze=False)
    for ax, (split, a) in zip(axes[0], agg.items()):
        tasks = list(a["tasks"])
        x = np.arange(len(tasks))
        models = [("raw", "raw"), *((k, f"{k.upper()} head") for k in KINDS)]
        lowest = 1.0
        for j, (key, label) in enumerate(models):
            if key == "raw":
                acc = [a["tasks"][t]["raw"]["accuracy"] for t in tasks]
                err = [a["tasks"][t]["raw"]["ci95"] for t in tasks]
            else:
                acc = [a["tasks"][t][key]["accuracy"]["mean"] for t in tasks]
                err = [a["tasks"][t][key]["ci95"]["mean"] for t in tasks]
            lowest = min(lowest, *acc)
            ax.bar(x + (j - 1) * 0.27, 100 * np.asarray(acc), 0.27,
                   yerr=100 * np.asarray(err), label=label, capsize=2)  # fmt: skip
        ax.set_xticks(x, tasks)
        ax.set_ylabel("novel-class accuracy %")
        ax.set_title(f"{title}: {split}")
        ax.set_ylim(max(0.0, 100 * lowest - 10), 105)  # room for the legend
        ax.legend(fontsize=8, loc="upper left", ncols=3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_fewshot_bench(
    setting: FewShotSetting,
    *,
    out: str | os.PathLike[str] = "results",
    seeds: int | None = None,
    threads: int = 1,
    device: str = "cpu",
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Run a few-shot setting and write ``S.json``, ``S.md``, ``S-accuracy.png``."""
    git_commit()  # the code as it is when the runs start
    data = FEWSHOT_LOADERS[setting.dataset](setting, cache_dir, device, progress)
    n_seeds = setting.seeds if seeds is None else seeds
    runs: list[dict[str, Any]] = []
    split_info = {}
    with timing_context(threads) as timing:
        for split in setting.splits:
            split_runs, split_info[split] = run_split(setting, data, split, n_seeds, device)
            runs += split_runs
    agg = aggregate_fewshot(runs, setting)
    head_defaults = FewShotHead(setting.hidden, **setting.fewshot_kwargs()).get_params()
    report: dict[str, Any] = jsonable({
        "setting": setting.stem,
        "config": {"setting": asdict(setting), "seeds": list(range(n_seeds)), "device": device,
                   **timing, "head": head_defaults, "command": command},
        "data": {**data.info, "n_features": int(data.X.shape[1]), "splits": split_info},
        "versions": versions(),
        "machine": machine(timing["threads"], device),
        "runs": runs,
        "aggregates": agg,
        "verdicts": _verdicts(agg),
    })  # fmt: skip
    folder = Path(out)
    stem = setting.stem
    files = {"accuracy": plot_accuracy(agg, folder / f"{stem}-accuracy.png", stem)}
    report["files"] = {k: p.name for k, p in files.items()}
    files["json"] = write_json(report, folder / f"{stem}.json")
    files["markdown"] = folder / f"{stem}.md"
    files["markdown"].write_text(fewshot_markdown(report))
    report["files"] = {k: str(p) for k, p in files.items()}
    return report
