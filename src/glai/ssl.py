"""Self-supervised projection heads (SimCLR) with GLAI, and their MLP baseline.

SimCLR (Chen et al., 2020, arXiv:2002.05709) embeds two augmented views of each image,
``z = g(h)`` with ``h`` the (here frozen) backbone features and ``g`` a projection head, and
pulls the two views of an image together with the NT-Xent loss. GLAI (Mestre et al., 2025,
arXiv:2510.00883, section 7 of GLAI-METHOD.md) replaces the head ``g``: the structural phase
trains a narrow head and tracks its path distance ``m_t`` on a fixed probe of views; then the
structure is frozen and only the paths are trained, on gates computed once (the inputs are
frozen features, so a view's gates never change).

* :func:`nt_xent_loss` -- the loss;
* :func:`ProjectionHead` -- the head: ``kind="mlp"`` (Linear-BatchNorm-ReLU-Linear as lightly's
  ``SimCLRProjectionHead``, or Linear-ReLU-Linear as solo-learn's with ``batch_norm=False``)
  or ``kind="glai"`` (:class:`GLAIProjectionHead`, a :class:`~glai.block.GLAI` block whose
  structural network may carry BatchNorm);
* :func:`fit_projection_head` -- trains either head on pairs of views with the shared loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from glai.block import GLAI
from glai.mlp import MLP, BatchNormMLP, mlp_num_params
from glai.structure import StopRule, StructureMonitor
from glai.training import EpochRecord, History, TrainConfig, train_epochs

__all__ = [
    "GLAIProjectionHead",
    "ProjectionHead",
    "SSLHistory",
    "fit_projection_head",
    "nt_xent_loss",
]


# -- the loss ----------------------------------------------------------------------------------


def _nt_xent_per_pair(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent of each pair ``[B]``: the mean of its two anchors' terms (unchecked inputs)."""
    b = z1.shape[0]
    u = F.normalize(torch.cat([z1, z2]), dim=1)  # [2B, d]
    sim = u @ u.t() / temperature  # [2B, 2B]
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=sim.device), -math.inf)
    positive = torch.cat([torch.arange(b, 2 * b), torch.arange(b)]).to(sim.device)
    per_anchor = F.cross_entropy(sim, positive, reduction="none")  # [2B]
    return (per_anchor[:b] + per_anchor[b:]) / 2


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (arXiv:2002.05709).

    With ``u_1 .. u_{2B}`` the L2-normalised rows of ``[z1; z2]``, ``s_ij = u_i . u_j / tau``
    and ``pos(i)`` the other view of anchor ``i`` (``i +- B``)::

        l_i = -log( exp(s_{i,pos(i)}) / sum_{j != i} exp(s_ij) ),    loss = mean_i l_i

    Args:
        z1, z2: embeddings ``[B, d]`` of the two views; row ``i`` of each is the same image.
        temperature: ``tau > 0``.

    Returns:
        the scalar loss (a 0-d tensor).
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    for name, z in (("z1", z1), ("z2", z2)):
        if z.ndim != 2 or z.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty [B, d] tensor, got {tuple(z.shape)}")
        if not bool(torch.isfinite(z).all()):
            raise ValueError(f"{name} holds NaN or infinite values")
    if z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must hold the same images' views, shape [B, d] each: "
            f"got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    return _nt_xent_per_pair(z1, z2, float(temperature)).mean()


# -- the heads ---------------------------------------------------------------------------------


