"""Squared loss at many classes: ridge, its cross-entropy polish at several penalties, and Adam.

Trains and freezes one structure of a bench setting (seed as ``GLAIClassifier`` draws it, the
default stop rule), then on that structure: the ridge solution for each penalty; the
cross-entropy polish of :mod:`glai.solvers.ridge_ce` (L-BFGS, ``H0 = 2 (G + lam I)^-1``) from
each ridge solution at its own penalty, ``--polish`` iterations; Adam (``lr / 3``) from the
frozen network's paths and from a ridge solution. Prints validation accuracy per pass.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/ridge_remedies.py wordnet-minilm
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import check_random_state

from glai.block import GLAI
from glai.solvers import ridge_ce
from glai.solvers.gram import flat_parameters, unflatten
from glai.structure import StructureMonitor
from glai.training import Data, History, Objective, TrainConfig, fit_glai, train_epochs
from glai_bench.data import load_splits
from glai_bench.runner import timing_context
from glai_bench.settings import get_setting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alphas", type=float, nargs="*", default=[1e-4, 1e-3, 1e-2, 1e-1])
    parser.add_argument("--polish", type=int, default=10)
    parser.add_argument("--adam-epochs", type=int, default=10)
    args = parser.parse_args()
    d = load_splits(get_setting(args.setting), progress=False)
    with timing_context(threads=1):
        x, y = torch.as_tensor(d.X_train), torch.as_tensor(d.y_train)
        xv, yv = torch.as_tensor(d.X_val), torch.as_tensor(d.y_val)

        def ce(o: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(o, t, reduction="none")

        def acc(o: torch.Tensor, t: torch.Tensor) -> float:
            return float((o.argmax(1) == t).float().mean())

        seed = int(check_random_state(args.seed).randint(np.iinfo(np.int32).max))
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        block = GLAI(x.shape[1], 256, d.n_classes)
        monitor = StructureMonitor(x[torch.randperm(len(y), generator=gen)[:2048]])
        fit_glai(
            block, Data(x, y, xv, yv), Objective(ce, acc), structural=TrainConfig(),
            quantitative=TrainConfig(max_epochs=0), monitor=monitor, generator=gen,
        )  # fmt: skip
        pm = block.path_model
        assert pm is not None
        g, gv = pm.gates(x), pm.gates(xv)

        def score(flat: torch.Tensor) -> float:
            with torch.no_grad():
                out = torch.func.functional_call(pm, unflatten(pm, flat), (xv, gv))
            return acc(out, yv)

        init = flat_parameters(pm)
        epochs = len(monitor.history) - 1
        print(f"{args.setting}: gates {list(pm.hidden_features)}, {pm.num_paths} paths, "
              f"frozen after {epochs} epochs; init val {score(init):.4f}")  # fmt: skip
        system = ridge_ce.path_system(pm, x, g, F.one_hot(y, d.n_classes).float())
        print(f"unknowns per output {system.unknowns}")
        ridge = {}
        for alpha in args.alphas:
            factors = system.factor(alpha)
            ridge[alpha] = system.solve(factors).float()
            lam = system.penalties(alpha)
            Y = F.one_hot(y, d.n_classes).float()
            iterates = ridge_ce.polish(pm, x, g, Y, system, factors, lam, ridge[alpha], args.polish)
            trace = [score(w) for w in iterates]
            best = int(np.argmax(trace))
            line = " ".join(f"{v:.4f}" for v in trace)
            print(f"alpha {alpha:g}: ridge {score(ridge[alpha]):.4f}; polish best "
                  f"{trace[best]:.4f} at {best + 1}: {line}")  # fmt: skip
        second = args.alphas[min(1, len(args.alphas) - 1)]
        for name, start in (("the frozen paths", init), (f"ridge {second:g}", ridge[second])):
            model = copy.deepcopy(pm)
            model.load_state_dict(unflatten(pm, start), strict=False)
            history = History()
            train_epochs(
                model, (x, g), y, (xv, gv), yv, loss_fn=ce, score_fn=acc,
                config=TrainConfig(lr=1e-3 / 3, max_epochs=args.adam_epochs, patience=None),
                history=history, phase="q", generator=torch.Generator().manual_seed(0),
            )  # fmt: skip
            best_record = history.best()
            assert best_record is not None
            line = " ".join(f"{r.val_score:.4f}" for r in history.records)
            print(f"adam lr/3 from {name}: best {best_record.val_score:.4f} at epoch "
                  f"{best_record.epoch}: {line}")  # fmt: skip


if __name__ == "__main__":
    main()
