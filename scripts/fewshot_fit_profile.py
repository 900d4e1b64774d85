"""Research (issue 17): where one per-task fit's time goes (cProfile).

Fits ``GLAIClassifier(random_state=0)`` and ``MLPHeadClassifier(random_state=0)`` at their
defaults on the support set of one 5-way 1-shot and one 5-way 5-shot task (5 and 25 rows) of
``wordnet-minilm-fewshot``'s novel lexname classes (its base standardisation), ``--repeat``
times each after one untimed warm-up fit, and prints per fit: the wall time, the time inside
the training loop (``train_epochs``), inside the per-epoch validation pass
(``BatchPlan.validate``), and outside the loop (input checks, target encoding, network
construction, fitted attributes), then the ``--top`` functions by own time.

Usage (one thread)::

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python scripts/fewshot_fit_profile.py
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from typing import Any

import torch

from glai import GLAIClassifier, MLPHeadClassifier
from glai.fewshot import sample_tasks
from glai_bench.fewshot_data import FEWSHOT_LOADERS
from glai_bench.protocols.fewshot import SplitContext
from glai_bench.settings import get_setting


def _cumulative(stats: pstats.Stats, suffix: str) -> float:
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    return sum(v[3] for (path, _, name), v in table.items() if f"{path}:{name}".endswith(suffix))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--top", type=int, default=12)
    args = p.parse_args()
    torch.set_num_threads(1)
    s = get_setting("wordnet-minilm-fewshot")
    c = SplitContext.of(s, FEWSHOT_LOADERS[s.dataset](s, None, "cpu", False), "lexname")
    X, y = c.inputs(c.X_novel), c.y_novel  # the setting standardises with base statistics
    for k in (1, 5):
        tasks = sample_tasks(y, n_way=5, k_shot=k, n_query=15, n_tasks=1, random_state=7)
        rows = tasks.support[0].ravel()
        for make in (GLAIClassifier, MLPHeadClassifier):
            make(random_state=0).fit(X[rows], y[rows])  # warm-up, untimed
            t0 = time.perf_counter()
            for _ in range(args.repeat):
                make(random_state=0).fit(X[rows], y[rows])
            wall = (time.perf_counter() - t0) / args.repeat
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.repeat):
                make(random_state=0).fit(X[rows], y[rows])
            prof.disable()
            st = pstats.Stats(prof)
            fit = _cumulative(st, "estimators/base.py:fit") / args.repeat
            loop = _cumulative(st, "training/iterative.py:train_epochs") / args.repeat
            val = _cumulative(st, "training/plans.py:validate") / args.repeat
            print(f"\n{make.__name__} on {len(rows)} rows: {1000 * wall:.1f} ms per fit "
                  f"(unprofiled); profiled {1000 * fit:.1f} ms: training loop "
                  f"{100 * loop / fit:.0f}% (of which the per-epoch validation pass "
                  f"{100 * val / fit:.0f}%), outside it {100 * (fit - loop) / fit:.0f}%",
                  flush=True)  # fmt: skip
            st.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
