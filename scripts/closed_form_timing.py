"""How fast is the closed-form step? The Gram matrix, its factorisations, and an MLP epoch.

For bench-like shapes (N samples, n_0 inputs, h gates of one hidden layer, K outputs; random
data and a random gating layer, so no features are needed) this times, in one process:

* the machine's float32 matrix-product rate (square ``gemm``) and ``X~^T X~``;
* the pool Gram of :mod:`glai.solvers.gram` (pattern by pattern), with the work it performs and
  its rate, against the explicit ``Phi^T Phi`` (dense) where that is affordable;
* one Cholesky factorisation per penalty (float64 and float32) against one eigendecomposition;
* one MLP epoch (``n_0``-256-``K``, batch 256, glai's loop) and one full-batch cross-entropy
  pass of the path model (what one polish iteration of ``"ridge-ce"`` costs).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/closed_form_timing.py
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/closed_form_timing.py --device cuda
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import glai
from glai.solvers import ridge_ce
from glai.solvers.gram import best_group_size, flat_parameters, pattern_gram
from glai.solvers.ridge_ce import path_system
from glai.training import History, TrainConfig, train_epochs
from glai_bench.runner import timing_context

SHAPES = {  # name: (N, n_0, h gates, K)
    "wordnet-matched": (82197, 384, 6, 41),
    "wordnet-x4": (82197, 384, 24, 41),
    "fashion-matched": (50000, 1280, 25, 10),
    "tiny": (4000, 64, 6, 10),  # a smoke test of this script
}


WARM_UP = True  # --once turns the warm-up call off (for runs of minutes, after warm ones)


def timed(fn: Callable[[], object], device: torch.device, repeat: int = 2) -> float:
    """Best of ``repeat`` wall-clock seconds after one warm-up call."""

    def once() -> float:
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    if WARM_UP:
        once()
    return min(once() for _ in range(repeat))


def gram_work(gates: torch.Tensor, d1: int) -> float:
    """Flops that :func:`pattern_gram` performs: per-pattern Grams and pattern sums."""
    n, m = gates.shape
    codes = (gates.long() << torch.arange(m, device=gates.device)).sum(1)
    patterns = int(torch.unique(codes).numel()) if m < 63 else n
    g = best_group_size(n, m, patterns)
    groups = [list(range(i, min(m, i + g))) for i in range(0, m, g)]
    flops = 0.0
    for i, a in enumerate(groups):
        for b in groups[i:]:
            cols = a if a == b else a + b
            sub = gates[:, cols]
            rows = sub[:, : len(a)].any(1) & (sub[:, len(a) :].any(1) if a != b else True)
            c = (sub[rows].long() << torch.arange(len(cols), device=gates.device)).sum(1)
            s = int(torch.unique(c).numel())
            flops += 2.0 * int(rows.sum()) * d1 * d1 + 2.0 * s * len(a) * len(b) * d1 * d1
    return flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES)[:3], choices=list(SHAPES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-factor", type=int, default=12000,
                        help="skip factorisations of more unknowns than this")  # fmt: skip
    parser.add_argument("--max-dense", type=int, default=3000,
                        help="skip the explicit Phi^T Phi above this many unknowns")  # fmt: skip
    parser.add_argument("--once", action="store_true", help="time each step once, no warm-up")
    args = parser.parse_args()
    global WARM_UP
    WARM_UP = not args.once
    device = torch.device(args.device)
    with timing_context(threads=args.threads) as timing:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        print(f"device {name}, threads {timing['threads']}")
        a = torch.randn(3072, 3072, device=device)
        t = timed(lambda: a @ a, device)
        rate = 2 * 3072**3 / t / 1e9
        print(f"float32 gemm 3072^3: {rate:.1f} GFLOP/s")
        for shape in args.shapes:
            n, n0, h, k = SHAPES[shape]
            run_shape(shape, n, n0, h, k, device, rate, args)


def run_shape(
    shape: str, n: int, n0: int, h: int, k: int, device: torch.device, rate: float,
    args: argparse.Namespace,
) -> None:  # fmt: skip
    torch.manual_seed(0)
    d1 = n0 + 1
    unknowns = h * d1 + 1
    x = torch.randn(n, n0, device=device)
    y = torch.randint(0, k, (n,), device=device)
    mlp_gate = glai.MLP(n0, h, k).to(device)
    model = glai.freeze(mlp_gate, x[:2048], prune_dead=False)
    gates = model.gates(x)
    targets = F.one_hot(y, k).float()
    xt = torch.cat([x, torch.ones(n, 1, device=device)], 1)
    unit_gates = model.activation_patterns(x)[0]
    print(f"== {shape}: N={n} n0={n0} h={h} gates K={k}: D={unknowns} unknowns per output")
    t_xtx = timed(lambda: xt.t() @ xt, device)
    print(f"  X~^T X~ [{n}x{d1}]: {t_xtx:.3f}s ({2 * n * d1 * d1 / t_xtx / 1e9:.1f} GFLOP/s "
          "counting the full product)")  # fmt: skip
    t_gram = timed(lambda: pattern_gram(xt, unit_gates, targets), device, repeat=1)
    work = gram_work(unit_gates, d1)
    print(f"  Gram, pattern by pattern: {t_gram:.3f}s = {t_gram / t_xtx:.2f} X~^T X~; "
          f"performs {work / 1e9:.1f} GFLOP -> {work / t_gram / 1e9:.1f} GFLOP/s "
          f"= {100 * work / t_gram / 1e9 / rate:.0f}% of gemm; explicit Phi^T Phi would need "
          f"{2 * n * unknowns**2 / 1e9:.0f} GFLOP")  # fmt: skip
    t_system = timed(lambda: path_system(model, x, gates, targets), device, repeat=1)
    print(f"  path_system (RidgeStatistics of the model, float32): {t_system:.3f}s")
    if unknowns <= args.max_dense:
        phi = (unit_gates.float()[:, :, None] * xt[:, None]).flatten(1)

        def dense() -> torch.Tensor:
            g = phi.new_zeros(phi.shape[1], phi.shape[1])
            for i in range(0, n, 8192):
                g += phi[i : i + 8192].t() @ phi[i : i + 8192]
            return g

        t_dense = timed(dense, device, repeat=1)
        print(f"  explicit Phi^T Phi (chunks of 8192 rows): {t_dense:.3f}s "
              f"({2 * n * phi.shape[1] ** 2 / t_dense / 1e9:.1f} GFLOP/s)")  # fmt: skip
        del phi
    system = path_system(model, x, gates, targets)
    if unknowns <= args.max_factor:
        g64 = system.grams[0].double()
        g64.diagonal().add_(1e-3 * float(g64.diagonal().mean()))
        g32 = g64.float()
        t64 = timed(lambda: torch.linalg.cholesky(g64), device)
        t32 = timed(lambda: torch.linalg.cholesky(g32), device)
        t_solve = timed(lambda: system.solve(system.factor(1e-3)), device)
        msg = (f"  Cholesky D={g64.shape[0]}: float64 {t64:.3f}s, float32 {t32:.3f}s; "
               f"factor+solve of all outputs {t_solve:.3f}s")  # fmt: skip
        if unknowns <= 5000:
            t_eig = timed(lambda: torch.linalg.eigh(g64), device, repeat=1)
            msg += f"; eigh float64 {t_eig:.3f}s = {t_eig / t64:.1f} Choleskys"
        print(msg)
    else:
        print(f"  factorisation skipped: D={unknowns} > --max-factor "
              f"({unknowns**3 / 3 / 1e9:.0f} GFLOP per penalty)")  # fmt: skip
    # one MLP epoch and one full-batch cross-entropy pass of the path model
    xv, yv = x[:2000], y[:2000]
    mlp = glai.MLP(n0, 256, k).to(device)

    def mlp_epoch() -> None:
        train_epochs(
            mlp, (x,), y, (xv,), yv,
            loss_fn=lambda o, t: F.cross_entropy(o, t, reduction="none"),
            score_fn=lambda o, t: float((o.argmax(1) == t).float().mean()),
            config=TrainConfig(max_epochs=1, patience=None), history=History(), phase="mlp",
            generator=torch.Generator().manual_seed(0), keep_best=False,
        )  # fmt: skip

    if not WARM_UP:
        mlp_epoch()  # an epoch is cheap: always time a warm one
    t_mlp = timed(mlp_epoch, device, repeat=1)
    flat = flat_parameters(model)
    lam = torch.full_like(flat, 1e-3)
    t_pass = timed(
        lambda: ridge_ce.cross_entropy_and_grad(model, x, gates, targets, flat, lam), device
    )
    print(f"  MLP {n0}-256-{k} epoch (batch 256): {t_mlp:.3f}s; path model full-batch CE pass "
          f"(polish iteration): {t_pass:.3f}s; Gram = {t_gram / t_mlp:.2f} MLP epochs")  # fmt: skip


if __name__ == "__main__":
    main()
