"""Training a projection head on pairs of views with NT-Xent (both of GLAI's phases)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from glai import params
from glai.block import GLAI
from glai.mlp import MLP
from glai.ssl.loss import _nt_xent_per_pair
from glai.structure import StopRule, StructureMonitor
from glai.training import EpochRecord, History, TrainConfig, train_epochs

__all__ = ["SSLHistory", "fit_projection_head"]

_D = params.defaults("temperature", "structure_rule", "probe_size")


class _ViewPairs(nn.Module):
    """Embeds two different views of each image with ``head``.

    ``views: [B, V, n_0]`` (and, for a path model, their gates ``[B, V, P]``) ->
    ``[B, 2, n_L]``. In training mode each image gets a pair of distinct views drawn from
    ``generator`` (new pairs every epoch); in eval mode views 0 and 1, so held-out losses are
    comparable across epochs. Both views go through the head as one batch of ``2B``.
    """

    def __init__(self, head: nn.Module, generator: torch.Generator) -> None:
        super().__init__()
        self.head = head
        self.generator = generator

    def forward(self, views: torch.Tensor, gates: torch.Tensor | None = None) -> torch.Tensor:
        b, v = views.shape[:2]
        device = views.device
        rows = torch.arange(b, device=device).repeat(2)
        if self.training:
            # Drawn from the CPU generator (the same pairs on every device for one seed), then
            # one copy that does not block the host: from pinned memory on a GPU.
            first = torch.randint(v, (b,), generator=self.generator)
            second = (first + torch.randint(1, v, (b,), generator=self.generator)) % v
            which = _to_device(torch.cat([first, second]), device)
        else:
            which = torch.arange(2, device=device).repeat_interleave(b)  # views 0 and 1
        inputs = [views[rows, which]]
        if gates is not None:
            inputs.append(gates[rows, which])
        return torch.stack(self.head(*inputs).split(b), dim=1)


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device`` without a blocking copy (pinned and non-blocking on CUDA)."""
    if device.type == "cpu":
        return t
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


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
) -> SSLHistory:
    """Train a projection head on pairs of views with NT-Xent; returns one history.

    Every epoch draws, for every image, two different views out of its ``V`` (precomputed
    features of augmented views). Validation: NT-Xent of views 0 and 1 of ``views_val``, in
    blocks of ``config.batch_size`` images (the loss depends on the number of negatives, so it
    is computed at the training batch size); the record's ``val_score`` is minus that loss.

    * MLP head (a :class:`~glai.mlp.MLP`): one phase ``"mlp"``, early stopping on the held-out
      loss, best epoch kept.
    * GLAI head (phase ``"structural"``): the structural network is trained until the path
      distance ``m_t`` on a fixed probe of ``probe_size`` training views is stable under
      ``rule`` (config ``structural``, no early stopping); then ``head.freeze_structure(probe)``
      and the gates of every view are computed once; then the paths are trained with
      ``config`` (early stopping, best epoch kept).

    Args:
        head: what :func:`ProjectionHead` returns; trained in place.
        views: training views ``[N, V, n_0]``, ``V >= 2``.
        views_val: held-out views ``[M, V', n_0]``, ``V' >= 2``.
        temperature: NT-Xent's ``tau``.
        config: the MLP's / the quantitative phase's hyper-parameters (Adam only: the view
            pairs are random, which a full-batch line search does not allow).
        structural: the structural phase's (default: ``config``).
        rule: when the structure counts as stable.
        probe_size: views in the probe of ``m_t`` and of dead-path removal.
        random_state: seed of the minibatches, the view pairs and the probe.
        probe_fn: optional score of the head being trained (e.g. a kNN accuracy of its
            embeddings of labelled images), called with ``head`` after every epoch's
            validation into :attr:`SSLHistory.probe_scores`; its time is taken off the clock.
            ``head`` is in training mode: embed in eval mode (e.g. with
            :func:`~glai.training.predict_batched`).
    """
    config = TrainConfig() if config is None else config
    structural = config if structural is None else structural
    for name, c in (("config", config), ("structural", structural)):
        if c.optimizer != "adam":
            raise ValueError(f"{name}.optimizer must be 'adam' for SSL heads, got {c.optimizer!r}")
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

    def score_fn(out: torch.Tensor, y: torch.Tensor) -> float:
        if probe_fn is not None:
            t0 = time.perf_counter()
            history.probe_scores.append(float(probe_fn(head)))
            history.start += time.perf_counter() - t0  # the probe is not training
        return -float(loss_fn(out, y).mean())

    n, m = views.shape[0], views_val.shape[0]
    y = torch.zeros(n, device=views.device)  # no labels: the loop only needs N and a device
    y_val = torch.zeros(m, device=views.device)

    if isinstance(head, MLP):
        train_epochs(
            _ViewPairs(head, generator), (views,), y, (views_val,), y_val, loss_fn=loss_fn,
            score_fn=score_fn, config=config, history=history, phase="mlp", generator=generator,
        )  # fmt: skip
        return history

    assert head.structure is not None
    flat = views.flatten(0, 1)
    pick = torch.randperm(flat.shape[0], generator=generator)[:probe_size].to(views.device)
    monitor = StructureMonitor(flat[pick], rule)
    monitor.update(head.structure)  # reference patterns at initialisation
    struct_config = TrainConfig(**{**asdict(structural), "patience": None})
    struct_config.max_epochs = min(monitor.rule.max_epochs, structural.max_epochs)
    train_epochs(
        _ViewPairs(head.structure, generator), (views,), y, (views_val,), y_val,
        loss_fn=loss_fn, score_fn=score_fn, config=struct_config, history=history,
        phase="structural", generator=generator, monitor=monitor, monitored=head.structure,
        keep_best=False,
    )  # fmt: skip
    t0 = history.elapsed()
    head.freeze_structure(monitor.probe_x)
    assert head.path_model is not None

    def view_gates(v: torch.Tensor) -> torch.Tensor:
        return head.gates(v.flatten(0, 1)).view(v.shape[0], v.shape[1], -1)  # [N, V, P]

    gates, gates_val = view_gates(views), view_gates(views_val)
    history.events["freeze_seconds"] = history.elapsed() - t0
    history.events["structure_frozen_epoch"] = len(history.records)
    train_epochs(
        _ViewPairs(head.path_model, generator), (views, gates), y, (views_val, gates_val),
        y_val, loss_fn=loss_fn, score_fn=score_fn, config=config, history=history,
        phase="quantitative", generator=generator,
    )  # fmt: skip
    return history
