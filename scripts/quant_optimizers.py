"""Which optimiser for GLAI's quantitative phase? Measured on one frozen structure.

Trains the structural network of a bench setting once (default rule), freezes it, then
solves the same convex problem with each optimiser from the same initial point, timing each
through glai's training loop. Used to pick ``GLAIClassifier``'s defaults (BENCHMARKS.md).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/quant_optimizers.py fashion-effnet
"""

from __future__ import annotations

import argparse
import copy

import torch
import torch.nn.functional as F

import glai
from glai.solvers import ridge_unknowns
from glai.training import (
    Data,
    History,
    Objective,
    TrainConfig,
    closed_form_epochs,
    fit_glai,
    train_epochs,
)
from glai_bench.data import load_splits
from glai_bench.runner import timing_context
from glai_bench.settings import get_setting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--lbfgs-epochs", type=int, default=5, help="of lbfgs_iter steps each")
    parser.add_argument("--max-ridge-unknowns", type=int, default=6000)
    args = parser.parse_args()
    data = load_splits(get_setting(args.setting), progress=False)
    with timing_context(threads=1) as timing:
        x, y = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)
        xv, yv = torch.as_tensor(data.X_val), torch.as_tensor(data.y_val)
        n_out = data.n_classes

        def loss_fn(o: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(o, t, reduction="none")

        def score_fn(o: torch.Tensor, t: torch.Tensor) -> float:
            return float((o.argmax(1) == t).float().mean())

        torch.manual_seed(args.seed)
        gen = torch.Generator().manual_seed(args.seed)
        block = glai.GLAI(x.shape[1], 256, n_out)
        monitor = glai.StructureMonitor(x[:2048])
        # max_epochs=0 for the quantitative phase: this only trains and freezes the structure
        fit_glai(
            block, Data(x, y, xv, yv), Objective(loss_fn, score_fn),
            structural=TrainConfig(), quantitative=TrainConfig(max_epochs=0),
            monitor=monitor, generator=gen,
        )  # fmt: skip
        assert block.path_model is not None
        start = block.path_model
        gates, gates_val = start.gates(x), start.gates(xv)
        print(f"{args.setting}: structure {list(block.structural_features)}, "
              f"{start.num_paths} paths, frozen after {len(monitor.history)} epochs; "
              f"threads={timing['threads']}")  # fmt: skip
        print(f"{'optimiser':<22} {'MVA':>7} {'epochs':>7} {'s to MVA':>9} {'s/epoch':>8}")
        configs = {
            "adam lr=1e-3": TrainConfig(lr=1e-3),
            "adam lr=3e-4": TrainConfig(lr=3e-4),
            "adam lr=1e-4": TrainConfig(lr=1e-4),
            "adam lr=1e-3 bs=1024": TrainConfig(lr=1e-3, batch_size=1024),
            "lbfgs (full batch)": TrainConfig(optimizer="lbfgs", lr=1.0),
            "ridge (closed form)": TrainConfig(optimizer="ridge"),
        }
        for name, config in configs.items():
            config.max_epochs = args.max_epochs
            model = copy.deepcopy(start)
            history = History()
            kw = dict(loss_fn=loss_fn, score_fn=score_fn, config=config, history=history)
            if config.optimizer == "ridge" and ridge_unknowns(model) > args.max_ridge_unknowns:
                print(
                    f"{name:<22} skipped: {ridge_unknowns(model)} unknowns per output "
                    f"(the Gram matrix alone would hold {ridge_unknowns(model) ** 2:,} entries)"
                )
                continue
            if config.optimizer == "lbfgs":
                config.max_epochs = min(config.max_epochs, args.lbfgs_epochs)
            if config.optimizer == "ridge":
                targets = F.one_hot(y, n_out).float()
                closed_form_epochs(model, (x, gates), targets, y, (xv, gates_val), yv, **kw)
            else:
                train_epochs(
                    model, (x, gates), y, (xv, gates_val), yv, **kw,
                    generator=torch.Generator().manual_seed(args.seed), phase="quantitative",
                )  # fmt: skip
            best = history.best()
            assert best is not None
            per_epoch = history.records[-1].seconds / len(history.records)
            print(f"{name:<22} {best.val_score:7.4f} {best.epoch:7d} {best.seconds:9.2f} "
                  f"{per_epoch:8.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
