"""Same seeds, same numbers: fit every kind of head on small fixed data and save what it gives.

A refactoring that preserves behaviour leaves every array and every recorded number of this
script bit-for-bit unchanged. Run it at the commit before the change and after, then compare:

    python scripts/same_numbers.py save OUT_BEFORE     # at the old commit
    python scripts/same_numbers.py save OUT_AFTER      # at the new one
    python scripts/same_numbers.py compare OUT_BEFORE OUT_AFTER

What runs (one torch thread, every case seeded): the four estimators on iris, digits and
diabetes (every quantitative solver, ``"auto"`` included, warm start, ``partial_fit`` and
``add_classes``), ``fit_head`` (MLP; GLAI with Adam and with ridge), the few-shot heads
(GLAI and MLP) with their ``evaluate`` scores, and the SimCLR projection heads (GLAI and MLP)
on a small synthetic set of views. Saved per case: predictions (or embeddings) and the
history (losses and scores per epoch; the clock is left out), and the fitted choices
(``alpha_``, ``quant_optimizer_``). Cases whose defaults a change is meant to alter are named
``default-*``: they are compared too, and a difference there is reported, not hidden.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import glai
from glai import GLAIClassifier, GLAIRegressor, MLPHeadClassifier, MLPHeadRegressor
from glai.fewshot import FewShotHead, evaluate
from glai.training import TrainConfig

Case = Callable[[], dict[str, Any]]


def _history(history: Any) -> list[list[Any]]:
    return [
        [r.epoch, r.phase, r.train_loss, r.val_loss, r.val_score, r.path_distance]
        for r in history.records
    ]


def _data() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name, load in (("iris", load_iris), ("digits", load_digits), ("diabetes", load_diabetes)):
        X, y = load(return_X_y=True)
        out[name] = (StandardScaler().fit_transform(X).astype(np.float32), y)
    return out


def _estimator(est: Any, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    est.fit(X, y)
    result: dict[str, Any] = {"history": _history(est.history_), "predict": est.predict(X)}
    if hasattr(est, "predict_proba"):
        result["proba"] = est.predict_proba(X)
    for attr in ("alpha_", "quant_optimizer_", "structure_frozen_epoch_", "best_val_score_",
                 "n_iter_", "n_trainable_params_"):  # fmt: skip
        if hasattr(est, attr):
            value = getattr(est, attr)
            result[attr] = value if value is None or isinstance(value, str) else float(value)
    return result


def cases() -> dict[str, Case]:
    data = _data()
    Xi, yi = data["iris"]
    Xd, yd = data["digits"]
    Xr, yr = data["diabetes"]
    short = {"max_epochs": 30, "random_state": 0}
    table: dict[str, Case] = {
        "mlp-classifier-iris": lambda: _estimator(MLPHeadClassifier(**short), Xi, yi),
        "mlp-classifier-digits": lambda: _estimator(
            MLPHeadClassifier((64,), validation_fraction=0.2, **short), Xd, yd
        ),
        "mlp-regressor-diabetes": lambda: _estimator(MLPHeadRegressor(**short), Xr, yr),
        "glai-classifier-iris": lambda: _estimator(GLAIClassifier(**short), Xi, yi),
        "glai-regressor-diabetes": lambda: _estimator(GLAIRegressor(**short), Xr, yr),
        "glai-regressor-diabetes-ridge": lambda: _estimator(
            GLAIRegressor(quant_optimizer="ridge", validation_fraction=0.2, **short), Xr, yr
        ),
    }
    for solver in ("auto", "adam", "lbfgs", "ridge", "ridge-ce"):
        table[f"glai-classifier-digits-{solver}"] = lambda s=solver: _estimator(
            GLAIClassifier((64,), quant_optimizer=s, validation_fraction=0.2, **short), Xd, yd
        )

    def retraining() -> dict[str, Any]:
        old = yd < 8
        out: dict[str, Any] = {}
        for solver in ("ridge", "adam"):
            est = GLAIClassifier((64,), quant_optimizer=solver, validation_fraction=0.2, **short)
            est.fit(Xd[old][:800], yd[old][:800])
            est.partial_fit(Xd[old][800:], yd[old][800:])
            out[f"{solver}-partial"] = est.predict_proba(Xd)
            est.add_classes(Xd, yd)
            out[f"{solver}-added"] = est.predict_proba(Xd)
            out[f"{solver}-history"] = _history(est.history_)
            est.set_params(warm_start=True, max_epochs=5).fit(Xd, yd)
            out[f"{solver}-warm"] = est.predict_proba(Xd)
        reg = GLAIRegressor(quant_optimizer="ridge", validation_fraction=0.2, **short)
        reg.fit(Xr[:300], yr[:300])
        reg.partial_fit(Xr[300:], yr[300:])
        out["regressor-partial"] = reg.predict(Xr)
        return out

    table["glai-retraining-digits"] = retraining

    def run_head(default: bool = False, **kwargs: Any) -> Case:
        def case() -> dict[str, Any]:
            from glai.training.run import RunConfig, fit_head  # the old path: an alias

            X, y = torch.from_numpy(Xd), torch.from_numpy(yd).long()
            cfg = RunConfig(**kwargs) if default else RunConfig(max_epochs=20, **kwargs)
            model, history = fit_head(cfg, X[:1400], y[:1400], X[1400:], y[1400:])
            with torch.no_grad():
                model.eval()
                out = model(X).numpy()
            events = sorted(history.events)
            return {"history": _history(history), "output": out, "events_keys": events}

        return case

    table["fit-head-mlp"] = run_head(model="mlp", hidden=(64,))
    table["fit-head-glai-adam"] = run_head(model="glai", hidden=(64,), quant_optimizer="adam")
    table["fit-head-glai-ridge"] = run_head(model="glai", hidden=(64,), quant_optimizer="ridge")
    table["default-fit-head-glai"] = run_head(default=True, model="glai", hidden=(64,))

    def fewshot(kind: str) -> Case:
        def case() -> dict[str, Any]:
            base, novel = yd < 6, yd >= 6
            head = FewShotHead(
                (64,), 32, kind=kind, n_way=5, k_shot=3, n_query=5, episodes=300,
                check_every=30, random_state=0,
            )  # fmt: skip
            head.fit(Xd[base], yd[base])
            scores = evaluate(Xd[novel], yd[novel], transform=head, n_way=3, k_shot=1,
                              n_tasks=100, random_state=0)  # fmt: skip
            return {
                "history": _history(head.history_), "embedding": head.transform(Xd),
                "task_accuracies": scores["task_accuracies"], "loss": scores["loss"],
            }  # fmt: skip

        return case

    table["fewshot-glai"] = fewshot("glai")
    table["fewshot-mlp"] = fewshot("mlp")

    def ssl(kind: str, **kwargs: Any) -> Case:
        def case() -> dict[str, Any]:
            g = torch.Generator().manual_seed(0)
            centres = torch.randn(40, 16, generator=g)
            views = centres[:, None] + 0.3 * torch.randn(40, 4, 16, generator=g)
            val = centres[:20, None] + 0.3 * torch.randn(20, 4, 16, generator=g)
            torch.manual_seed(0)
            head = glai.ProjectionHead(16, 32, 8, kind=kind)
            config = TrainConfig(max_epochs=15, batch_size=16)
            history = glai.fit_projection_head(
                head, views, val, config=config, random_state=0, **kwargs
            )
            head.eval()
            with torch.no_grad():
                out = head(views.flatten(0, 1)).numpy()
            return {"history": _history(history), "embedding": out}

        return case

    table["ssl-glai"] = ssl("glai", probe_size=1024)
    table["ssl-mlp"] = ssl("mlp")
    table["default-ssl-glai"] = ssl("glai")
    return table


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}/{k}", v, out)
    else:
        out[prefix] = value


def save(folder: Path) -> None:
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    rest: dict[str, Any] = {}
    for name, case in cases().items():
        torch.manual_seed(0)
        np.random.seed(0)
        flat: dict[str, Any] = {}
        _flatten(name, case(), flat)
        for key, value in flat.items():
            if isinstance(value, np.ndarray):
                arrays[key] = value
            else:
                rest[key] = value
        print(name, "done", flush=True)
    np.savez(folder / "arrays.npz", **arrays)
    (folder / "values.json").write_text(json.dumps(rest, indent=1, default=str))


def compare(before: Path, after: Path) -> int:
    a, b = np.load(before / "arrays.npz"), np.load(after / "arrays.npz")
    va = json.loads((before / "values.json").read_text())
    vb = json.loads((after / "values.json").read_text())
    differ: list[str] = []
    for key in sorted(set(a.files) | set(b.files)):
        if key not in a.files or key not in b.files:
            differ.append(f"{key}: only in {'after' if key in b.files else 'before'}")
        elif a[key].shape != b[key].shape or not np.array_equal(a[key], b[key]):
            same_shape = a[key].shape == b[key].shape
            gap = np.abs(a[key].astype(float) - b[key].astype(float)).max() if same_shape else None
            differ.append(f"{key}: arrays differ (max |diff| {gap})")
    for key in sorted(set(va) | set(vb)):
        if va.get(key, "<missing>") != vb.get(key, "<missing>"):
            old, new = va.get(key, "<missing>"), vb.get(key, "<missing>")
            differ.append(f"{key}: {old!r:.80} -> {new!r:.80}")
    n = len(a.files) + len(va)
    print(f"{n} saved values compared; {len(differ)} differ")
    for line in differ:
        print("  " + line)
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save")
    s.add_argument("folder", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "save":
        save(args.folder)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
