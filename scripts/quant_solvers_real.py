"""The quantitative solvers on a bench setting's real features, against the MLP head.

For each seed, in one process and through the estimators (the bench's splits, the validation
split given as ``X_val``): ``MLPHeadClassifier()``, then ``GLAIClassifier`` with each
``quant_optimizer`` asked for (default: ``adam`` and ``auto``). Prints MVA, test accuracy,
seconds to MVA, seconds to the MLP's MVA, the quantitative phase's own seconds and the solver
that ran. ``--raw`` uses the backbone's features as they come (for MiniLM: unit-norm
embeddings) instead of standardised ones.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/quant_solvers_real.py wordnet-minilm
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from glai import GLAIClassifier, MLPHeadClassifier
from glai_bench.data import load_splits
from glai_bench.runner import timing_context
from glai_bench.settings import get_setting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setting")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--raw", action="store_true", help="features not standardised")
    parser.add_argument("--solvers", nargs="*", default=["adam", "auto"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    setting = get_setting(args.setting, quick=args.quick)
    if args.raw:
        setting = replace(setting, standardize=False)
    d = load_splits(setting, progress=False)
    print(f"{setting.stem} standardised={setting.standardize}: train {d.X_train.shape}, "
          f"val {len(d.y_val)}, {d.n_classes} classes")  # fmt: skip
    with timing_context(threads=args.threads) as timing:
        # warm-up fit (never time the first fit of a process)
        MLPHeadClassifier(max_iter=1, random_state=0).fit(d.X_train[::20], d.y_train[::20])
        print(f"threads {timing['threads']}")
        print(f"{'seed':>4} {'model':<16} {'solver':<9} {'MVA':>7} {'test':>7} {'s to MVA':>9} "
              f"{'s to MLP MVA':>12} {'quant s':>8} {'s/epoch':>8}")  # fmt: skip
        rows: dict[str, list[tuple[float, float, float | None]]] = {}
        for seed in range(args.seeds):
            mlp = MLPHeadClassifier(random_state=seed)
            mlp.fit(d.X_train, d.y_train, X_val=d.X_val, y_val=d.y_val)
            target = mlp.best_validation_score_
            assert target is not None
            heads = [("mlp", mlp)] + [
                (f"glai-{name}", GLAIClassifier(random_state=seed, quant_optimizer=name))
                for name in args.solvers
            ]
            for label, est in heads:
                if est is not mlp:
                    est.fit(d.X_train, d.y_train, X_val=d.X_val, y_val=d.y_val)
                h = est.history_
                best = h.best(phase=h.final_phase)
                assert best is not None
                reach = h.time_to_reach(target, phase=h.final_phase)
                quant = [r for r in h.records if r.phase == "quantitative"]
                start = h.records[len(h.records) - len(quant) - 1].seconds if quant else 0.0
                quant_s = h.records[-1].seconds - start if quant else float("nan")
                per_epoch = h.records[-1].seconds / len(h.records)
                test = est.score(d.X_test, d.y_test)
                solver = getattr(est, "quant_optimizer_", "-")
                print(f"{seed:>4} {label:<16} {solver:<9} {best.val_score:7.4f} {test:7.4f} "
                      f"{best.seconds:9.2f} {_s(reach):>12} {quant_s:8.2f} {per_epoch:8.2f}",
                      flush=True)  # fmt: skip
                rows.setdefault(label, []).append((best.val_score, test, reach))
        print("mean over seeds:")
        for label, values in rows.items():
            mva, test = np.mean([v[0] for v in values]), np.mean([v[1] for v in values])
            reached = [v[2] for v in values if v[2] is not None]
            print(f"  {label:<16} MVA {mva:.4f} test {test:.4f} reached the MLP's MVA in "
                  f"{len(reached)} of {len(values)} seeds")  # fmt: skip


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
