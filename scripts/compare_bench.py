"""Compare the accuracies of two sets of bench JSONs (``glai bench ... --out DIR``), run by run.

Pairs ``BEFORE/S.json`` with ``AFTER/S.json`` for every stem ``S`` present in both, keys each
run by (labeling, head, seed) and compares the numbers that do not depend on the clock:
accuracies and losses (classification and retraining: ``mva``, ``val_accuracy``,
``test_accuracy``, ``first_mva``; few-shot: each task shape's ``accuracy``, ``ci95``, ``loss``
and ``best_val_score``; SSL: ``best_val_loss``, ``best_knn_val``, ``knn_test``,
``linear_test`` and the raw-feature reference), and the counts that shape them (``params``,
``epochs``, ``structure_frozen_epoch``, ``checks``). Times are left out: they differ run to run.

    python scripts/compare_bench.py /work/baseline_out results/after [--markdown diff.md]

Prints one line per setting (values compared, identical, largest difference) and a table of
every value that differs; exits 1 if any differs by more than ``--tolerance`` (default 0: the
same seeds must give the same numbers) or a run is missing on one side.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FIELDS = (
    "mva", "val_accuracy", "test_accuracy", "best_val_score", "best_val_loss", "best_knn_val",
    "knn_test", "linear_test", "params", "epochs", "structure_frozen_epoch", "checks",
)  # fmt: skip
TASK_FIELDS = ("accuracy", "ci95", "loss")


def values(report: dict[str, Any]) -> dict[str, float | None]:
    """``{"labeling/head/seed field": value}`` of every compared number of one report."""
    out: dict[str, float | None] = {}
    for r in report["runs"]:
        key = "/".join(str(x) for x in (r.get("split"), r["model"], r["seed"]) if x is not None)
        for f in FIELDS:
            if f in r:
                out[f"{key} {f}"] = r[f]
        for name, v in (r.get("first_mva") or {}).items():
            out[f"{key} first_mva.{name}"] = v
        for task, t in (r.get("tasks") or {}).items():
            for f in TASK_FIELDS:
                out[f"{key} {task} {f}"] = t[f]
    for name, v in (report.get("raw_features") or {}).items():
        out[f"raw-features {name}"] = v
    return out


def differences(
    before: dict[str, float | None], after: dict[str, float | None], tolerance: float
) -> Iterator[tuple[str, Any, Any, float | None]]:
    """``(key, before, after, after - before)`` of each value that differs (None: missing)."""
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, "missing"), after.get(key, "missing")
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            if abs(b - a) > tolerance:
                yield key, a, b, b - a
        elif a != b:
            yield key, a, b, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.0)
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    stems = sorted(
        p.stem for p in args.before.glob("*.json") if (args.after / p.name).is_file()
    )
    if not stems:
        raise SystemExit(f"no JSON of the same name in both {args.before} and {args.after}")
    lines = ["| setting | values | identical | largest difference |", "|---|---:|---:|---:|"]
    rows = ["| setting | value | before | after | after - before |", "|---|---|---:|---:|---:|"]
    failed = False
    for stem in stems:
        before = values(json.loads((args.before / f"{stem}.json").read_text()))
        after = values(json.loads((args.after / f"{stem}.json").read_text()))
        diffs = list(differences(before, after, args.tolerance))
        largest = max((abs(d) for *_, d in diffs if d is not None), default=0.0)
        missing = sum(d is None for *_, d in diffs)
        failed |= bool(diffs)
        n = len(set(before) | set(after))
        text = f"{largest:.3g}" + (f" ({missing} missing)" if missing else "")
        lines.append(f"| {stem} | {n} | {n - len(diffs)} | {text} |")
        rows += [f"| {stem} | {k} | {a} | {b} | {'' if d is None else f'{d:+.3g}'} |"
                 for k, a, b, d in diffs]  # fmt: skip
    text = "\n".join(lines) + "\n"
    if len(rows) > 2:
        text += "\nValues that differ:\n\n" + "\n".join(rows) + "\n"
    print(text, end="")
    if args.markdown is not None:
        args.markdown.write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
