"""Training a projection head on pairs of views with NT-Xent, through the two-phase driver.

:func:`fit_projection_head` is :func:`~glai.training.fit_glai` (or
:func:`~glai.training.fit_mlp`) with a :class:`~glai.training.plans.ViewPairPlan` and the
NT-Xent loss: the SSL heads get the driver's checkpoints, DDP and iterative solvers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from glai import params
from glai.block import GLAI
from glai.mlp import MLP
from glai.solvers import ITERATIVE_KINDS, get_solver, solver_names
from glai.ssl.loss import _nt_xent_per_pair
from glai.structure import StopRule, StructureMonitor
from glai.training import (
    Data,
    EpochRecord,
    History,
    Objective,
    TrainConfig,
    fit_glai,
    fit_mlp,
)
from glai.training.checkpoint import DATA_KEY, Checkpoint, data_digest
from glai.training.plans import ViewPairPlan

__all__ = ["SSLHistory", "fit_projection_head"]

_D = params.defaults("temperature", "structure_rule", "probe_size")


@dataclass
class SSLHistory(History):
    """:class:`~glai.training.History` plus one optional probe score per epoch.

    ``probe_scores[i]`` belongs to ``records[i]``; the probe's time is not on the clock.
    """

    probe_scores: list[float] = field(default_factory=list)

    def first_probe_reaching(self, score: float, phase: str | None = None) -> EpochRecord | None:
        """The first epoch (of ``phase``) whose probe score is at least ``score``."""
        for record, probe in zip(self.records, self.probe_scores):
            if (phase is None or record.phase == phase) and probe >= score:
                return record
        return None

    def time_to_probe(self, score: float, phase: str | None = None) -> float | None:
        """Seconds until the probe score (of ``phase``) first reached ``score`` (None: never)."""
        record = self.first_probe_reaching(score, phase)
        return None if record is None else record.seconds


def _check_views(name: str, views: torch.Tensor, in_features: int) -> None:
    if views.ndim != 3 or views.shape[0] < 2 or views.shape[1] < 2:
        raise ValueError(
            f"{name} must be [N, V, {in_features}] with N >= 2 images and V >= 2 views each, "
            f"got {tuple(views.shape)}"
        )
    if views.shape[2] != in_features:
        raise ValueError(
            f"{name} must have {in_features} features per view (the head's in_features), "
            f"got {views.shape[2]}"
        )
    if not bool(torch.isfinite(views).all()):
        raise ValueError(f"{name} holds NaN or infinite values")


def _check_solver(name: str, config: TrainConfig) -> None:
    """NT-Xent has no closed form: refuse the closed-form solvers and "auto" by name."""
    if config.optimizer == "auto" or get_solver(config.optimizer).kind == "closed_form":
        raise ValueError(
            f"{name}.optimizer={config.optimizer!r} does not apply to SSL heads: NT-Xent is not "
            "a least-squares loss against per-row targets, so no closed-form solver fits it "
            f"(nor 'auto', which may choose one); choose one of "
            f"{', '.join(solver_names(ITERATIVE_KINDS))}"
        )


def fit_projection_head(
    head: MLP | GLAI,
    views: torch.Tensor,
    views_val: torch.Tensor,
    *,
    temperature: float = _D["temperature"],
    config: TrainConfig | None = None,
    structural: TrainConfig | None = None,
    rule: StopRule | str = _D["structure_rule"],
    probe_size: int = _D["probe_size"],
    random_state: int | None = None,
    probe_fn: Callable[[nn.Module], float] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    verbose: bool = False,
) -> SSLHistory:
    """Train a projection head on pairs of views with NT-Xent; returns one history.

    Every step draws, for every image of its minibatch, two different views out of its ``V``
    (precomputed features of augmented views; :class:`~glai.training.plans.ViewPairPlan`).
    Validation: NT-Xent of views 0 and 1 of ``views_val``, in blocks of ``config.batch_size``
    images (the loss depends on the number of negatives, so it is computed at the training
    batch size); the record's ``val_score`` is minus that loss.

    * MLP head (a :class:`~glai.mlp.MLP`): one phase ``"mlp"``, early stopping on the held-out
      loss, best epoch kept (:func:`~glai.training.fit_mlp`).
    * GLAI head (phase ``"structural"``): :func:`~glai.training.fit_glai`. The structural
      network is trained until the path distance ``m_t`` on a fixed probe of ``probe_size``
      training views is stable under ``rule`` (config ``structural``, no early stopping); then
      ``head.freeze_structure(probe)`` and the gates of every view are computed once; then the
      paths are trained with ``config`` (early stopping, best epoch kept).

    Any minibatch or full-batch solver trains either phase (``"adam"``, ``"lbfgs"``: a
    full-batch epoch draws one pair per image for the whole epoch, so that its line search
    sees one loss). The closed-form solvers and ``"auto"`` are refused: NT-Xent is not a
    least-squares loss. Under ``torch.distributed`` (the driver's DDP) ``views`` is this rank's
    shard of the images; (choice) NT-Xent's negatives are then the images of this rank's part
    of each minibatch, not gathered over the ranks.

    Args:
        head: what :func:`ProjectionHead` returns; trained in place.
        views: training views ``[N, V, n_0]``, ``V >= 2``.
        views_val: held-out views ``[M, V', n_0]``, ``V' >= 2``.
        temperature: NT-Xent's ``tau``.
        config: the MLP's / the quantitative phase's hyper-parameters.
        structural: the structural phase's (default: ``config``).
        rule: when the structure counts as stable.
        probe_size: views in the probe of ``m_t`` and of dead-path removal.
        random_state: seed of the minibatches, the view pairs and the probe.
        probe_fn: optional score of the head being trained (e.g. a kNN accuracy of its
            embeddings of labelled images), called with ``head`` after every epoch's
            validation into :attr:`SSLHistory.probe_scores`; its time is taken off the clock.
            ``head`` is in training mode: embed in eval mode (e.g. with
            :func:`~glai.training.predict_batched`).
        checkpoint: a file: a checkpoint is written there after every epoch of either phase
            and an existing one (of the same head, data, settings and ``random_state``, which
            it then requires) is resumed; the resumed run ends as an uninterrupted one.
        verbose: a progress bar.
    """
    config = TrainConfig() if config is None else config
    structural = config if structural is None else structural
    _check_solver("config", config)
    _check_solver("structural", structural)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if isinstance(probe_size, bool) or not isinstance(probe_size, int) or probe_size < 1:
        raise ValueError(f"probe_size must be a positive int, got {probe_size!r}")
    if not isinstance(head, (MLP, GLAI)):
        raise TypeError(f"head must be a glai.MLP or a glai.GLAI, got {type(head).__name__}")
    if isinstance(head, GLAI) and head.phase != "structural":
        raise ValueError("a GLAI head must be in phase 'structural' to be fitted from scratch")
    _check_views("views", views, head.in_features)
    _check_views("views_val", views_val, head.in_features)
    if checkpoint is not None and (
        isinstance(random_state, bool) or not isinstance(random_state, int)
    ):
        raise ValueError(
            f"checkpoint needs random_state (an int), got {random_state!r}: a resumed run "
            "replays the same probe, minibatches and view pairs"
        )

    generator = torch.Generator()
    generator.manual_seed(
        int(torch.randint(2**62, ()).item()) if random_state is None else random_state
    )
    history = SSLHistory()
    batch = config.batch_size
    tau = float(temperature)

    def loss_fn(out: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        # out: [B, 2, n_L] -> per-pair loss [B], NT-Xent over blocks of `batch` pairs.
        blocks = out.split(batch)
        return torch.cat([_nt_xent_per_pair(o[:, 0], o[:, 1], tau) for o in blocks])

    ckpt = None
    if checkpoint is not None:
        ckpt = Checkpoint(checkpoint, {
            "kind": "ssl-" + type(head).__name__, "in_features": head.in_features,
            "out_features": head.out_features,
            "n_params": sum(p.numel() for p in head.parameters()),
            "temperature": tau, "config": asdict(config), "structural": asdict(structural),
            "rule": repr(rule), "probe_size": probe_size, "random_state": random_state,
            DATA_KEY: data_digest(views, views_val),
        })  # fmt: skip
        state = ckpt.load()
        if state is not None:  # the probe scores of the epochs already run
            history.probe_scores[:] = state["extra"].get("probe_scores", [])

    def score_fn(out: torch.Tensor, y: torch.Tensor) -> float:
        if probe_fn is not None:
            t0 = time.perf_counter()
            history.probe_scores.append(float(probe_fn(head)))
            history.start += time.perf_counter() - t0  # the probe is not training
            if ckpt is not None:
                ckpt.extra["probe_scores"] = list(history.probe_scores)
        return -float(loss_fn(out, y).mean())

    n, m = views.shape[0], views_val.shape[0]
    y = torch.zeros(n, device=views.device)  # no labels: the loop only needs N and a device
    y_val = torch.zeros(m, device=views.device)
    plan = ViewPairPlan()
    data, objective = Data(views, y, views_val, y_val), Objective(loss_fn, score_fn)
    common: dict[str, Any] = {
        "generator": generator, "verbose": verbose, "checkpoint": ckpt, "plan": plan,
        "history": history,
    }  # fmt: skip
    if isinstance(head, MLP):
        fit_mlp(head, data, objective, config=config, **common)
        return history

    assert head.structure is not None
    flat = views.flatten(0, 1)
    pick = torch.randperm(flat.shape[0], generator=generator)[:probe_size].to(views.device)
    monitor = StructureMonitor(flat[pick], rule)
    fit_glai(
        head, data, objective, structural=structural, quantitative=config, monitor=monitor,
        **common,
    )  # fmt: skip
    return history
