"""``quant_optimizer="auto"`` with nothing held out: Adam (today's rule) against the closed form
with its penalty chosen from the statistics (issue 18).

    PYTHONPATH=src python scripts/auto_no_holdout.py [--splits 5] [--features DIR] [--out FILE]
        [--data iris,wine,...] [--variants adam,auto-kfold,...]

Data: scikit-learn's iris, wine, breast cancer and digits, and (with ``--features``, the folders
``scripts/export_features.py`` writes) 500- and 1,500-row subsets of the quick WordNet and
Fashion features; stratified 70/30 splits, standardised on the training rows. Each split is
fitted by ``GLAIClassifier`` with its default arguments except the seed and:

* ``adam``: ``quant_optimizer="auto"``, what it means with no hold-out today (Adam);
* ``auto-kfold``: ``quant_penalty="kfold"`` (``"auto"`` is then resolved after the freeze by the
  cost rule of :mod:`glai.solvers.auto`, the penalty by exact 5-fold CV on the statistics);
* ``auto-gcv``: the same with ``quant_penalty="gcv"``;
* ``ridge-kfold``: ``quant_optimizer="ridge"``, ``quant_penalty="kfold"`` (no polish).

Every fit holds out nothing (``validation_fraction="auto"`` holds out nothing under 2,000
rows; the 1,500-row subsets likewise). Prints a Markdown table (mean test accuracy, mean fit
seconds per split, the solver that ran) and paired Wilcoxon tests against ``adam``; ``--out``
writes every run as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import wilcoxon
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.preprocessing import StandardScaler

from glai import GLAIClassifier

VARIANTS = {
    "adam": {},
    "auto-kfold": {"quant_penalty": "kfold"},
    "auto-gcv": {"quant_penalty": "gcv"},
    "ridge-kfold": {"quant_optimizer": "ridge", "quant_penalty": "kfold"},
}


def datasets(features: str | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name, load in (("iris", load_iris), ("wine", load_wine),
                       ("breast cancer", load_breast_cancer), ("digits", load_digits)):  # fmt: skip
        X, y = load(return_X_y=True)
        out[name] = (X.astype(np.float32), y)
    if features:
        for folder in ("wordnet-minilm", "fashion-effnet"):
            X = np.load(Path(features) / folder / "X.npy").astype(np.float32)
            y = np.load(Path(features) / folder / "y.npy")
            for n in (500, 1500):
                rows = np.random.default_rng(n).permutation(len(y))[:n]
                keep = np.isin(y[rows], np.flatnonzero(np.bincount(y[rows]) >= 4))
                out[f"{folder} {n}"] = (X[rows][keep], y[rows][keep])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--features", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--data", default=None, help="comma-separated data names (default: all)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    sink = open(args.out, "w") if args.out else None  # noqa: SIM115
    names = args.variants.split(",")
    if names[0] != "adam" or not set(names) <= set(VARIANTS):
        raise SystemExit(f"--variants: 'adam' first, then some of {', '.join(VARIANTS)}")
    chosen = None if args.data is None else args.data.split(",")
    print("| data (rows) | " + " | ".join(names) + " | " +
          " | ".join(f"{m} - adam (p)" for m in names[1:]) + " |")  # fmt: skip
    print("|---|" + "---:|" * (2 * len(names) - 1))
    for data_name, (X, y) in datasets(args.features).items():
        if chosen is not None and data_name not in chosen:
            continue
        acc: dict[str, list[float]] = {m: [] for m in names}
        secs: dict[str, list[float]] = {m: [] for m in names}
        ran: dict[str, set[str]] = {m: set() for m in names}
        splits = StratifiedShuffleSplit(args.splits, test_size=0.3, random_state=0)
        for seed, (tr, te) in enumerate(splits.split(X, y)):
            scaler = StandardScaler().fit(X[tr])
            Xtr, Xte = scaler.transform(X[tr]), scaler.transform(X[te])
            for m in names:
                est = GLAIClassifier(random_state=seed, **VARIANTS[m])
                t0 = time.perf_counter()
                est.fit(Xtr, y[tr])
                seconds = time.perf_counter() - t0
                a = float(est.score(Xte, y[te]))
                acc[m].append(a)
                secs[m].append(seconds)
                ran[m].add(str(est.quant_optimizer_))
                if sink:
                    sink.write(json.dumps({
                        "data": data_name, "rows": len(y), "seed": seed, "variant": m,
                        "accuracy": a, "seconds": seconds, "solver": est.quant_optimizer_,
                        "alpha": getattr(est, "alpha_", None),
                    }) + "\n")  # fmt: skip
                    sink.flush()
        cells = [f"{100 * np.mean(acc[m]):.2f} ({np.mean(secs[m]):.1f} s, "
                 f"{'/'.join(sorted(ran[m]))})" for m in names]  # fmt: skip
        for m in names[1:]:
            d = np.array(acc[m]) - np.array(acc["adam"])
            p = wilcoxon(d).pvalue if np.any(d != 0) else 1.0
            cells.append(f"{100 * d.mean():+.2f} ({p:.2g})")
        print(f"| {data_name} ({len(y)}) | " + " | ".join(cells) + " |", flush=True)
    print(
        f"\nMean test accuracy % over {args.splits} stratified 70/30 splits (mean fit seconds, "
        f"solver that ran); Wilcoxon signed-rank p; {platform.processor() or platform.machine()},"
        f" {torch.get_num_threads()} torch thread(s), torch {torch.__version__}."
    )


if __name__ == "__main__":
    main()
