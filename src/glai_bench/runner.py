"""Run every head of a setting on the same splits, seed by seed, in one process.

Per seed: the MLP head first (its maximum validation accuracy, MVA, is the target the others
race to), GLAI at the matched ``rho="auto"`` and the setting's other ``rho``, the ablations
(gates from the untrained structural network, a fixed long structural phase, the narrow
structural network alone), MLP heads of the setting's other ``widths`` and GLAI heads of its
other ``budgets`` (the accuracy-versus-time picture), a linear probe and scikit-learn's
``MLPClassifier``. Every
hyper-parameter the setting does not name is the library's default.

A run is a JSON-ready dict (see :func:`head_record`); times come from the estimators' own
histories, whose clock covers everything inside ``fit`` after the data are on the device.
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from glai import GLAI, MLP, GLAIClassifier, MLPHeadClassifier, StopRule
from glai.training import History
from glai_bench.data import Splits
from glai_bench.settings import Setting

__all__ = ["timing_context", "head_record", "run_seed", "run_setting"]

Run = dict[str, Any]


@contextmanager
def timing_context(threads: int = 1) -> Iterator[dict[str, Any]]:
    """Fix what timings depend on: flush-to-zero for denormals and the thread counts.

    Without flush-to-zero one MLP epoch once slowed 45x on denormal weights, which faked a
    GLAI speedup. torch, and the BLAS that scikit-learn and numpy use, get ``threads`` each.
    Yields the settings in force (recorded with the results).
    """
    previous = torch.get_num_threads()
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield {"threads": torch.get_num_threads(), "flush_denormal": True}
    finally:
        torch.set_num_threads(previous)
        torch.set_flush_denormal(False)


def _timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best wall-clock seconds of ``repeat`` calls (the first call is a warm-up too)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _phase_seconds(history: History) -> dict[str, float]:
    """Median seconds per epoch of each phase (the median ignores the freeze, which is billed to
    the first quantitative epoch)."""
    by_phase: dict[str, list[float]] = {}
    last = 0.0
    for r in history.records:
        by_phase.setdefault(r.phase, []).append(r.seconds - last)
        last = r.seconds
    return {phase: float(np.median(s)) for phase, s in by_phase.items()}


def _phase_mva(history: History) -> dict[str, float]:
    """Best validation score of each phase."""
    out: dict[str, float] = {}
    for r in history.records:
        out[r.phase] = max(out.get(r.phase, -float("inf")), r.val_score)
    return out


def head_record(
    name: str,
    est: MLPHeadClassifier | GLAIClassifier,
    data: Splits,
    mlp_mva: float | None,
) -> Run:
    """Everything measured of one fitted glai head (the MLP or a GLAI variant).

    Scores count the epochs of the model ``fit`` returns (its last phase: for GLAI the path
    model, not the narrow structural network); times run from the start of ``fit``, every
    phase included. ``phase_mva`` keeps each phase's best for reference.
    """
    h = est.history_
    phase = h.final_phase
    best = h.best(phase=phase)
    assert best is not None and phase is not None
    target = best.val_score if mlp_mva is None else mlp_mva
    run: Run = {
        "model": name,
        "family": "glai" if isinstance(est, GLAIClassifier) else "mlp",
        "params": int(est.n_trainable_params_),
        "mva": float(best.val_score),
        "val_accuracy": float(est.score(data.X_val, data.y_val)),
        "test_accuracy": float(est.score(data.X_test, data.y_test)),
        "epochs": len(h.records),
        "epochs_to_mva": best.epoch,
        "seconds_to_mva": best.seconds,
        "epochs_to_mlp_mva": h.epochs_to_reach(target, phase=phase),
        "seconds_to_mlp_mva": h.time_to_reach(target, phase=phase),
        "phase_mva": _phase_mva(h),
        "seconds_per_epoch": _phase_seconds(h),
        "fit_seconds": float(est.fit_seconds_),
        "inference_seconds": _timed(lambda: est.predict(data.X_test)),
        "events": dict(h.events),
        "history": h.to_dicts(),
    }
    if isinstance(est, GLAIClassifier):
        model = cast(GLAI, est.model_)
        run.update(
            rho=float(model.rho),
            structural_widths=list(model.structural_features),
            num_paths=int(model.num_paths),
            structure_frozen_epoch=int(est.structure_frozen_epoch_),
            m_t=[float(m) for m in est.path_distance_],
            m_t_steps=[int(k) for k in est.path_distance_steps_],
            structure_steps=int(est.structure_steps_),
            quant_optimizer=str(est.quant_optimizer_),
        )
    else:
        mlp = cast(MLP, est.model_)
        run["hidden"] = list(mlp.hidden_features)
    return run


def _sklearn_record(
    name: str,
    est: LogisticRegression | MLPClassifier,
    seconds: float,
    data: Splits,
    mlp_mva: float | None,
) -> Run:
    """A scikit-learn reference: no per-epoch clock, so its time to MVA is its fit time."""
    if isinstance(est, LogisticRegression):
        params = est.coef_.size + est.intercept_.size
        curves: dict[str, Any] = {}
    else:
        params = sum(w.size for w in est.coefs_) + sum(b.size for b in est.intercepts_)
        # validation_scores_ are on sklearn's own hold-out of the training split
        curves = {"loss_curve": list(est.loss_curve_),
                  "own_validation_scores": list(est.validation_scores_ or [])}  # fmt: skip
    mva = float(est.score(data.X_val, data.y_val))
    reached = mlp_mva is None or mva >= mlp_mva
    epochs = int(np.max(est.n_iter_))
    return {
        "model": name,
        "family": "sklearn",
        "params": int(params),
        "mva": mva,
        "val_accuracy": mva,
        "test_accuracy": float(est.score(data.X_test, data.y_test)),
        "epochs": epochs,
        "epochs_to_mva": epochs,
        "seconds_to_mva": seconds,
        "epochs_to_mlp_mva": epochs if reached else None,
        "seconds_to_mlp_mva": seconds if reached else None,
        "fit_seconds": seconds,
        "inference_seconds": _timed(lambda: est.predict(data.X_test)),
        **curves,
    }


def _fit_head(est: Any, data: Splits) -> Any:
    gc.collect()
    return est.fit(data.X_train, data.y_train, X_val=data.X_val, y_val=data.y_val)


def _fit_sklearn(est: Any, data: Splits) -> float:
    gc.collect()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(data.X_train, data.y_train)
    return time.perf_counter() - t0


def run_seed(
    setting: Setting,
    data: Splits,
    seed: int,
    *,
    device: str = "cpu",
    only: set[str] | None = None,
    on_run: Callable[[str], None] | None = None,
) -> list[Run]:
    """All runs of one seed, or those of ``setting.head_names(only)``."""
    shared = {**setting.head_kwargs(), "random_state": seed, "device": device}
    hidden = setting.hidden
    wanted = set(setting.head_names(only))
    runs: list[Run] = []

    def done(run: Run) -> None:
        run["seed"] = seed
        runs.append(run)
        if on_run is not None:
            on_run(run["model"])

    mlp = _fit_head(MLPHeadClassifier(hidden, **shared), data)
    done(head_record("mlp", mlp, data, None))
    mlp_mva = runs[0]["mva"]

    glai_heads: list[tuple[str, dict[str, Any]]] = [("glai-auto", {"rho": "auto"})]
    glai_heads += [(f"glai-rho{r:g}", {"rho": r}) for r in setting.rhos]
    # max_epochs=0 freezes the structure at initialisation: gates of the untrained network
    untrained = StopRule("epochs", epochs=0, min_epochs=0, max_epochs=0)
    n_long = setting.long_structure_epochs
    long = StopRule("epochs", epochs=n_long, min_epochs=n_long, max_epochs=n_long)
    # both count epochs: one check of m_t per epoch
    glai_heads += [
        ("glai-untrained-gates",
         {"rho": "auto", "structure_rule": untrained, "structure_check_every": None}),
        ("glai-long-structure",
         {"rho": "auto", "structure_rule": long, "structure_check_every": None}),
    ]  # fmt: skip
    narrow: tuple[int, ...] | None = None
    for name, kwargs in glai_heads:
        if name not in wanted:
            continue
        est = _fit_head(GLAIClassifier(hidden, **kwargs, **shared), data)
        if name == "glai-auto":
            narrow = tuple(est.model_.structural_features)
        done(head_record(name, est, data, mlp_mva))
    if "narrow-mlp" in wanted:
        assert narrow is not None
        # the structural network alone, trained to convergence like the MLP head
        est = _fit_head(MLPHeadClassifier(narrow, **shared), data)
        done(head_record("narrow-mlp", est, data, mlp_mva))
    # the accuracy-versus-time picture: MLP heads of other widths, GLAI heads of other budgets
    for width in setting.widths:
        if f"mlp-w{width}" in wanted:
            est = _fit_head(MLPHeadClassifier((width,) * len(hidden), **shared), data)
            done(head_record(f"mlp-w{width}", est, data, mlp_mva))
    for share in setting.budgets:
        if f"glai-x{share:g}" in wanted:
            budget = max(1, round(share * runs[0]["params"]))
            est = _fit_head(GLAIClassifier(hidden, rho="auto", budget=budget, **shared), data)
            done(head_record(f"glai-x{share:g}", est, data, mlp_mva))
    if "linear-probe" in wanted:
        probe = LogisticRegression(max_iter=1000)
        done(_sklearn_record("linear-probe", probe, _fit_sklearn(probe, data), data, mlp_mva))
    if "sklearn-mlp" in wanted:
        ref = MLPClassifier(
            hidden, early_stopping=True, random_state=seed, max_iter=setting.max_epochs or 200
        )
        done(_sklearn_record("sklearn-mlp", ref, _fit_sklearn(ref, data), data, mlp_mva))
    return runs


def warm_up(data: Splits, hidden: tuple[int, ...], device: str = "cpu") -> None:
    """Fit both heads for two epochs on a random slice of the training data, untimed, so no
    timed run pays first-call costs (allocator growth, kernel selection)."""
    idx = np.random.default_rng(0).permutation(len(data.y_train))[:512]
    X, y = data.X_train[idx], data.y_train[idx]
    for cls in (MLPHeadClassifier, GLAIClassifier):
        cls(hidden, max_epochs=2, random_state=0, device=device).fit(X, y, X_val=X, y_val=y)


def run_setting(
    setting: Setting,
    data: Splits,
    *,
    seeds: int | None = None,
    device: str = "cpu",
    only: set[str] | None = None,
    progress: bool = True,
) -> list[Run]:
    """Every run of every seed ``0 .. seeds-1`` (default ``setting.seeds``), with a progress bar.

    Call inside :func:`timing_context`.
    """
    n_seeds = setting.seeds if seeds is None else seeds
    names = setting.head_names(only)
    warm_up(data, setting.hidden, device)
    runs: list[Run] = []
    with tqdm(
        total=n_seeds * len(names), desc=setting.stem, unit="run", disable=not progress
    ) as bar:
        for seed in range(n_seeds):

            def tick(name: str, seed: int = seed) -> None:
                bar.update(1)
                bar.set_postfix(seed=seed, done=name)

            runs += run_seed(setting, data, seed, device=device, only=only, on_run=tick)
    return runs
