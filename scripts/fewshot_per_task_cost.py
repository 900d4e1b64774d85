"""Research (issue 17): seconds per task of per-task classifiers at their defaults on 5 to 100
support samples (``glai.fewshot.evaluate(classifier=...)``'s protocol).

On a bench setting's novel classes (its class split, feature cache and base standardisation),
fits a clone of each classifier on the support set of ``--tasks`` tasks of 5-way 1-, 5- and
20-shot (5, 25 and 100 samples; 15 queries per class) and prints the accuracy % and seconds
per task, side by side in one process (ratios are what a shared machine can compare).
Classifiers: logistic regression, ``MLPHeadClassifier()``, ``GLAIClassifier()`` (no hold-out
below 2,000 rows: Adam), and ``GLAIClassifier(quant_optimizer="ridge", quant_penalty=RULE)``,
the closed form with a penalty chosen without a hold-out (``--closed-tasks`` tasks: it is slow).

Usage (one thread, niced)::

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src nice -n 19 .venv/bin/python \
        scripts/fewshot_per_task_cost.py --split lexname --tasks 10 --closed-tasks 1
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from glai import GLAIClassifier, MLPHeadClassifier
from glai.fewshot import classifier_accuracies, sample_tasks
from glai.solvers.penalty import PENALTY_FOLDS
from glai.solvers.ridge import ridge_unknowns
from glai_bench.fewshot_data import FEWSHOT_LOADERS
from glai_bench.protocols.fewshot import SplitContext
from glai_bench.settings import get_setting


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setting", default="wordnet-minilm-fewshot")
    p.add_argument("--split", default="lexname")
    p.add_argument("--tasks", type=int, default=10)
    p.add_argument("--closed-tasks", type=int, default=1)
    p.add_argument("--rules", default="kfold,gcv")
    args = p.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", ConvergenceWarning)
    s = get_setting(args.setting)
    c = SplitContext.of(s, FEWSHOT_LOADERS[s.dataset](s, None, "cpu", False), args.split)
    X, yn = c.inputs(c.X_novel), c.y_novel
    models = {
        "logistic regression": (LogisticRegression(max_iter=1000), args.tasks),
        "MLPHeadClassifier()": (MLPHeadClassifier(random_state=0), args.tasks),
        "GLAIClassifier()": (GLAIClassifier(random_state=0), args.tasks),
    }
    for rule in filter(None, args.rules.split(",")):
        est = GLAIClassifier(random_state=0, quant_optimizer="ridge", quant_penalty=rule)
        models[f"GLAIClassifier(ridge, {rule})"] = (est, args.closed_tasks)
    warm = sample_tasks(yn, n_way=5, k_shot=1, n_query=1, n_tasks=1, random_state=0)
    rows = warm.support[0].ravel()
    GLAIClassifier(random_state=0).fit(X[rows], yn[rows])  # warm-up, untimed
    for k in (1, 5, 20):
        tasks = sample_tasks(yn, n_way=5, k_shot=k, n_query=15, n_tasks=args.tasks,
                             random_state=s.split_seed + k)  # fmt: skip
        for name, (est, n) in models.items():
            cut = tasks if n >= args.tasks else type(tasks)(
                tasks.support[:n], tasks.query[:n], tasks.classes[:n]
            )  # fmt: skip
            t0 = time.perf_counter()
            accs, _ = classifier_accuracies(X, yn, cut, est)
            seconds = (time.perf_counter() - t0) / len(cut)
            print(f"5-way {k}-shot ({5 * k} samples)  {name:32s} {len(cut):3d} tasks  "
                  f"acc {100 * accs.mean():6.2f}  {seconds:8.3f} s/task", flush=True)  # fmt: skip
        # what the closed form would solve for on this support set: D ridge unknowns
        rows = tasks.support[0].ravel()
        fitted = GLAIClassifier(random_state=0).fit(X[rows], yn[rows])
        d = ridge_unknowns(fitted.path_model_)
        print(f"5-way {k}-shot: GLAIClassifier() paths {fitted.path_model_.num_paths}, ridge "
              f"unknowns D = {d}, k-fold statistics {(PENALTY_FOLDS + 1) * d * d * 8 / 1e9:.1f} "
              "GB (float64)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
