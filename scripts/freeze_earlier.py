"""Freezing earlier and a gentler phase switch, over seeds: GLAI-auto variants against the default.

Same splits, seeds and loop as ``glai bench``; per seed the MLP head (its MVA is the target),
GLAI-auto with the defaults, then each variant, all in one process on 1 thread. A variant is
``NAME:key=value,...`` with keys

* ``every=K``: check ``m_t`` every ``K`` optimiser steps (``structure_check_every``);
* ``checks=C``: freeze after exactly ``C`` checks (a fixed structural phase of ``C * K`` steps,
  or ``C`` epochs without ``every``), to measure what each earlier freeze costs;
* ``tol=``, ``patience=``, ``min_checks=``, ``max_checks=``: the default ``"relative"`` rule's
  fields (``min_epochs`` / ``max_epochs`` of :class:`glai.StopRule` count checks);
* ``warmup=S``, ``shrinkage=L``, ``lr=R``, ``solver=NAME``: the quantitative phase's
  ``quant_warmup_steps``, ``quant_shrinkage``, ``quant_learning_rate``, ``quant_optimizer``.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/freeze_earlier.py wordnet-minilm \\
        --seeds 3 --variant 1ep:every=322,checks=1 --variant k100:every=100
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
from scipy import stats

from glai import GLAIClassifier, MLPHeadClassifier, StopRule
from glai_bench.data import load_splits
from glai_bench.runner import timing_context, warm_up
from glai_bench.settings import get_setting

_RULE = {"tol": float, "patience": int, "min_checks": int, "max_checks": int}
_ESTIMATOR = {
    "every": ("structure_check_every", int),
    "warmup": ("quant_warmup_steps", int),
    "shrinkage": ("quant_shrinkage", float),
    "lr": ("quant_learning_rate", float),
    "solver": ("quant_optimizer", str),
}


def variant_kwargs(spec: str) -> dict[str, Any]:
    """GLAIClassifier arguments of a variant spec ``key=value,...`` (module docstring)."""
    kwargs: dict[str, Any] = {}
    rule: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if key == "checks":
            c = int(value)
            rule.update(kind="epochs", epochs=c, min_epochs=0, max_epochs=c)
        elif key in _RULE:
            name = {"min_checks": "min_epochs", "max_checks": "max_epochs"}.get(key, key)
            rule[name] = _RULE[key](value)
        elif key in _ESTIMATOR:
            name, cast = _ESTIMATOR[key]
            kwargs[name] = cast(value)
        else:
            raise ValueError(f"unknown variant key {key!r} in {spec!r}")
    if rule:
        kwargs["structure_rule"] = StopRule(**rule)
    return kwargs


def _mean_std(values: list[float]) -> str:
    std = np.std(values, ddof=1) if len(values) > 1 else 0.0
    return f"{np.mean(values):6.2f} ± {std:4.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setting")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:SPEC")
    parser.add_argument("--json", help="write every run here")
    args = parser.parse_args()
    setting = get_setting(args.setting, quick=args.quick)
    data = load_splits(setting, progress=False)
    variants = [("default", {})] + [
        (v.partition(":")[0], variant_kwargs(v.partition(":")[2])) for v in args.variant
    ]
    runs: dict[str, list[dict[str, Any]]] = {}
    with timing_context(threads=1):
        warm_up(data, setting.hidden)
        for seed in range(args.seeds):
            mlp = MLPHeadClassifier(setting.hidden, random_state=seed)
            mlp.fit(data.X_train, data.y_train, X_val=data.X_val, y_val=data.y_val)
            target = mlp.history_.best()
            assert target is not None
            runs.setdefault("mlp", []).append({
                "mva": 100 * target.val_score, "test": 100 * mlp.score(data.X_test, data.y_test),
                "s_to_mva": target.seconds, "s_to_mlp_mva": target.seconds, "steps": 0,
                "structure_s": 0.0,
            })  # fmt: skip
            for name, kwargs in variants:
                est = GLAIClassifier(setting.hidden, random_state=seed, **kwargs)
                est.fit(data.X_train, data.y_train, X_val=data.X_val, y_val=data.y_val)
                h = est.history_
                best = h.best(phase=h.final_phase)
                assert best is not None
                structural = [r.seconds for r in h.records if r.phase == "structural"]
                runs.setdefault(name, []).append({
                    "mva": 100 * best.val_score, "test": 100 * est.score(data.X_test, data.y_test),
                    "s_to_mva": best.seconds,
                    "s_to_mlp_mva": h.time_to_reach(target.val_score, phase=h.final_phase),
                    "steps": est.structure_steps_,
                    "structure_s": structural[-1] if structural else 0.0,
                })  # fmt: skip
    per_epoch = -(-len(data.y_train) // est._batch_size)
    print(f"{setting.stem}: {args.seeds} seeds, mean ± std, 1 thread; {per_epoch} steps per epoch")
    print(f"{'variant':<12} {'MVA %':>13} {'test %':>13} {'s to MVA':>13} {'structure s':>11} "
          f"{'frozen at':>12} {'reached':>7}  vs default: d test (p), d MVA (p)")  # fmt: skip
    base = runs["default"]
    for name, rs in runs.items():
        steps = np.mean([r["steps"] for r in rs])
        frozen = f"{steps:6.0f} st" if name != "mlp" else "-"
        reached = sum(r["s_to_mlp_mva"] is not None for r in rs)
        structure_s = np.mean([r["structure_s"] for r in rs])
        line = (
            f"{name:<12} {_mean_std([r['mva'] for r in rs])} {_mean_std([r['test'] for r in rs])} "
            f"{_mean_std([r['s_to_mva'] for r in rs])} {structure_s:11.2f} "
            f"{frozen:>12} {reached:4d}/{len(rs)}"
        )  # fmt: skip
        if name != "default" and len(rs) > 1:
            cells = []
            for key in ("test", "mva"):
                a, b = [r[key] for r in rs], [r[key] for r in base]
                diff = np.subtract(a, b)
                p = stats.ttest_rel(a, b).pvalue if np.std(diff) > 0 else float("nan")
                cells.append(f"{np.mean(diff):+.2f} (p={p:.2g})")
            line += "  " + ", ".join(cells)
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
