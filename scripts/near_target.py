"""Seconds to come within ``--tolerance`` of the MLP's MVA, from a bench JSON's histories.

``glai bench`` records every run's per-epoch history (validation accuracy, wall-clock
seconds since the start of fit). This reads them back and, per seed, asks how long each
model took to reach ``MLP MVA - tolerance`` (epochs of the model that fit returns, as in
the bench), and the speedup of each model over the MLP on that easier target.

    .venv/bin/python scripts/near_target.py results/fashion-effnet.json --tolerance 0.005
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json")
    parser.add_argument("--tolerance", type=float, default=0.005, help="accuracy (0.005 = 0.5 pt)")
    args = parser.parse_args()
    report = json.load(open(args.json))
    runs = [r for r in report["runs"] if "history" in r]
    mlp = {r["seed"]: r for r in runs if r["model"] == "mlp"}
    seconds: dict[str, list[float | None]] = defaultdict(list)
    speedups: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        target = mlp[r["seed"]]["mva"] - args.tolerance
        final = r["history"][-1]["phase"]
        hit = next(
            (
                e["seconds"]
                for e in r["history"]
                if e["phase"] == final and e["val_score"] >= target
            ),
            None,
        )
        mlp_hit = next(e["seconds"] for e in mlp[r["seed"]]["history"] if e["val_score"] >= target)
        seconds[r["model"]].append(hit)
        if hit is not None:
            speedups[r["model"]].append(mlp_hit / hit)
    print(f"{report['setting']}: seconds to reach the MLP's MVA - {100 * args.tolerance:g} "
          f"points (per seed; '-' = never)")  # fmt: skip
    for model, values in seconds.items():
        text = " ".join("-" if v is None else f"{v:.1f}" for v in values)
        s = speedups[model]
        speed = f"{np.mean(s):.2f}x mean over {len(s)} seeds" if s else "never"
        print(f"  {model:<22} {text:<32} speedup vs MLP: {speed}")


if __name__ == "__main__":
    main()
