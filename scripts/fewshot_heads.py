"""Research (issue 17): why episodic embedding heads lose to their raw input, and what fixes it.

Trains MLP and GLAI embedding heads episodically (prototypical loss) on base classes and scores
nearest class mean on novel classes, against the raw features, with these variants:

* ``select``: the check (epoch) kept is chosen on tasks of held-out *samples* of the training
  classes (``samples``, the library's default before issue 17) or of held-out base *classes*
  (``classes``: train / validation / test class splits, as the few-shot benchmarks do); the
  untrained head is a candidate (check 0) with ``classes``.
* ``residual``: ``z = x + f(x)`` with ``f``'s last layer at zero (an identity start; needs the
  embedding width to be the input width).
* ``nostd``: the head reads the native features (default: standardised with base statistics).
* ``norm``: embeddings scaled to norm ``sqrt(T)`` (squared distances of unit vectors times T,
  i.e. a cosine prototype loss with temperature T) in training and scoring.

Usage (one thread, niced; the data are the bench settings' cached features)::

    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src nice -n 5 .venv/bin/python scripts/fewshot_heads.py \
        --data fashion --seeds 2 --variants base,classes,residual,norm10,residual+norm10
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from glai import GLAI, MLP, StructureMonitor
from glai.fewshot import evaluate, prototype_logits, prototypes, sample_tasks, task_accuracies
from glai.training import predict_batched


def load(data: str, quick: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Base features, base labels, novel features, novel labels (native backbone space)."""
    if data == "fashion":
        from glai_bench.data import load_splits
        from glai_bench.settings import get_setting

        s = replace(get_setting("fashion-effnet", quick=True), standardize=False)
        sp = load_splits(s, progress=False)
        X = np.concatenate([sp.X_train, sp.X_val, sp.X_test])
        y = np.concatenate([sp.y_train, sp.y_val, sp.y_test])
        novel = np.random.default_rng(0).permutation(10)[:5]
        is_novel = np.isin(y, novel)
        return X[~is_novel], y[~is_novel], X[is_novel], y[is_novel]
    from glai_bench.fewshot_data import FEWSHOT_LOADERS, split_for
    from glai_bench.settings import get_setting

    split = data.split("-")[1]
    s = get_setting("wordnet-minilm-fewshot", quick=quick)
    d = FEWSHOT_LOADERS["wordnet"](s, None, "cpu", False)
    base_rows, novel_rows, _, _ = split_for(s, d.labelings[split], split)
    y = d.labelings[split].y
    return d.X[base_rows], y[base_rows], d.X[novel_rows], y[novel_rows]


class Residual(nn.Module):
    """``z = x + f(x)``; ``f`` is any module of ``(x, *rest)``."""

    def __init__(self, f: nn.Module) -> None:
        super().__init__()
        self.f = f

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return x + self.f(x, *rest)


def embed(z: torch.Tensor, temperature: float | None) -> torch.Tensor:
    if temperature is None:
        return z
    return z * (temperature**0.5 / z.norm(dim=-1, keepdim=True).clamp(min=1e-12))