class GLAIProjectionHead(GLAI):
    """A :class:`~glai.block.GLAI` block as a SimCLR projection head.

    Replaces the head ``in_features -> hidden_features -> out_features``. With ``batch_norm``
    the structural network is a :class:`~glai.mlp.BatchNormMLP` (Linear-BatchNorm-ReLU, then
    Linear); :meth:`freeze_structure` folds BatchNorm's running statistics into the affine maps
    before the paths are built, so in eval mode the head computes the same embeddings just
    before and just after the switch. Everything else (``phase``, ``gates``, the state dict in
    either phase) is the block's.

    ``budget="match"`` is the parameter count of the MLP head it replaces, BatchNorm
    included (:func:`~glai.mlp.mlp_num_params` with ``batch_norm``).

    Shapes: ``x: [N, n_0] -> z: [N, n_L]``.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int | Sequence[int],
        out_features: int,
        *,
        batch_norm: bool = True,
        rho: float | str = "auto",
        budget: int | str | None = "match",
        prune_dead: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if budget == "match":
            budget = mlp_num_params(
                in_features, hidden_features, out_features, batch_norm=batch_norm
            )
        # Read by _new_structure, which GLAI.__init__ calls: set before it (a plain bool, so
        # nn.Module does not need to be initialised yet).
        self.batch_norm = batch_norm
        super().__init__(
            in_features, hidden_features, out_features, rho=rho, budget=budget,
            prune_dead=prune_dead, device=device, dtype=dtype,
        )  # fmt: skip

    def _new_structure(
        self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> MLP:
        kind = BatchNormMLP if self.batch_norm else MLP
        return kind(
            self.in_features, self.structural_features, self.out_features,
            device=device, dtype=dtype,
        )  # fmt: skip


def ProjectionHead(  # named as the class it builds; `kind` picks that class
    in_features: int,
    hidden_features: int | Sequence[int],
    out_features: int,
    *,
    kind: str = "glai",
    batch_norm: bool = True,
    rho: float | str = "auto",
    budget: int | str | None = "match",
    prune_dead: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> MLP | GLAIProjectionHead:
    """A SimCLR projection head ``h: [N, in_features] -> z: [N, out_features]``.

    Args:
        in_features, hidden_features, out_features: the head's widths (``hidden_features``: an
            int or a sequence of ints, one per hidden layer).
        kind: ``"mlp"``: a :class:`~glai.mlp.BatchNormMLP` (lightly's SimCLR head:
            Linear-BatchNorm-ReLU, then Linear) or, with ``batch_norm=False``, a plain
            :class:`~glai.mlp.MLP` (solo-learn's Linear-ReLU-Linear). ``"glai"``: a
            :class:`GLAIProjectionHead` replacing that MLP at the same parameter count.
        batch_norm: BatchNorm before each hidden ReLU.
        rho, budget, prune_dead: the GLAI block's (``kind="glai"`` only).
    """
    if kind == "mlp":
        if (rho, budget, prune_dead) != ("auto", "match", True):
            raise ValueError("rho, budget and prune_dead apply to kind='glai' only")
        mlp = BatchNormMLP if batch_norm else MLP
        return mlp(in_features, hidden_features, out_features, device=device, dtype=dtype)
    if kind == "glai":
        return GLAIProjectionHead(
            in_features, hidden_features, out_features, batch_norm=batch_norm, rho=rho,
            budget=budget, prune_dead=prune_dead, device=device, dtype=dtype,
        )  # fmt: skip
    raise ValueError(f"kind must be 'glai' or 'mlp', got {kind!r}")


# -- training ----------------------------------------------------------------------------------


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
        if self.training:
            first = torch.randint(v, (b,), generator=self.generator)
            second = (first + torch.randint(1, v, (b,), generator=self.generator)) % v
        else:
            first, second = torch.zeros(b, dtype=torch.long), torch.ones(b, dtype=torch.long)
        rows = torch.arange(b).repeat(2).to(views.device)
        which = torch.cat([first, second]).to(views.device)
        inputs = [views[rows, which]]
        if gates is not None:
            inputs.append(gates[rows, which])
        return torch.stack(self.head(*inputs).split(b), dim=1)


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
    temperature: float = 0.5,
    config: TrainConfig | None = None,
    structural: TrainConfig | None = None,
    rule: StopRule | str = "relative",
    probe_size: int = 1024,
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
