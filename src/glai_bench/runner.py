"""Fitting and recording the classification heads that several protocols share.

:func:`timing_context` fixes what timings depend on (every protocol runs inside it); a run is a
JSON-ready dict (:func:`head_record` for the glai estimators, :func:`sklearn_record` for the
scikit-learn references) whose times come from the estimators' own histories, whose clock
covers everything inside ``fit`` after the data are on the device.
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

from glai import GLAI, MLP, GLAIClassifier, MLPHeadClassifier
from glai.training import History
from glai_bench.data import Splits

__all__ = [
    "timing_context", "head_record", "sklearn_record", "fit_on", "fit_sklearn", "warm_up",
]  # fmt: skip

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


def sklearn_record(
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


def fit_on(est: Any, data: Splits) -> Any:
    """``est.fit`` on the training split, validated on the validation split."""
    gc.collect()  # a collection inside a timed fit would be billed to it
    return est.fit(data.X_train, data.y_train, X_val=data.X_val, y_val=data.y_val)


def fit_sklearn(est: Any, data: Splits) -> float:
    """Fit a scikit-learn reference on the training split; its wall-clock seconds."""
    gc.collect()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(data.X_train, data.y_train)
    return time.perf_counter() - t0


def warm_up(data: Splits, hidden: tuple[int, ...], device: str = "cpu") -> None:
    """Fit both heads for two epochs on a random slice of the training data, untimed, so no
    timed run pays first-call costs (allocator growth, kernel selection)."""
    idx = np.random.default_rng(0).permutation(len(data.y_train))[:512]
    X, y = data.X_train[idx], data.y_train[idx]
    with warnings.catch_warnings():  # two epochs stop every phase early on purpose
        warnings.simplefilter("ignore", ConvergenceWarning)
        for cls in (MLPHeadClassifier, GLAIClassifier):
            cls(hidden, max_iter=2, random_state=0, device=device).fit(X, y, X_val=X, y_val=y)
