"""Issue 17: the per-task classifiers of a few-shot bench setting at 5 seeds over 1,000
distinct tasks per shape (raw nearest class mean as the reference; no episodic heads).

The setting's own per-task design (``per_task_tasks=200, per_task_slices=True`` in
``wordnet-minilm-fewshot`` and ``fashion-effnet-fewshot``): seed ``s`` fits its
``MLPHeadClassifier(random_state=s)`` and ``GLAIClassifier(random_state=s)`` on the support
sets of tasks ``[200 s, 200 (s + 1))`` of each shape's 1,000 (the tasks every protocol meets
for the shape's task seed), so each task is fitted once per head and the 5 seeds cover the
1,000 tasks; logistic regression (no seed) is fitted on all 1,000. The episodic heads are left
out (measured separately: ``scripts/fewshot_wordnet_episodic.py``, the Fashion 5-seed run).
For WordNet the features of both labelings are loaded (one feature cache), whichever is run.
Outputs ``SETTING-5seeds-pertask1000[-SPLITS].{json,md}`` and its figure in ``--out``.

Usage (one thread, niced)::

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src nice -n 19 .venv/bin/python \\
        scripts/fewshot_per_task.py fashion-effnet-fewshot --out docs/benchmarks
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from glai_bench.bench import run_bench
from glai_bench.fewshot_data import FEWSHOT_LOADERS
from glai_bench.protocols import fewshot as fs
from glai_bench.settings import FewShotSetting, get_setting

PER_TASK = ("mlp-task", "glai-task")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("setting", choices=["wordnet-minilm-fewshot", "fashion-effnet-fewshot"])
    p.add_argument("--splits", default=None, help="comma-separated labelings (default: all)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--out", default="scratch/full/out")
    args = p.parse_args()
    base = get_setting(args.setting)
    assert isinstance(base, FewShotSetting) and base.per_task_slices
    if base.dataset == "wordnet":
        load = FEWSHOT_LOADERS["wordnet"]

        def both(setting: FewShotSetting, *rest: Any) -> Any:
            return load(replace(setting, splits=base.splits), *rest)

        FEWSHOT_LOADERS["wordnet"] = both
    fs.FewShot.head_table = {k: v for k, v in fs.HEADS.items() if k in PER_TASK}
    # every row is tested against the per-task MLP head (raw's own reference, the episodic
    # MLP head, is not run)
    fs.MODELS = tuple((m, proto, label, "mlp-task") for m, proto, label, _ in fs.MODELS
                      if m in ("raw", "lr", *PER_TASK))  # fmt: skip
    splits = tuple(args.splits.split(",")) if args.splits else base.splits
    tasks = args.seeds * (base.per_task_tasks or base.n_tasks)
    name = f"{args.setting}-{args.seeds}seeds-pertask{tasks}" + (
        f"-{args.splits.replace(',', '-')}" if args.splits else ""
    )
    command = (
        "OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src nice -n 19 python "
        f"scripts/fewshot_per_task.py {args.setting}"
        + (f" --splits {args.splits}" if args.splits else "")
        + (f" --seeds {args.seeds}" if args.seeds != 5 else "")
    )
    s = replace(base, name=name, splits=splits)
    run_bench(s, seeds=args.seeds, out=args.out, threads=1, progress=False, command=command)


if __name__ == "__main__":
    main()
