"""Issue 17: ``wordnet-minilm-fewshot`` for one labeling at 5 seeds and 1,000 tasks per shape,
raw nearest class mean and the episodic embedding heads only.

The per-task classifiers are left out (0.5-1.6 s per task and seed at their defaults:
BENCHMARKS.md, "Per-task classifiers: seconds per task"); logistic regression runs on one task
per shape and is not reported. The features are those of both labelings (one feature cache).
Outputs ``wordnet-minilm-fewshot-5seeds-SPLIT.{json,md}`` and its figure in ``--out``.

Usage (one thread, niced)::

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src nice -n 19 .venv/bin/python \\
        scripts/fewshot_wordnet_episodic.py lexname 300 --out docs/benchmarks
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from glai_bench.bench import run_bench
from glai_bench.fewshot_data import FEWSHOT_LOADERS
from glai_bench.protocols import fewshot as fs
from glai_bench.settings import FewShotSetting, get_setting


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("split", choices=["lexname", "hypernym"])
    p.add_argument("episodes", type=int)
    p.add_argument("--out", default="scratch/full/out")
    p.add_argument("--per-task", type=int, default=0, metavar="M",
                   help="instead: the per-task classifiers on the first M tasks per shape")
    args = p.parse_args()
    load = FEWSHOT_LOADERS["wordnet"]

    def both(setting: FewShotSetting, *rest: Any) -> Any:
        return load(replace(setting, splits=("lexname", "hypernym")), *rest)

    FEWSHOT_LOADERS["wordnet"] = both
    heads = ("mlp-task", "glai-task") if args.per_task else ("mlp", "glai")
    fs.FewShot.head_table = {k: v for k, v in fs.HEADS.items() if k in heads}
    # the per-task rows are tested against the per-task MLP head
    ref = "mlp-task" if args.per_task else "mlp"
    fs.MODELS = tuple((m, proto, label, ref) for m, proto, label, _ in fs.MODELS
                      if m in ("raw", "lr", *heads) and (args.per_task or m != "lr"))  # fmt: skip
    kind = f"pertask{args.per_task}" if args.per_task else "episodic"
    name = f"wordnet-minilm-fewshot-5seeds-{args.split}-{kind}"
    command = (
        "OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src nice -n 19 python "
        f"scripts/fewshot_wordnet_episodic.py {args.split} {args.episodes}"
        + (f" --per-task {args.per_task}" if args.per_task else "")
    )
    base = get_setting("wordnet-minilm-fewshot")
    assert isinstance(base, FewShotSetting)
    # the first M tasks for every seed, as the saved runs were made
    s = replace(base, name=name, splits=(args.split,), per_task_tasks=args.per_task or 1,
                per_task_slices=False, episodes=args.episodes)  # fmt: skip
    run_bench(s, seeds=5, out=args.out, threads=1, progress=False, command=command)


if __name__ == "__main__":
    main()
