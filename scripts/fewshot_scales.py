"""Research (issue 17): the episodic heads' temperature (``FewShotHead(scale=...)``), fixed or
chosen with the check on tasks of held-out base classes.

For each seed and head kind, trains :class:`glai.fewshot.FewShotHead` with each fixed scale
and reports the one ``scale=CANDIDATES`` keeps (the candidate whose best check, or start,
scores highest on the held-out base classes: the same fits, as tests pin), on the base
classes of a bench setting (its class split, feature cache and input standardisation); scores
nearest class mean on novel tasks (the bench's task seeds). Prints accuracy % ± 95% interval
over tasks, the validation score and the training seconds.

Usage (one thread, niced)::

    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src nice -n 19 .venv/bin/python \
        scripts/fewshot_scales.py --split lexname --seeds 2 --episodes 300 --tasks 300
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from glai.fewshot import FewShotHead, evaluate
from glai_bench.fewshot_data import FEWSHOT_LOADERS
from glai_bench.protocols.fewshot import SplitContext
from glai_bench.settings import get_setting


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setting", default="wordnet-minilm-fewshot")
    p.add_argument("--split", default="lexname")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--tasks", type=int, default=300)
    p.add_argument("--kinds", default="mlp,glai")
    p.add_argument("--scales", default="3,10,30", help="fixed scales, also the candidates")
    args = p.parse_args()
    torch.set_num_threads(1)
    s = get_setting(args.setting)
    c = SplitContext.of(s, FEWSHOT_LOADERS[s.dataset](s, None, "cpu", False), args.split)
    Xb, Xn, inputs = c.X_base, c.X_novel, c.inputs

    shapes = [(w, k, s.split_seed + 1000 * (i + 1)) for i, (w, k) in enumerate(s.tasks)
              if w <= len(np.unique(c.y_novel))]  # fmt: skip
    scales = [float(v) for v in args.scales.split(",")]
    kwargs = {**s.fewshot_kwargs(), "episodes": args.episodes}
    budget = {} if s.glai_budget is None else {"budget": s.glai_budget}
    print(f"{args.setting} {args.split}: raw", end="")
    for w, k, seed in shapes:
        r = evaluate(Xn, c.y_novel, n_way=w, k_shot=k, n_query=s.n_query, n_tasks=args.tasks,
                     random_state=seed)  # fmt: skip
        print(f"  {w}w{k}s {100 * r['accuracy']:.2f} ±{100 * r['ci95']:.2f}", end="")
    print(flush=True)
    for seed in range(args.seeds):
        for kind in args.kinds.split(","):
            extra = budget if kind == "glai" else {}
            val, novel_acc = {}, {}
            for scale in scales:
                head = FewShotHead(s.hidden, kind=kind, scale=scale, random_state=seed,
                                   **kwargs, **extra).fit(inputs(Xb), c.y_base)  # fmt: skip
                # what scale=CANDIDATES scores this candidate by (the same fit: tests pin it)
                val[scale] = max(v for v in (head.best_val_score_, head.identity_val_score_)
                                 if v is not None)  # fmt: skip
                cells = []
                for w, k, task_seed in shapes:
                    r = evaluate(Xn, c.y_novel, transform=lambda X, h=head: h.transform(inputs(X)),
                                 n_way=w, k_shot=k, n_query=s.n_query, n_tasks=args.tasks,
                                 random_state=task_seed)  # fmt: skip
                    cells.append(f"{w}w{k}s {100 * r['accuracy']:.2f} ±{100 * r['ci95']:.2f}")
                novel_acc[scale] = cells
                print(f"seed {seed} {kind} scale={scale:g} val={100 * val[scale]:.2f} "
                      f"kept_identity={head.kept_identity_} {head.fit_seconds_:.1f}s  "
                      + "  ".join(cells), flush=True)  # fmt: skip
            chosen = max(scales, key=lambda v: (val[v], -scales.index(v)))
            print(f"seed {seed} {kind} chosen on held-out base classes: scale={chosen:g}  "
                  + "  ".join(novel_acc[chosen]), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
