"""Where does an epoch's time go? One MLP epoch against one GLAI epoch of each phase.

Profiles (torch.profiler, CPU) one training epoch of the MLP head, of GLAI's structural
network and of its path model on a bench setting's features, through glai's training loop,
and prints the operators that take the most self time.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/profile_epochs.py fashion-effnet
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

import glai
from glai.training import History, TrainConfig, train_epochs
from glai_bench.data import load_splits
from glai_bench.runner import timing_context
from glai_bench.settings import get_setting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setting")
    parser.add_argument("--rows", type=int, default=6)
    args = parser.parse_args()
    data = load_splits(get_setting(args.setting), progress=False)
    with timing_context(threads=1):
        x, y = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)
        xv, yv = torch.as_tensor(data.X_val), torch.as_tensor(data.y_val)
        n_out = data.n_classes
        torch.manual_seed(0)
        block = glai.GLAI(x.shape[1], 256, n_out)
        assert block.structure is not None
        structure = block.structure
        mlp = glai.MLP(x.shape[1], 256, n_out)

        def epoch(model: torch.nn.Module, inputs: tuple, val_inputs: tuple) -> float:
            history = History()
            train_epochs(
                model, inputs, y, val_inputs, yv,
                loss_fn=lambda o, t: F.cross_entropy(o, t, reduction="none"),
                score_fn=lambda o, t: float((o.argmax(1) == t).float().mean()),
                config=TrainConfig(max_epochs=1, patience=None), history=history,
                phase="p", generator=torch.Generator().manual_seed(0), keep_best=False,
            )  # fmt: skip
            return history.records[-1].seconds

        epoch(structure, (x,), (xv,))  # one structural epoch before freezing
        block.freeze_structure(x[:2048])
        assert block.path_model is not None
        gates, gates_val = block.gates(x), block.gates(xv)
        cases = {
            f"MLP {x.shape[1]}-256-{n_out}": (mlp, (x,), (xv,)),
            f"structural {x.shape[1]}-{block.structural_features[0]}-{n_out}": (
                structure, (x,), (xv,),
            ),
            f"path model ({block.num_paths} paths)": (
                block.path_model, (x, gates), (xv, gates_val),
            ),
        }  # fmt: skip
        for name, (model, inputs, val_inputs) in cases.items():
            epoch(model, inputs, val_inputs)  # warm-up
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                seconds = epoch(model, inputs, val_inputs)
            print(f"\n== {name}: {seconds:.2f} s per epoch (batch 256, 1 thread)")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
