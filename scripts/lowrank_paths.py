"""Issue 7, lead 6: spending the path budget on more gates when there are many outputs.

At the matched parameter count the paper's GLAI has ``h = budget / (K (n_0 + 1))`` gates: 6 for
WordNet's 41 classes on 384-d embeddings. Its quantitative phase is a linear classifier over
the fixed features ``phi(x) = g(x) (x) [x, 1]`` (every output has the same ``h`` paths), of
dimension ``h (n_0 + 1)``. **Low-rank paths** (ours, beyond the paper) feed the paths the
structural network's own first-layer pre-activations ``z = W_1 x + b_1`` (``h`` numbers)
instead of ``x``:

    phi(x) = g(x) (x) [z(x), 1],   dimension h (h + 1),   g_j(x) = [z_j(x) > 0],

so the same budget buys ``h ~ sqrt(budget / K)`` gates (51 on WordNet). Each path's input
weights are confined to the row space of ``W_1`` (``theta_kj . z = (W_1^T theta_kj) . x``);
the diagonal ``g_j z_j = relu(z_j)`` makes it contain the narrow network itself, which is its
starting point. After the freeze it is still one convex problem. It is the paper's GLAI of the
network ``z -> h -> K`` whose first layer is the identity, which is how it is built here
(:func:`glai.freeze` of that network on ``z``). The frozen ``W_1`` (``h n_0`` numbers) is
not counted in the budget, as the paper's gating network is not.

Per seed, in one process on 1 thread: the MLP head (its MVA is the target), GLAI-auto with the
library's defaults, and low-rank paths with Adam and with ridge-ce for the quantitative phase;
the structural phase is the estimators' (same learning rate, batch, relative rule, ``m_t``
every 100 steps).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/lowrank_paths.py wordnet-minilm --seeds 3
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

import numpy as np
import torch
from scipy import stats

from glai import MLP, GLAIClassifier, MLPHeadClassifier, StructureMonitor, freeze
from glai.estimators import AUTO_CHECK_STEPS
from glai.training import History, TrainConfig
from glai.training.loop import closed_form_epochs, closed_form_targets, train_epochs
from glai.training.losses import accuracy, cross_entropy
from glai_bench.data import load_splits
from glai_bench.report import git_commit, jsonable, machine, versions
from glai_bench.runner import timing_context, warm_up
from glai_bench.settings import get_setting


def matched_gates(budget: int, n_out: int) -> int:
    """The most gates ``h`` whose low-rank paths fit: ``n_out (h (h + 1) + 1) <= budget``."""
    h = int(math.isqrt(budget // n_out))
    while n_out * (h * (h + 1) + 1) > budget:
        h -= 1
    return h


def fit_lowrank(
    data: Any, h: int, seed: int, solver: str, lr: float = 1e-3, batch: int = 256
) -> dict[str, Any]:
    """Structural phase (the estimators' rule), freeze, then ``solver`` on the low-rank paths."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    X, y = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)
    Xv, yv = torch.as_tensor(data.X_val), torch.as_tensor(data.y_val)
    K = int(y.max()) + 1
    history = History()
    mlp = MLP(X.shape[1], h, K)
    probe = X[torch.randperm(len(X), generator=gen)[:2048]]
    steps_per_epoch = -(-len(X) // batch)
    every = AUTO_CHECK_STEPS if steps_per_epoch > AUTO_CHECK_STEPS else None
    monitor = StructureMonitor(probe, rule="relative", check_every=every)
    monitor.update(mlp)
    config = TrainConfig(lr=lr, batch_size=batch, max_epochs=200, patience=None)
    if every is None:
        config.max_epochs = min(monitor.rule.max_epochs, config.max_epochs)
    train_epochs(
        mlp, (X,), y, (Xv,), yv, loss_fn=cross_entropy, score_fn=accuracy, config=config,
        history=history, phase="structural", generator=gen, monitor=monitor, keep_best=False,
    )  # fmt: skip
    structure_s = history.elapsed()
    first, last = mlp.linears
    with torch.no_grad():
        Z, Zv, Zp = (first(a) for a in (X, Xv, probe))
        identity = MLP(h, h, K)
        identity.linears[0].weight.copy_(torch.eye(h))
        identity.linears[0].bias.zero_()
        identity.linears[1].load_state_dict(last.state_dict())
    paths = freeze(identity, Zp, budget=None)
    G, Gv = paths.gates(Z), paths.gates(Zv)
    quant = TrainConfig(optimizer=solver, lr=lr / 3, batch_size=batch, max_epochs=200, patience=10)
    if solver == "adam":
        train_epochs(
            paths, (Z, G), y, (Zv, Gv), yv, loss_fn=cross_entropy, score_fn=accuracy, config=quant,
            history=history, phase="quantitative", generator=gen,
        )  # fmt: skip
    else:
        closed_form_epochs(
            paths, (Z, G), closed_form_targets(y, K, Z.dtype), y, (Zv, Gv), yv,
            loss_fn=cross_entropy, score_fn=accuracy, config=quant, history=history,
        )  # fmt: skip
    with torch.no_grad():
        Zt = first(torch.as_tensor(data.X_test))
        test = accuracy(paths(Zt, paths.gates(Zt)), torch.as_tensor(data.y_test))
    params = sum(p.numel() for p in paths.parameters() if p.requires_grad)
    return dict(
        history=history, test=test, params=params, gating_params=first.weight.numel() + h,
        structure_s=structure_s, paths=paths.num_paths,
    )


def _ms(x: np.ndarray, digits: int = 2) -> str:
    std = x.std(ddof=1) if len(x) > 1 else 0.0
    return f"{x.mean():6.{digits}f} ± {std:4.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("setting")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None, help="JSON of every run")
    args = ap.parse_args()
    setting = get_setting(args.setting, quick=args.quick)
    git_commit()  # the code that runs, recorded in the JSON
    data = load_splits(setting)
    rows: dict[str, list[dict[str, Any]]] = {}
    with timing_context(1):
        warm_up(data, setting.hidden)
        for seed in range(args.seeds):
            mlp = MLPHeadClassifier(setting.hidden, random_state=seed)
            mlp.fit(data.X_train, data.y_train, X_val=data.X_val, y_val=data.y_val)
            best = mlp.history_.best()
            assert best is not None
            target = best.val_score
            budget = sum(p.numel() for p in mlp.model_.parameters())
            rows.setdefault("mlp", []).append(dict(
                mva=target, test=mlp.score(data.X_test, data.y_test), s=best.seconds,
                s_mlp=best.seconds, params=budget, gates=setting.hidden[0],
            ))  # fmt: skip
            glai = GLAIClassifier(setting.hidden, random_state=seed)
            glai.fit(data.X_train, data.y_train, X_val=data.X_val, y_val=data.y_val)
            h_ = glai.history_
            gbest = h_.best(phase=h_.final_phase)
            assert gbest is not None
            rows.setdefault("glai-auto (paper)", []).append(dict(
                mva=gbest.val_score, test=glai.score(data.X_test, data.y_test), s=gbest.seconds,
                s_mlp=h_.time_to_reach(target, phase=h_.final_phase),
                params=sum(p.numel() for p in glai.path_model_.parameters()),
                gates=glai.model_.structural_features[0],
            ))  # fmt: skip
            h = matched_gates(budget, int(data.y_train.max()) + 1)
            for solver in ("adam", "ridge-ce"):
                r = fit_lowrank(data, h, seed, solver)
                hist = r["history"]
                b = hist.best(phase="quantitative")
                rows.setdefault(f"low-rank {solver} (ours)", []).append(dict(
                    mva=b.val_score, test=r["test"], s=b.seconds,
                    s_mlp=hist.time_to_reach(target, phase="quantitative"), params=r["params"],
                    gates=h, structure_s=r["structure_s"], gating_params=r["gating_params"],
                ))  # fmt: skip
            print(f"seed {seed}:", {k: (round(v[-1]["mva"], 4), round(v[-1]["s"], 1))
                                    for k, v in rows.items()}, flush=True)  # fmt: skip
    print(f"\n{setting.stem}: {args.seeds} seeds, mean ± std, 1 thread")
    print(f"{'head':<24} {'gates':>5} {'params':>9} {'MVA %':>13} {'test %':>13} "
          f"{'s to MVA':>12} {'reached':>7} {'s to MLP MVA':>12}  d test vs MLP (p)")  # fmt: skip
    base = np.array([r["test"] for r in rows["mlp"]])
    for name, rs in rows.items():
        mva, test = (np.array([r[k] for r in rs]) * 100 for k in ("mva", "test"))
        sec = np.array([r["s"] for r in rs])
        hit = [r["s_mlp"] for r in rs if r["s_mlp"] is not None]
        diff = ""
        if name != "mlp":
            p = stats.ttest_rel(test, 100 * base).pvalue if len(rs) > 1 else float("nan")
            diff = f"{test.mean() - 100 * base.mean():+.2f} (p={p:.2g})"
        to_mlp = f"{np.mean(hit):12.1f}" if hit else f"{'never':>12}"
        print(
            f"{name:<24} {rs[0]['gates']:>5} {rs[0]['params']:>9,} {_ms(mva)} {_ms(test)} "
            f"{_ms(sec, 1)} {len(hit)}/{len(rs):<5} {to_mlp}  {diff}"
        )
    if args.out:
        report = {
            "config": {"command": " ".join(sys.argv), **vars(args), "setting": setting.stem},
            "versions": versions(), "machine": machine(1, "cpu"), "runs": rows,
        }  # fmt: skip
        with open(args.out, "w") as f:
            json.dump(jsonable(report), f, indent=1)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"wall time {time.perf_counter() - t0:.0f} s")
