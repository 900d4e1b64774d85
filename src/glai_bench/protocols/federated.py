"""Federated training on label-skewed clients (issue 18), and exact merge and forget.

The training rows are split over ``clients`` by a per-class Dirichlet(``beta``) draw (Hsu et
al., 2019: small ``beta``, each client holds few classes). Heads, per seed and split:

* ``glai-merged``: the server learns a GLAI structure on its small public set (the validation
  split; ``glai_chains`` gates per output), broadcasts it, each client sends the statistics of
  its rows once (``statistics_of``), the server sums them and solves (:func:`glai.merge`;
  penalty by exact 5-fold CV on the summed statistics). One round.
* ``glai-untrained-merged``: the same with the untrained structural network's gates;
* ``ridge-raw-merged``, ``ridge-random-merged``: ridge on ``[x, 1]`` / on random ReLU features
  with GLAI's number of unknowns, statistics summed the same way (one round);
* ``fedavg-mlp-rR``: FedAvg of the MLP head (every client, ``local_epochs`` of Adam from the
  global weights per round, weighted average), scored after ``R`` rounds;
* ``mlp-central``: the MLP head on all rows at once (the reference).

Bytes sent: uploads plus downloads, float64 statistics (every summed tensor) and float32
weights; the GLAI structure's broadcast counts its buffers. ``bytes_packed``: the least the same
solve needs (per-fold statistics only, each symmetric Gram as its upper triangle;
:func:`~glai_bench.linear_heads.statistics_bytes`). The ``glai-merged`` run of each seed's
first split also records exactness and cost: the largest difference in predicted probabilities
against one fit on the union of the clients' rows on the same structure, and after forgetting
client 0's rows against the fit without them; the seconds of the merge, the forget, that refit
and the MLP head's fit.
"""

from __future__ import annotations

import copy
import itertools
import time
from typing import Any

import numpy as np
import torch

import glai
from glai import MLP, GLAIClassifier, MLPHeadClassifier
from glai_bench.data import Splits
from glai_bench.linear_heads import RidgeHead, identity, random_relu, statistics_bytes, train_mlp
from glai_bench.protocols.base import Head, Outcome, Protocol, Run
from glai_bench.protocols.incremental import UNTRAINED
from glai_bench.runner import fit_on
from glai_bench.settings import FederatedSetting
from glai_bench.stats import paired_test, summarize

__all__ = ["Federated", "dirichlet_split", "federated_seed"]


