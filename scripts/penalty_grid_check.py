"""Does the GLAI closed form's penalty grid stop too early? (issue 18, a check)

    PYTHONPATH=src python scripts/penalty_grid_check.py [--seeds 5] [--out FILE.jsonl]

The incremental and federated runs' GLAI heads chose ``alpha = 0.1``, the top of the default
grid ``(1e-4, 1e-3, 1e-2, 1e-1)``, in every seed. Here, per setting and seed, the federated
protocol's merged GLAI head (structure learned on the validation split, ``glai_chains`` gates
per output, then the training rows' statistics solved with exact 5-fold CV; equal to the merge
of any client split) is solved twice on the same structure: with the default grid and with it
widened to ``1e-4 .. 1e3``. One JSON row per (setting, seed, grid): alpha chosen, test accuracy.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import torch

import glai
from glai import GLAIClassifier
from glai_bench.data import load_splits
from glai_bench.settings import SETTINGS

GRIDS = {
    "default": (1e-4, 1e-3, 1e-2, 1e-1),
    "wide": (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3),
}


def with_alphas(est: GLAIClassifier, alphas: tuple[float, ...]) -> GLAIClassifier:
    """``est`` whose closed form searches ``alphas`` (its quantitative config patched)."""
    quant = est._quant_config

    def patched(*a: object, **k: object) -> object:
        return replace(quant(*a, **k), alphas=alphas)

    est._quant_config = patched  # type: ignore[method-assign]
    return est


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--settings", default="wordnet-minilm-federated,fashion-effnet-federated")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in args.settings.split(","):
        s = SETTINGS[name]
        d = load_splits(s, progress=False)
        n0, k = d.X_train.shape[1], len(np.unique(d.y_train))
        for seed in range(args.seeds):
            base = GLAIClassifier(
                s.hidden, budget=s.glai_chains * k * (n0 + 1), quant_optimizer="ridge",
                quant_penalty="kfold", validation_fraction=0.0, random_state=seed,
                **s.head_kwargs(),
            ).fit(d.X_val, d.y_val)  # fmt: skip
            missing = np.setdiff1d(np.unique(d.y_train), base.classes_)
            if len(missing):
                base.add_classes(d.X_val[:1], d.y_val[:1], classes=missing)
            for grid, alphas in GRIDS.items():
                est = with_alphas(glai.share_structure(base), alphas)
                est.partial_fit(d.X_train, d.y_train)
                row = {"setting": name, "seed": seed, "grid": grid, "alpha": est.alpha_,
                       "accuracy": float(est.score(d.X_test, d.y_test))}  # fmt: skip
                print(json.dumps(row), flush=True)
                rows.append(row)
    if args.out:
        with open(args.out, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
