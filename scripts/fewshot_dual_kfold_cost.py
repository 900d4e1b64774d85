"""Research (issue 17): the closed form with its penalty chosen by k-fold CV in dual form, per
few-shot task, against ``GLAIClassifier()`` (Adam) on the same support sets.

On a bench setting's novel classes (class split, feature cache, base standardisation as in
``scripts/fewshot_per_task_cost.py``), per task of ``--tasks`` 5-way 1- and 5-shot tasks
(15 queries per class): fits ``GLAIClassifier(random_state=0)`` (structural phase, then Adam;
timed, query accuracy), then re-solves the quantitative phase on its frozen paths with
``glai.solvers.ridge.solve`` at ``penalty="kfold"`` (fewer rows than unknowns, no statistics:
the dual k-fold rule; timed alone) and scores the queries with that solution. The estimator
``GLAIClassifier(quant_optimizer="ridge", quant_penalty="kfold")`` does not take this path:
it keeps primal statistics for ``partial_fit`` (``ridge_statistics_``).

Usage (one thread, niced)::

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src nice -n 19 .venv/bin/python \
        scripts/fewshot_dual_kfold_cost.py --split lexname --tasks 20
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from glai import GLAIClassifier
from glai.fewshot import sample_tasks
from glai.solvers.ridge import ridge_unknowns, solve
from glai.training import TrainConfig
from glai_bench.fewshot_data import FEWSHOT_LOADERS
from glai_bench.protocols.fewshot import SplitContext
from glai_bench.settings import get_setting


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setting", default="wordnet-minilm-fewshot")
    p.add_argument("--split", default="lexname")
    p.add_argument("--tasks", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", ConvergenceWarning)
    s = get_setting(args.setting)
    c = SplitContext.of(s, FEWSHOT_LOADERS[s.dataset](s, None, "cpu", False), args.split)
    X, yn = c.inputs(c.X_novel), c.y_novel
    config = TrainConfig(optimizer="ridge", penalty="kfold")
    for k in (1, 5):
        tasks = sample_tasks(yn, n_way=5, k_shot=k, n_query=15, n_tasks=args.tasks,
                             random_state=s.split_seed + k)  # fmt: skip
        adam_s, dual_s, adam_acc, dual_acc, dims, alphas = [], [], [], [], [], []
        for t in range(len(tasks)):
            sup, qry = tasks.support[t].ravel(), tasks.query[t].ravel()
            t0 = time.perf_counter()
            est = GLAIClassifier(random_state=0).fit(X[sup], yn[sup])
            adam_s.append(time.perf_counter() - t0)
            adam_acc.append(float((est.predict(X[qry]) == yn[qry]).mean()))
            closed = copy.deepcopy(est)
            path = closed.path_model_
            x = torch.as_tensor(X[sup]).to(path.theta.dtype)
            labels = torch.as_tensor(np.searchsorted(closed.classes_, yn[sup]))
            onehot = torch.nn.functional.one_hot(labels, len(closed.classes_)).to(x.dtype)
            t0 = time.perf_counter()
            (cand,) = solve(path, x, path.gates(x), onehot, config)
            dual_s.append(time.perf_counter() - t0)
            path.load_state_dict(cand.parameters(), strict=False)
            dual_acc.append(float((closed.predict(X[qry]) == yn[qry]).mean()))
            dims.append(ridge_unknowns(path))
            alphas.append(cand.penalty)
        print(f"5-way {k}-shot ({5 * k} support rows), {len(tasks)} tasks: ridge unknowns D "
              f"{min(dims)}-{max(dims)}; GLAIClassifier() acc {100 * np.mean(adam_acc):.2f} "
              f"{np.mean(adam_s):.3f} s/task; dual k-fold closed form on its paths acc "
              f"{100 * np.mean(dual_acc):.2f} {np.mean(dual_s):.4f} s/task (solve only); "
              f"alphas chosen {sorted(set(alphas))}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