def dirichlet_split(y: np.ndarray, clients: int, beta: float, seed: int) -> list[np.ndarray]:
    """Row indices per client: each class's rows split by proportions ~ Dirichlet(beta)."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(clients)]
    for k in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == k))
        cuts = (np.cumsum(rng.dirichlet(np.full(clients, beta))) * len(rows)).astype(int)[:-1]
        for c, chunk in enumerate(np.split(rows, cuts)):
            parts[c] += chunk.tolist()
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]


def _structure_bytes(est: GLAIClassifier) -> int:
    return sum(int(b.numel() * b.element_size()) for b in est._frozen_paths().buffers())


def _glai(setting: FederatedSetting, data: Splits, parts: list[np.ndarray], seed: int,
          untrained: bool, exact: bool) -> Run:  # fmt: skip
    n0, k = data.X_train.shape[1], len(np.unique(data.y_train))
    kw: dict[str, Any] = (
        {"structure_rule": UNTRAINED, "structure_check_every": None} if untrained else {}
    )
    base = GLAIClassifier(
        setting.hidden, budget=setting.glai_chains * k * (n0 + 1), quant_optimizer="ridge",
        quant_penalty="kfold", validation_fraction=0.0, random_state=seed, **kw,
        **setting.head_kwargs(),
    ).fit(data.X_val, data.y_val)  # fmt: skip
    missing = np.setdiff1d(np.unique(data.y_train), base.classes_)
    if len(missing):
        base.add_classes(data.X_val[:1], data.y_val[:1], classes=missing)
    holder = glai.share_structure(base)
    t0 = time.perf_counter()
    up = packed = 0
    for rows in parts:
        if len(rows):
            site = holder.statistics_of(data.X_train[rows], data.y_train[rows])
            up += statistics_bytes(site)
            packed += statistics_bytes(site, packed=True)
            holder._kept_statistics("merge").merge(site)
    client_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    merged = glai.merge(holder)
    merge_seconds = time.perf_counter() - t0
    used = [p for p in parts if len(p)]
    run: Run = {
        "accuracy": float((merged.predict(data.X_test) == data.y_test).mean()),
        "rounds": 1, "bytes": up + _structure_bytes(base) * len(used),
        "bytes_packed": packed + _structure_bytes(base) * len(used),
        "alpha": merged.alpha_, "unknowns": max(merged._kept_statistics("dims").dims),
        "client_seconds": client_seconds, "merge_seconds": merge_seconds,
    }  # fmt: skip
    if exact:
        union = np.concatenate(used)
        t0 = time.perf_counter()
        central = glai.share_structure(base).partial_fit(data.X_train[union], data.y_train[union])
        refit_seconds = time.perf_counter() - t0
        p_test = merged.predict_proba(data.X_test)
        run["merge_max_abs_diff"] = float(np.abs(p_test - central.predict_proba(data.X_test)).max())
        gone, rest = used[0], np.concatenate(used[1:])
        t0 = time.perf_counter()
        forgot = copy.deepcopy(merged).forget(data.X_train[gone], data.y_train[gone])
        run["forget_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        without = glai.share_structure(base).partial_fit(data.X_train[rest], data.y_train[rest])
        run["refit_without_seconds"] = time.perf_counter() - t0
        run["forget_max_abs_diff"] = float(
            np.abs(forgot.predict_proba(data.X_test) - without.predict_proba(data.X_test)).max()
        )
        run["refit_seconds"] = refit_seconds
    return run


def _ridge(data: Splits, parts: list[np.ndarray], features: Any, dim: int) -> Run:
    k = len(np.unique(data.y_train))
    total: RidgeHead | None = None
    up = packed = 0
    for rows in parts:
        if len(rows):
            site = RidgeHead(features).add(data.X_train[rows], data.y_train[rows], k)
            up += site.nbytes
            packed += site.packed_nbytes
            total = site if total is None else total.merge(site)
    assert total is not None
    total.solve()
    acc = float((total.scores(data.X_test).argmax(1).numpy() == data.y_test).mean())
    return {"accuracy": acc, "rounds": 1, "bytes": up, "bytes_packed": packed,
            "alpha": total.alpha, "unknowns": dim}


def _fedavg(
    setting: FederatedSetting, data: Splits, parts: list[np.ndarray], seed: int
) -> list[Run]:
    n0, k = data.X_train.shape[1], len(np.unique(data.y_train))
    torch.manual_seed(seed)
    model = MLP(n0, setting.hidden, k)
    n_params = sum(p.numel() for p in model.parameters())
    used = [p for p in parts if len(p)]
    weights = np.array([len(p) for p in used], dtype=np.float64)
    weights /= weights.sum()
    runs = []
    t0 = time.perf_counter()
    for r in range(1, max(setting.rounds) + 1):
        state = copy.deepcopy(model.state_dict())
        new = {name: torch.zeros_like(v) for name, v in state.items()}
        for i, (rows, w) in enumerate(zip(used, weights)):
            local = copy.deepcopy(model)
            train_mlp(
                local, data.X_train[rows], data.y_train[rows], k, epochs=setting.local_epochs,
                batch_size=32, seed=seed * 100003 + r * 1009 + i,
            )  # fmt: skip
            for name, v in local.state_dict().items():
                new[name] += w * v
        model.load_state_dict(new)
        if r in setting.rounds:
            with torch.no_grad():
                pred = model(torch.as_tensor(data.X_test)).argmax(1).numpy()
            runs.append({
                "model": f"fedavg-mlp-r{r}", "accuracy": float((pred == data.y_test).mean()),
                "rounds": r, "bytes": 2 * 4 * n_params * len(used) * r,
                "bytes_packed": 2 * 4 * n_params * len(used) * r,
                "seconds": time.perf_counter() - t0,
            })  # fmt: skip
    return runs


def federated_seed(setting: FederatedSetting, data: Splits, seed: int) -> list[Run]:
    """Every head, for every (clients, beta) split of one seed."""
    runs: list[Run] = []
    n0 = data.X_train.shape[1]
    t0 = time.perf_counter()
    mlp = fit_on(
        MLPHeadClassifier(setting.hidden, random_state=seed, **setting.head_kwargs()), data
    )
    central = {"model": "mlp-central", "accuracy": float(mlp.score(data.X_test, data.y_test)),
               "rounds": 0, "bytes": 0, "seconds": time.perf_counter() - t0}  # fmt: skip
    for i, (clients, beta) in enumerate(itertools.product(setting.clients, setting.dirichlet)):
        # (choice) exactness and its costs on the first split only (3 more solves each)
        parts = dirichlet_split(data.y_train, clients, beta, seed)
        split: list[Run] = []
        t0 = time.perf_counter()
        g = _glai(setting, data, parts, seed, untrained=False, exact=i == 0)
        g.update(model="glai-merged", seconds=time.perf_counter() - t0)
        split.append(g)
        t0 = time.perf_counter()
        u = _glai(setting, data, parts, seed, untrained=True, exact=False)
        u.update(model="glai-untrained-merged", seconds=time.perf_counter() - t0)
        split.append(u)
        dim = int(g["unknowns"])
        ridges = (
            ("ridge-raw-merged", identity, n0 + 1),
            ("ridge-random-merged", random_relu(n0, dim - 1, seed), dim),
        )
        for name, feats, d in ridges:
            t0 = time.perf_counter()
            r = _ridge(data, parts, feats, d)
            r.update(model=name, seconds=time.perf_counter() - t0)
            split.append(r)
        split += _fedavg(setting, data, parts, seed)
        split.append(dict(central))
        for run in split:
            run.update(seed=seed, clients=clients, beta=beta,
                       nonempty_clients=sum(1 for p in parts if len(p)))  # fmt: skip
        runs += split
    return runs


def _mb(s: dict[str, Any] | None) -> str:
    return "-" if s is None or s["mean"] is None else f"{s['mean'] / 1e6:.1f}"


def _fitted_together(context: Any) -> Run:
    raise NotImplementedError("the federated heads are fitted together by federated_seed")


class Federated(Protocol[FederatedSetting]):
    """The protocol of :class:`~glai_bench.settings.FederatedSetting` (module docstring)."""

    name = "federated"

    def heads(self, setting: FederatedSetting) -> list[Head[Any]]:
        """The heads' names; they are fitted together, per split, by :func:`federated_seed`
        (they share the split and the GLAI structure)."""
        names = ["glai-merged", "glai-untrained-merged", "ridge-raw-merged",
                 "ridge-random-merged", *(f"fedavg-mlp-r{r}" for r in setting.rounds),
                 "mlp-central"]  # fmt: skip
        return [Head(n, _fitted_together) for n in names]

    def run_seed(self, setting: FederatedSetting, data: Splits, seed: int) -> list[Run]:
        return federated_seed(setting, data, seed)

    def summarize(self, setting: FederatedSetting, outcome: Outcome) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for clients in setting.clients:
            for beta in setting.dirichlet:
                runs = [r for r in outcome.runs if r["clients"] == clients and r["beta"] == beta]
                models = list(dict.fromkeys(r["model"] for r in runs))
                by = {m: {r["seed"]: r for r in runs if r["model"] == m} for m in models}
                key = f"{clients} clients, beta {beta:g}"
                out[key] = {"models": {}, "comparisons": {}}
                for m in models:
                    rs = list(by[m].values())
                    out[key]["models"][m] = {
                        f: summarize([r.get(f) for r in rs])
                        for f in ("accuracy", "rounds", "bytes", "bytes_packed", "seconds",
                                  "merge_max_abs_diff", "forget_max_abs_diff", "merge_seconds",
                                  "forget_seconds", "refit_seconds", "refit_without_seconds")
                    }  # fmt: skip
                    seeds = sorted(set(by[m]) & set(by["glai-merged"]))
                    if m != "glai-merged":
                        out[key]["comparisons"][m] = paired_test(
                            [by["glai-merged"][s]["accuracy"] for s in seeds],
                            [by[m][s]["accuracy"] for s in seeds],
                        )
        return {"aggregates": out}

    def markdown(self, report: dict[str, Any]) -> str:
        from glai_bench.report import machine_line

        cfg = report["config"]
        lines = [
            f"### {report['setting']}", "",
            f"{cfg['setting']['description']}; {len(cfg['seeds'])} seeds; mean ± std over "
            "seeds; Δ = glai-merged minus the head (paired t-test p).", "",
        ]  # fmt: skip
        for key, agg in report["aggregates"].items():
            lines += [f"**{key}**", "", "| head | test acc % | Δ (p) | rounds | MB sent | "
                      "MB packed | s |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
            for m, s in agg["models"].items():
                c = agg["comparisons"].get(m)
                delta = "-"
                if c is not None and c["mean_diff"] is not None:
                    p = "n/a" if c["t_pvalue"] is None else f"{c['t_pvalue']:.2g}"
                    delta = f"{100 * c['mean_diff']:+.2f} ({p})"
                acc = s["accuracy"]
                lines.append(
                    f"| {m} | {100 * acc['mean']:.2f} ± {100 * acc['std']:.2f} | {delta} | "
                    f"{s['rounds']['mean']:.0f} | {s['bytes']['mean'] / 1e6:.1f} | "
                    f"{_mb(s.get('bytes_packed'))} | "
                    f"{s['seconds']['mean']:.2f} |"
                )
            g = agg["models"].get("glai-merged", {})
            if g.get("merge_max_abs_diff", {}).get("mean") is not None:
                lines += ["", (
                    "Exactness (max |Δ probability| on the test split, worst seed): merge vs one "
                    f"fit on the union {g['merge_max_abs_diff']['max']:.2e}; forget client 0 vs "
                    f"the fit without it {g['forget_max_abs_diff']['max']:.2e}. Seconds (mean): "
                    f"merge {g['merge_seconds']['mean']:.2f}, forget "
                    f"{g['forget_seconds']['mean']:.2f}, refit on the union "
                    f"{g['refit_seconds']['mean']:.2f}, refit without client 0 "
                    f"{g['refit_without_seconds']['mean']:.2f}, MLP head on all rows "
                    f"{agg['models']['mlp-central']['seconds']['mean']:.2f}."
                )]  # fmt: skip
            lines.append("")
        lines += [f"Command: `{cfg.get('command', '')}`; {machine_line(report['machine'])}", ""]
        return "\n".join(lines)
