"""The quantitative learning rate over seeds: GLAI-auto at the default and at another value.

Same splits, seeds and loop as ``glai bench``; only ``quant_learning_rate`` differs.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/quant_lr_seeds.py fashion-effnet --lr 1e-4
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import stats

from glai import GLAIClassifier
from glai_bench.data import load_splits
from glai_bench.runner import timing_context
from glai_bench.settings import get_setting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setting")
    parser.add_argument("--lr", type=float, default=1e-4, help="quant_learning_rate to compare")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    setting = get_setting(args.setting)
    data = load_splits(setting, progress=False)
    results: dict[str, dict[str, list[float]]] = {}
    with timing_context(threads=1):
        for label, lr in (("default (lr/3)", None), (f"quant lr {args.lr:g}", args.lr)):
            res = results.setdefault(label, {"mva": [], "test": [], "s_to_mva": []})
            for seed in range(args.seeds):
                est = GLAIClassifier(setting.hidden, quant_learning_rate=lr, random_state=seed)
                est.fit(data.X_train, data.y_train, X_val=data.X_val, y_val=data.y_val)
                best = est.history_.best(phase="quantitative")
                assert best is not None
                res["mva"].append(100 * best.val_score)
                res["test"].append(100 * est.score(data.X_test, data.y_test))
                res["s_to_mva"].append(best.seconds)
    print(f"{args.setting}: GLAI-auto over {args.seeds} seeds (mean ± std; 1 thread)")
    for label, res in results.items():
        cells = "  ".join(f"{k} {np.mean(v):.2f} ± {np.std(v, ddof=1):.2f}" for k, v in res.items())
        print(f"  {label:<16} {cells}")
    a, b = results.values()
    for k in ("mva", "test"):
        p = stats.ttest_rel(b[k], a[k]).pvalue
        print(f"  paired t-test {k}: diff {np.mean(b[k]) - np.mean(a[k]):+.2f} pts, p={p:.3g}")


if __name__ == "__main__":
    main()
