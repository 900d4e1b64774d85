"""Issue 18: which penalty rule, with nothing held out, picks the ridge penalty best?

For fixed features ``phi`` (raw ``[x, 1]``, GLAI's gated paths, random ReLU features of the
same size) the ridge solution is scored on the test split at the ``alpha`` chosen by

* ``val-acc`` / ``val-sse``: a held-out split (the estimators' way today): trained on the
  training rows only, alpha by validation accuracy / squared error;
* ``gcv``: generalised cross-validation from the training statistics alone;
* ``cv5``, ``cv10``: exact k-fold cross-validation from per-fold statistics (content-hashed
  folds, :func:`glai.solvers.penalty.row_folds`);
* ``oracle``: the best test accuracy over the grid (an upper bound, not a rule).

Bench data: the setting's train / val / test splits (features from the cache). Small data
(scikit-learn's iris, wine, breast cancer, digits): per seed a stratified 70/30 train/test
split; ``val-*`` then trains on 90% of the training rows, the statistics rules on all of them.

    OMP_WAIT_POLICY=PASSIVE nice -n 5 .venv/bin/python scripts/penalty_choice.py --seeds 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import torch
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from glai import GLAIClassifier
from glai.solvers.penalty import GroupStatistics, cv_scores, gcv_scores, row_folds
from glai.solvers.ridge import path_features

ALPHAS = tuple(10.0**e for e in range(-6, 2))
FOLDS = (5, 10)


def stats_of(phi: torch.Tensor, y1: torch.Tensor) -> GroupStatistics:
    return GroupStatistics(phi.t() @ phi, phi.t() @ y1, (y1 * y1).sum(0), float(len(phi)))


def solve(s: GroupStatistics, alpha: float) -> torch.Tensor:
    scale = float(s.gram.diagonal().mean())
    a = s.gram.clone()
    a.diagonal().add_(alpha * scale + 1e-12)
    return torch.cholesky_solve(s.cross, torch.linalg.cholesky(a))


def choose(
    phi: torch.Tensor, y: np.ndarray, x_rows: np.ndarray, k: int, fold_counts=(5, 10)
) -> dict[str, Any]:
    """Alphas chosen by GCV and by k-fold CV on these rows."""
    y1 = torch.nn.functional.one_hot(torch.as_tensor(y), k).double()
    total = stats_of(phi, y1)
    out: dict[str, Any] = {"stats": total}
    t = time.perf_counter()
    g = gcv_scores([total], ALPHAS)
    out["gcv"] = (ALPHAS[int(g.argmin())], time.perf_counter() - t)
    for folds in fold_counts:
        f = row_folds(x_rows, folds)
        t = time.perf_counter()
        per = [[stats_of(phi[f == j], y1[f == j])] for j in range(folds)]
        c = cv_scores(per, ALPHAS)
        out[f"cv{folds}"] = (ALPHAS[int(c.argmin())], time.perf_counter() - t)
    return out


def accuracy(phi: torch.Tensor, w: torch.Tensor, y: np.ndarray) -> float:
    return float((phi @ w).argmax(1).numpy().__eq__(y).mean())


def feature_maps(kind: str, x_tr: np.ndarray, y_tr: np.ndarray, dim: int | None, seed: int,
                 budget: int | None):  # fmt: skip
    """``phi(x)`` as a function, and its size ``D``."""
    if kind == "raw":
        return (lambda x: torch.cat([torch.as_tensor(x).double(),
                                     torch.ones(len(x), 1, dtype=torch.float64)], 1))  # fmt: skip
    if kind == "random":
        g = torch.Generator().manual_seed(seed)
        n0 = x_tr.shape[1]
        w = torch.randn(n0, dim - 1, generator=g, dtype=torch.float64) / np.sqrt(n0)
        b = torch.zeros(dim - 1, dtype=torch.float64)  # RanPAC: no bias
        return lambda x: torch.cat([torch.relu(torch.as_tensor(x).double() @ w + b),
                                    torch.ones(len(x), 1, dtype=torch.float64)], 1)  # fmt: skip
    clf = GLAIClassifier((256,), quant_optimizer="adam", max_epochs=50, budget=budget or "match",
                         random_state=seed)  # fmt: skip
    clf.fit(x_tr, y_tr)
    pm = clf.path_model_
    full = torch.arange(pm.num_full)[pm.output[: pm.num_full] == 0]
    bias = torch.arange(pm.num_full, pm.num_paths)[pm.output[pm.num_full :] == 0]

    def phi(x: np.ndarray) -> torch.Tensor:
        xt = torch.as_tensor(x, dtype=torch.float32)
        return path_features(xt.double(), pm.gates(xt), full, bias)

    return phi


def run_case(name: str, x_tr, y_tr, x_va, y_va, x_te, y_te, seed: int, kinds, budget=None,
             holdout_inside: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    k = int(max(y_tr.max(), y_te.max()) + 1)
    rows = []
    glai_dim = None
    for kind in kinds:
        phi_fn = feature_maps(kind, x_tr, y_tr, glai_dim, seed, budget)
        p_tr = phi_fn(x_tr)
        if kind == "glai":
            glai_dim = p_tr.shape[1]
        p_te = phi_fn(x_te)
        chosen = choose(p_tr, y_tr, x_tr, k, FOLDS)
        total = chosen.pop("stats")
        test = {a: accuracy(p_te, solve(total, a), y_te) for a in ALPHAS}
        rec = {"data": name, "kind": kind, "seed": seed, "D": int(p_tr.shape[1])}
        for rule, (a, secs) in chosen.items():
            rec[rule] = test[a]
            rec[rule + "_alpha"] = a
            rec[rule + "_s"] = secs
        rec["oracle"] = max(test.values())
        # the held-out rule: train on the training rows without the validation rows
        if holdout_inside:
            idx = np.arange(len(x_tr))
            tr, va = train_test_split(idx, test_size=0.1, random_state=seed, stratify=y_tr)
            p_fit, p_va, y_fit, y_v = p_tr[tr], p_tr[va], y_tr[tr], y_tr[va]
        else:
            p_fit, y_fit, p_va, y_v = p_tr, y_tr, phi_fn(x_va), y_va
        s_fit = stats_of(p_fit, torch.nn.functional.one_hot(torch.as_tensor(y_fit), k).double())
        sols = {a: solve(s_fit, a) for a in ALPHAS}
        y1v = torch.nn.functional.one_hot(torch.as_tensor(y_v), k).double()
        va_acc = {a: accuracy(p_va, w, y_v) for a, w in sols.items()}
        va_sse = {a: float(((p_va @ w - y1v) ** 2).sum()) for a, w in sols.items()}
        a_acc = max(ALPHAS, key=lambda a: (va_acc[a], a))
        a_sse = min(ALPHAS, key=lambda a: va_sse[a])
        rec["val-acc"], rec["val-acc_alpha"] = accuracy(p_te, sols[a_acc], y_te), a_acc
        rec["val-sse"], rec["val-sse_alpha"] = accuracy(p_te, sols[a_sse], y_te), a_sse
        rows.append(rec)
        print(json.dumps({k2: v for k2, v in rec.items() if not k2.endswith("_s")}), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--bench", nargs="*", default=["fashion-effnet", "wordnet-minilm"])
    p.add_argument("--small", nargs="*", default=["iris", "wine", "breast_cancer", "digits"])
    p.add_argument("--out", default="penalty_choice.json")
    p.add_argument("--folds", type=int, nargs="+", default=[5, 10])
    args = p.parse_args(argv)
    global FOLDS
    FOLDS = tuple(args.folds)
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    for name in args.small:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        for seed in range(args.seeds):
            x_tr, x_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=seed,
                                                      stratify=y)  # fmt: skip
            sc = StandardScaler().fit(x_tr)
            x_tr, x_te = (
                sc.transform(x_tr).astype(np.float32),
                sc.transform(x_te).astype(np.float32),
            )
            rows += run_case(name, x_tr, y_tr, None, None, x_te, y_te, seed,
                             ("glai", "raw", "random"), holdout_inside=True)  # fmt: skip
    for name in args.bench:
        from glai_bench.data import load_splits
        from glai_bench.settings import get_setting

        d = load_splits(get_setting(name, quick=True), progress=False)
        budget = 3 * (d.X_train.shape[1] + 1) * d.n_classes if d.X_train.shape[1] > 1000 else None
        for seed in range(args.seeds):
            rows += run_case(name, d.X_train, d.y_train, d.X_val, d.y_val, d.X_test, d.y_test,
                             seed, ("glai", "raw", "random"), budget=budget)  # fmt: skip
    meta = {"command": " ".join(sys.argv), "alphas": ALPHAS, "threads": 1,
            "torch": torch.__version__}  # fmt: skip
    with open(args.out, "w") as fh:
        json.dump({"meta": meta, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