def episodes(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    y: np.ndarray,
    val_inputs: tuple[torch.Tensor, ...],
    val_tasks: Any,
    *,
    temperature: float | None,
    n_episodes: int,
    check_every: int,
    lr: float,
    rng: np.random.Generator,
    monitor: StructureMonitor | None = None,
    monitored: nn.Module | None = None,
    patience: int | None = 5,
    start_candidate: bool = False,
    n_way: int = 10,
    k_shot: int = 5,
    n_query: int = 10,
) -> list[float]:
    """Episodic prototypical training, the best check kept; returns the validation curve."""
    n_way = min(n_way, len(np.unique(y)))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    target = torch.arange(n_way).repeat_interleave(n_query)
    ns = n_way * k_shot

    def val() -> float:
        z = embed(predict_batched(model, val_inputs), temperature)
        return float(task_accuracies(z, val_tasks)[0].mean())

    curve, best, best_state, since = [], -1.0, None, 0
    if start_candidate:
        best = val()
        curve.append(best)
        best_state = {k: v.clone() for k, v in model.state_dict().items()}
    for _ in range(0, n_episodes, check_every):
        tasks = sample_tasks(y, n_way=n_way, k_shot=k_shot, n_query=n_query,
                             n_tasks=check_every, random_state=rng)  # fmt: skip
        order = torch.as_tensor(np.concatenate(
            [tasks.support.reshape(check_every, -1), tasks.query.reshape(check_every, -1)], 1))
        model.train()
        for idx in order:
            z = embed(model(*(t[idx] for t in inputs)), temperature)
            protos = prototypes(z[:ns].reshape(n_way, k_shot, -1))
            loss = nn.functional.cross_entropy(prototype_logits(z[ns:], protos), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        score = val()
        curve.append(score)
        stable = monitor.update(monitored) if monitor is not None else False  # type: ignore[arg-type]
        if monitor is not None:
            if stable:
                break
            continue  # structural phase: no selection, the rule stops it
        if score > best:
            best, since = score, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since += 1
            if patience is not None and since >= patience:
                break
    if monitor is None and best_state is not None:
        model.load_state_dict(best_state)
    return curve


def fit_head(
    kind: str, variant: set[str], Xb: np.ndarray, yb: np.ndarray, seed: int, n_episodes: int,
    check_every: int,
) -> tuple[Any, dict[str, Any]]:
    """A fitted head (a function X -> embeddings) and what it did."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    temperature = next((float(v[4:]) for v in variant if v.startswith("norm")), None)
    residual = "residual" in variant
    classes = np.unique(yb)
    if "classes" in variant or residual:
        # held-out base classes: a fifth, at least 2 (validation tasks need 2 ways)
        n_val = max(2, round(0.2 * len(classes)))
        val_classes = rng.permutation(classes)[:n_val]
        tr = ~np.isin(yb, val_classes)
        va = ~tr
    else:  # held-out samples of every base class
        va = np.zeros(len(yb), bool)
        for c in classes:
            idx = rng.permutation(np.flatnonzero(yb == c))
            va[idx[: round(0.1 * len(idx))]] = True
        tr = ~va
    x = torch.as_tensor(Xb, dtype=torch.float32)
    x_tr, x_va, y_tr, y_va = x[torch.as_tensor(tr)], x[torch.as_tensor(va)], yb[tr], yb[va]
    val_tasks = sample_tasks(y_va, n_way=min(10, len(np.unique(y_va))), k_shot=5, n_query=10,
                             n_tasks=200, random_state=rng)  # fmt: skip
    d = Xb.shape[1] if residual else 128
    common = {"temperature": temperature, "n_episodes": n_episodes, "check_every": check_every,
              "rng": rng, "start_candidate": "classes" in variant or residual}  # fmt: skip
    t0 = time.perf_counter()
    info: dict[str, Any] = {}
    if kind == "mlp":
        f = MLP(Xb.shape[1], 256, d)
        if residual:
            nn.init.zeros_(f.linears[-1].weight)
            nn.init.zeros_(f.linears[-1].bias)
        model: nn.Module = Residual(f) if residual else f
        info["curve"] = episodes(model, (x_tr,), y_tr, (x_va,), val_tasks, lr=1e-3, **common)
        final = model
    else:
        block = GLAI(Xb.shape[1], 256, d)
        assert block.structure is not None
        s = block.structure
        if residual:
            nn.init.zeros_(s.linears[-1].weight)
            nn.init.zeros_(s.linears[-1].bias)
        probe = x_tr[torch.as_tensor(rng.permutation(len(x_tr))[:2048])]
        monitor = StructureMonitor(probe)
        monitor.update(s)
        smodel: nn.Module = Residual(s) if residual else s
        struct_common = {**common, "start_candidate": False,
                         "n_episodes": min(n_episodes, monitor.rule.max_epochs * check_every)}
        c1 = episodes(smodel, (x_tr,), y_tr, (x_va,), val_tasks, lr=1e-3, monitor=monitor,
                      monitored=s, **struct_common)  # fmt: skip
        block.freeze_structure(probe)
        pm = block.path_model
        assert pm is not None
        g_tr, g_va = pm.gates(x_tr), pm.gates(x_va)
        qmodel: nn.Module = Residual(pm) if residual else pm
        c2 = episodes(qmodel, (x_tr, g_tr), y_tr, (x_va, g_va), val_tasks, lr=1e-3 / 3, **common)
        info.update(curve=c1 + c2, structural_checks=len(c1), paths=pm.num_paths,
                    widths=block.structural_features)  # fmt: skip

        def final(xx: torch.Tensor) -> torch.Tensor:
            return qmodel(xx, pm.gates(xx))

    info["fit_seconds"] = time.perf_counter() - t0

    def transform(X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            if isinstance(final, nn.Module):
                final.eval()
            z = final(torch.as_tensor(X, dtype=torch.float32))
            return embed(z, temperature).numpy()

    return transform, info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="fashion",
                   choices=["fashion", "wordnet-lexname", "wordnet-hypernym"])
    p.add_argument("--quick", action="store_true", help="the quick setting's features")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--episodes", type=int, default=3000)
    p.add_argument("--check-every", type=int, default=100)
    p.add_argument("--tasks", type=int, default=500)
    p.add_argument("--kinds", default="mlp,glai")
    p.add_argument("--variants", default="base,classes,residual,norm10,residual+norm10")
    args = p.parse_args()
    torch.set_num_threads(1)
    Xb, yb, Xn, yn = load(args.data, args.quick)
    mean, std = Xb.mean(0), Xb.std(0)
    std[std == 0] = 1

    def stdz(X: np.ndarray) -> np.ndarray:
        return ((X - mean) / std).astype(np.float32)

    shapes = [(5, 1), (5, 5)] + ([(20, 5)] if len(np.unique(yn)) >= 20 else [])
    print(f"{args.data}: base {Xb.shape} {len(np.unique(yb))} classes, novel {Xn.shape} "
          f"{len(np.unique(yn))} classes", flush=True)  # fmt: skip

    def score(transform: Any, label: str) -> None:
        cells = []
        for i, (w, k) in enumerate(shapes):
            r = evaluate(Xn, yn, transform=transform, n_way=w, k_shot=k, n_query=15,
                         n_tasks=args.tasks, random_state=1000 + i)  # fmt: skip
            cells.append(f"{w}w{k}s {100 * r['accuracy']:.2f}±{100 * r['ci95']:.2f}")
        print(f"{label:40s} " + "  ".join(cells), flush=True)

    score(None, "raw (native)")
    score(stdz, "raw (standardised with base stats)")
    score(lambda X: X / np.linalg.norm(X, axis=1, keepdims=True), "raw (L2-normalised)")
    score(lambda X: (z := stdz(X)) / np.linalg.norm(z, axis=1, keepdims=True),
          "raw (standardised, L2-normalised)")
    for variant in args.variants.split(","):
        for kind in args.kinds.split(","):
            for seed in range(args.seeds):
                flags = set(variant.split("+"))
                pre = (lambda X: X) if "nostd" in flags else stdz
                try:
                    tf, info = fit_head(kind, flags, pre(Xb), yb, seed, args.episodes,
                                        args.check_every)  # fmt: skip
                except ValueError as e:  # a GLAI budget that cannot hold the width
                    print(f"{kind} {variant}: {e}")
                    continue
                curve = info.pop("curve")
                score(lambda X, tf=tf, pre=pre: tf(pre(X)), f"{kind} {variant} s{seed}")
                print(f"    fit {info['fit_seconds']:.1f}s checks {len(curve)} best val "
                      f"{max(curve):.3f} first {curve[0]:.3f} {info}", flush=True)


if __name__ == "__main__":
    main()
