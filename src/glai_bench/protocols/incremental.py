"""Class-incremental learning without stored samples (issue 18).

The classes arrive in steps (``base_classes``, then ``steps``), in an order drawn per seed; a
step brings the training rows of its classes only. After each step every head is scored on the
test rows of all classes seen so far. Heads:

* ``glai-closed-form``: a GLAI head whose structure is learned on the base step alone
  (``glai_chains`` gates per output), then each step's rows join its float64 statistics and
  every output is re-solved (``partial_fit``, penalty by exact 5-fold CV on the statistics):
  no old row is stored, and the result equals the joint closed-form fit on that structure;
* ``glai-untrained-gates``: the same, gates of the untrained structural network;
* ``ridge-raw``: ridge on ``[x, 1]``; ``ridge-random``: ridge on random ReLU features with as
  many unknowns per output as GLAI's (RanPAC); both per-fold statistics, same penalty rule;
* ``ncm``: nearest class mean;
* ``mlp-finetune``: an MLP head trained on each step's rows in turn (``mlp_epochs`` each, old
  classes' logits kept in the softmax), no replay; ``mlp-replay``: the same with
  ``replay_per_class`` stored rows of every earlier class added to each step;
* ``mlp-joint``, ``glai-joint``: the estimators with their defaults on all training rows at
  once (upper bounds; scored after the last step only).

Per run: accuracy after each step, last and average accuracy, forgetting (mean over the
classes seen before the last step of their best earlier per-class accuracy minus the last),
seconds per step (the update, not the scoring) and the bytes the head keeps between steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glai import MLP, GLAIClassifier, MLPHeadClassifier, StopRule
from glai_bench.data import Splits
from glai_bench.linear_heads import (
    NearestMean,
    RidgeHead,
    identity,
    random_relu,
    statistics_bytes,
    train_mlp,
)
from glai_bench.protocols.base import Head, Outcome, Protocol, Run
from glai_bench.runner import fit_on
from glai_bench.settings import IncrementalSetting
from glai_bench.stats import paired_test, summarize

__all__ = ["Incremental", "incremental_seed"]

UNTRAINED = StopRule("epochs", epochs=0, min_epochs=0, max_epochs=0)


@dataclass
class _Seed:
    setting: IncrementalSetting
    data: Splits  # labels renumbered 0 .. K-1 in the order the classes arrive
    seed: int
    bounds: list[int]  # classes seen after each step
    dim: int = 0  # GLAI's unknowns per output (for the random features)
    runs: dict[str, Run] = field(default_factory=dict)

    def rows(self, step: int) -> np.ndarray:
        lo = 0 if step == 0 else self.bounds[step - 1]
        y = self.data.y_train
        return np.flatnonzero((y >= lo) & (y < self.bounds[step]))

    def score(
        self, predict: Callable[[np.ndarray], np.ndarray], seen: int
    ) -> tuple[float, np.ndarray]:
        """Accuracy on the test rows of classes ``< seen``, and per class."""
        keep = self.data.y_test < seen
        y = self.data.y_test[keep]
        hit = predict(self.data.X_test[keep]) == y
        per = np.array([hit[y == c].mean() if (y == c).any() else np.nan for c in range(seen)])
        return float(hit.mean()), per


def _record(c: _Seed, name: str, accs: list[float], per: list[np.ndarray], seconds: list[float],
            nbytes: int, **extra: Any) -> Run:  # fmt: skip
    forgetting = None
    if len(per) > 1:
        old = c.bounds[-2]
        best = np.nanmax(
            np.stack([p[:old] for p in per[:-1] if len(p) >= old] or [per[-1][:old]]), 0
        )
        forgetting = float(np.nanmean(best - per[-1][:old]))
    return {
        "model": name, "seed": c.seed, "step_accuracy": accs, "last_accuracy": accs[-1],
        "average_accuracy": float(np.mean(accs)), "forgetting": forgetting,
        "step_seconds": seconds, "seconds_per_step": float(np.mean(seconds)), "bytes": nbytes,
        **extra,
    }  # fmt: skip


def _at(predict: Callable[[np.ndarray, int], np.ndarray], seen: int, x: np.ndarray) -> np.ndarray:
    return predict(x, seen)


def _steps(c: _Seed, name: str, update: Callable[[int, np.ndarray], object],
           predict: Callable[[np.ndarray, int], np.ndarray], nbytes: Callable[[], int],
           **extra: Any) -> Run:  # fmt: skip
    accs, per, seconds = [], [], []
    for step, seen in enumerate(c.bounds):
        t0 = time.perf_counter()
        update(step, c.rows(step))
        seconds.append(time.perf_counter() - t0)
        acc, pc = c.score(partial(_at, predict, seen), seen)
        accs.append(acc)
        per.append(pc)
    return _record(c, name, accs, per, seconds, nbytes(), **extra)


def _glai(c: _Seed, name: str, untrained: bool) -> Run:
    s, d = c.setting, c.data
    budget = s.glai_chains * c.bounds[0] * (d.X_train.shape[1] + 1)
    kw: dict[str, Any] = (
        {"structure_rule": UNTRAINED, "structure_check_every": None} if untrained else {}
    )
    est = GLAIClassifier(
        s.hidden, budget=budget, quant_optimizer="ridge", quant_penalty="kfold",
        validation_fraction=0.0, random_state=c.seed, **kw, **s.head_kwargs(),
    )  # fmt: skip
    box: list[GLAIClassifier] = [est]

    def update(step: int, rows: np.ndarray) -> None:
        X, y = d.X_train[rows], d.y_train[rows]
        box[0] = box[0].fit(X, y) if step == 0 else box[0].partial_fit(X, y)

    run = _steps(c, name, update, lambda x, seen: box[0].predict(x),
                 lambda: statistics_bytes(box[0]._kept_statistics("bytes")))  # fmt: skip
    c.dim = max(box[0]._kept_statistics("dims").dims)
    run.update(unknowns=c.dim, alpha=box[0].alpha_,
               bytes_packed=statistics_bytes(box[0]._kept_statistics("bytes"), packed=True))
    return run


def _ridge(c: _Seed, name: str, random: bool) -> Run:
    d = c.data
    n0 = d.X_train.shape[1]
    features = random_relu(n0, c.dim - 1, c.seed) if random else identity
    head = RidgeHead(features)

    def update(step: int, rows: np.ndarray) -> None:
        head.add(d.X_train[rows], d.y_train[rows], c.bounds[step]).solve()

    def predict(x: np.ndarray, seen: int) -> np.ndarray:
        return head.scores(x)[:, :seen].argmax(1).numpy()

    run = _steps(c, name, update, predict, lambda: head.nbytes,
                 unknowns=(c.dim if random else n0 + 1))  # fmt: skip
    run["bytes_packed"] = head.packed_nbytes
    return run


def _ncm(c: _Seed) -> Run:
    d = c.data
    head = NearestMean(d.X_train.shape[1])
    return _steps(
        c, "ncm", lambda step, rows: head.add(d.X_train[rows], d.y_train[rows], c.bounds[step]),
        lambda x, seen: head.scores(x)[:, :seen].argmax(1).numpy(), lambda: head.nbytes,
    )  # fmt: skip


def _mlp(c: _Seed, name: str, replay: int) -> Run:
    s, d = c.setting, c.data
    torch.manual_seed(c.seed)
    model = MLP(d.X_train.shape[1], s.hidden, c.bounds[-1])
    buffer = np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(c.seed)

    def update(step: int, rows: np.ndarray) -> None:
        nonlocal buffer
        train = np.concatenate([rows, buffer])
        train_mlp(model, d.X_train[train], d.y_train[train], c.bounds[step],
                  epochs=s.mlp_epochs, seed=c.seed + step)  # fmt: skip
        if replay:
            y = d.y_train[rows]
            keep = [rng.permutation(rows[y == k])[:replay] for k in np.unique(y)]
            buffer = np.concatenate([buffer, *keep])

    def predict(x: np.ndarray, seen: int) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(x))[:, :seen].argmax(1).numpy()

    n_params = sum(p.numel() for p in model.parameters())
    return _steps(c, name, update, predict,
                  lambda: 4 * (n_params + len(buffer) * d.X_train.shape[1]))  # fmt: skip


def _joint(c: _Seed, name: str) -> Run:
    s = c.setting
    cls = MLPHeadClassifier if name == "mlp-joint" else GLAIClassifier
    t0 = time.perf_counter()
    est = fit_on(cls(s.hidden, random_state=c.seed, **s.head_kwargs()), c.data)
    seconds = time.perf_counter() - t0
    acc, per = c.score(est.predict, c.bounds[-1])
    return _record(c, name, [acc], [per], [seconds], 4 * int(est.n_trainable_params_))


HEADS: dict[str, Callable[[_Seed], Run]] = {
    "glai-closed-form": lambda c: _glai(c, "glai-closed-form", False),
    "glai-untrained-gates": lambda c: _glai(c, "glai-untrained-gates", True),
    "ridge-raw": lambda c: _ridge(c, "ridge-raw", False),
    "ridge-random": lambda c: _ridge(c, "ridge-random", True),
    "ncm": _ncm,
    "mlp-finetune": lambda c: _mlp(c, "mlp-finetune", 0),
    "mlp-replay": lambda c: _mlp(c, "mlp-replay", c.setting.replay_per_class),
    "mlp-joint": lambda c: _joint(c, "mlp-joint"),
    "glai-joint": lambda c: _joint(c, "glai-joint"),
}


def incremental_seed(setting: IncrementalSetting, data: Splits, seed: int,
                     heads: list[str] | None = None) -> list[Run]:  # fmt: skip
    """The runs of one seed: classes in an order drawn by ``seed``, every head of ``heads``."""
    classes = np.unique(data.y_train)
    order = np.random.default_rng(seed).permutation(classes)
    rank = np.empty(int(classes.max()) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    renum = Splits(data.X_train, rank[data.y_train], data.X_val, rank[data.y_val],
                   data.X_test, rank[data.y_test], dict(data.info))  # fmt: skip
    bounds = list(np.cumsum([setting.base_classes, *setting.steps]))
    if bounds[-1] != len(classes):
        raise ValueError(
            f"setting {setting.name!r}: base_classes + steps = {bounds[-1]} classes, the data "
            f"have {len(classes)}"
        )
    c = _Seed(setting, renum, seed, [int(b) for b in bounds])
    runs = []
    for name in heads or list(HEADS):
        run = HEADS[name](c)
        run["class_order"] = order.tolist()
        runs.append(run)
    return runs


class Incremental(Protocol[IncrementalSetting]):
    """The protocol of :class:`~glai_bench.settings.IncrementalSetting` (module docstring)."""

    name = "incremental"

    def heads(self, setting: IncrementalSetting) -> list[Head[Any]]:
        return [Head(n, f, ("glai-closed-form",) if n == "ridge-random" else ())
                for n, f in HEADS.items()]  # fmt: skip

    def run_seed(self, setting: IncrementalSetting, data: Splits, seed: int) -> list[Run]:
        return incremental_seed(setting, data, seed)

    def summarize(self, setting: IncrementalSetting, outcome: Outcome) -> dict[str, Any]:
        return {"aggregates": aggregate_steps(outcome.runs, "glai-closed-form")}

    def figures(
        self, setting: IncrementalSetting, report: dict[str, Any], folder: Path
    ) -> dict[str, Path]:
        from glai_bench import plots

        bounds = list(np.cumsum([setting.base_classes, *setting.steps]))
        path = folder / f"{setting.stem}-steps.png"
        return {"steps": plots.plot_incremental_steps(report["runs"], bounds, path,
                                                      title=setting.stem)}  # fmt: skip

    def markdown(self, report: dict[str, Any]) -> str:
        return steps_markdown(report, "glai-closed-form")


def aggregate_steps(runs: list[Run], reference: str) -> dict[str, Any]:
    """Per head: mean and spread of each measure over seeds; paired tests (by seed) of the
    ``reference`` head's last and average accuracy against every other head's."""
    models = list(dict.fromkeys(r["model"] for r in runs))
    keys = ("last_accuracy", "average_accuracy", "forgetting", "seconds_per_step", "bytes",
            "bytes_packed")
    out: dict[str, Any] = {"models": {}, "comparisons": {}}
    by = {m: {r["seed"]: r for r in runs if r["model"] == m} for m in models}
    for m in models:
        out["models"][m] = {k: summarize([r.get(k) for r in by[m].values()]) for k in keys}
    for m in models:
        if m == reference or reference not in by:
            continue
        seeds = sorted(set(by[m]) & set(by[reference]))
        out["comparisons"][m] = {
            k: paired_test([by[reference][s][k] for s in seeds], [by[m][s][k] for s in seeds])
            for k in ("last_accuracy", "average_accuracy")
        }
    return out


def _pm(s: dict[str, Any], scale: float = 100.0, digits: int = 2) -> str:
    if s["mean"] is None:
        return "-"
    return f"{scale * s['mean']:.{digits}f} ± {scale * s['std']:.{digits}f}"


def steps_markdown(report: dict[str, Any], reference: str) -> str:
    from glai_bench.report import machine_line

    cfg, agg = report["config"], report["aggregates"]
    st = cfg["setting"]
    lines = [
        f"### {report['setting']}", "",
        f"{st['description']}. Base {st['base_classes']} classes, then steps of "
        f"{list(st['steps'])}; {len(cfg['seeds'])} seeds (class order drawn per seed); mean ± "
        f"std over seeds; Δ = {reference} minus the head (paired t-test p).", "",
        "| head | last acc % | avg acc % | forgetting pts | Δlast (p) | s / step | kept MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for name, s in agg["models"].items():
        comp = agg["comparisons"].get(name)
        delta = "-"
        if comp is not None and comp["last_accuracy"]["mean_diff"] is not None:
            t = comp["last_accuracy"]
            p = "n/a" if t["t_pvalue"] is None else f"{t['t_pvalue']:.2g}"
            delta = f"{100 * t['mean_diff']:+.2f} ({p})"
        lines.append(
            f"| {name} | {_pm(s['last_accuracy'])} | {_pm(s['average_accuracy'])} | "
            f"{_pm(s['forgetting'])} | {delta} | {_pm(s['seconds_per_step'], 1.0, 3)} | "
            f"{s['bytes']['mean'] / 1e6:.2f} |"
        )
    lines += ["", f"Command: `{cfg.get('command', '')}`; {machine_line(report['machine'])}", ""]
    return "\n".join(lines)
