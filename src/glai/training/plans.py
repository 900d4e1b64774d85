"""Batch plans: what one epoch of the gradient loop trains on, and what its loss sees.

The loop (:func:`~glai.training.iterative.train_epochs`, and through it
:func:`~glai.training.two_phase.fit_glai`) is the same for every head; a plan is the one part
that differs between them. Per epoch it cuts the training rows into batches
(:meth:`BatchPlan.epoch`, an :class:`~glai.training.distributed.EpochPlan`), turns each batch
of row indices into the model's inputs and the loss's targets (:meth:`BatchPlan.batch`; for a
full-batch solver, :meth:`BatchPlan.full_batch` once per epoch), and scores the validation
data (:meth:`BatchPlan.validate`). The rows are a :class:`~glai.training.problem.Rows` (this
rank's shard of the training rows, or the validation rows), the loss and score an
:class:`~glai.training.problem.Objective`. Every random draw goes through the loop's
``torch.Generator``, which checkpoints save, so a resumed run replays the same batches.

* :class:`MinibatchPlan`: i.i.d. minibatches of rows (a permutation per epoch), the default;
* :class:`ViewPairPlan`: rows are images ``[N, V, n_0]`` of ``V`` precomputed views; each
  batch draws two different views of each of its images (SimCLR's pairs, :mod:`glai.ssl`);
* :class:`EpisodePlan`: each batch is one ``N``-way ``K``-shot episode drawn from labelled
  (base) classes, scored by the prototype loss (:func:`prototype_loss`, prototypical networks:
  Snell, Swersky & Zemel, 2017, arXiv:1703.05175).

A new kind of head is a loss and a plan: subclass :class:`BatchPlan` (or one of these).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from glai.training.distributed import EpochPlan, gather_rows, plan_epoch, sum_over_ranks
from glai.training.predict import predict_batched
from glai.training.problem import LossFn, Objective, Rows, ScoreFn

__all__ = [
    "BatchPlan",
    "MinibatchPlan",
    "ViewPairPlan",
    "EpisodePlan",
    "PairHead",
    "prototype_loss",
    "prototype_accuracy",
]

Inputs = tuple[torch.Tensor, ...]


class BatchPlan:
    """The batching of the gradient loop: i.i.d. minibatches of rows (this base class's own
    behaviour, :class:`MinibatchPlan`); subclasses override what differs.

    The loop's data are :class:`~glai.training.problem.Rows`: ``inputs`` (tensors whose first
    dimension is the training row, e.g. ``X [n, n_0]`` and a path model's gates ``[n, P]``)
    and ``y [n]`` (or ``[n, k]``); under ``torch.distributed`` this rank's contiguous shard of
    them, global rows ``[lo, lo + n)`` of ``n_global``.
    """

    #: whether ``sample_weight`` is meaningful (one weight per training row)
    weighted: bool = True
    #: whether the loss is a per-row loss against per-row targets, so that a closed-form
    #: quantitative solver (ridge) may replace the gradient loop
    closed_form: bool = True
    #: the prefix that :meth:`wrap` puts before the wrapped network's state-dict keys
    prefix: str = ""

    def wrap(self, network: nn.Module) -> nn.Module:
        """The module the loop trains for ``network`` (here ``network`` itself)."""
        return network

    def gates(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The gates of the inputs ``x`` under ``model``'s frozen structure (a
        :class:`~glai.block.GLAI`): ``model.gates(x)``, ``[n, P]``."""
        return model.gates(x)  # type: ignore[operator]

    def epoch(
        self, rows: Rows, generator: torch.Generator, batch_size: int, shuffle: bool
    ) -> EpochPlan:
        """This epoch's batches (local row indices) and the factors that turn each batch's
        summed loss into this rank's share of its mean.

        Minibatches of ``batch_size`` over a permutation of the ``rows.n_global`` rows drawn
        from ``generator`` (their order with ``shuffle=False``): every row once per epoch.
        """
        if shuffle:
            order = torch.randperm(rows.n_global, generator=generator).to(rows.device)
        else:
            order = torch.arange(rows.n_global, device=rows.device)
        n = rows.y.shape[0]
        return plan_epoch(order, rows.lo, n, batch_size, rows.sample_weight, rows.world)

    def batch(
        self, rows: Rows, idx: torch.Tensor, generator: torch.Generator, size: int
    ) -> tuple[Inputs, torch.Tensor]:
        """``(model inputs, loss targets)`` of the batch of local rows ``idx``; ``size`` is the
        global batch's row count (the same on every rank). Here: the rows themselves."""
        return tuple(t[idx] for t in rows.inputs), rows.y[idx]

    def full_batch(self, rows: Rows, generator: torch.Generator) -> tuple[Inputs, torch.Tensor]:
        """``(model inputs, loss targets)`` of one full-batch epoch (every local row, drawn
        once per epoch so that a line search sees one loss). Here: the data as they are."""
        return rows.inputs, rows.y

    def full_batch_total(self, rows: Rows) -> torch.Tensor:
        """The divisor of a full-batch epoch's summed loss: the global row count, or the
        weights' sum (0-d)."""
        if rows.sample_weight is None:
            return torch.tensor(float(rows.n_global), device=rows.device)
        return sum_over_ranks(rows.sample_weight.sum(), rows.world)

    def validate(self, model: nn.Module, rows: Rows, objective: Objective) -> tuple[float, float]:
        """``(mean validation loss, validation score)`` of ``model`` (eval mode) on ``rows``."""
        out = predict_batched(model, rows.inputs)
        return float(objective.loss_fn(out, rows.y).mean()), objective.score_fn(out, rows.y)


class MinibatchPlan(BatchPlan):
    """I.i.d. minibatches of rows: a fresh permutation per epoch, cut into minibatches of
    ``TrainConfig.batch_size`` (:class:`BatchPlan`'s behaviour; the loop's default)."""


class PairHead(nn.Module):
    """Embeds both views of each image with ``head`` in one batch of ``2B``.

    ``x: [B, 2, n_0]`` (and, for a path model, its gates ``[B, 2, P]``) ``-> [B, 2, n_L]``:
    ``head`` sees the first views of all ``B`` images, then their second views, as one batch
    (so BatchNorm's statistics cover both).
    """

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor, gates: torch.Tensor | None = None) -> torch.Tensor:
        b = x.shape[0]
        flat = [x.transpose(0, 1).reshape(2 * b, *x.shape[2:])]
        if gates is not None:
            flat.append(gates.transpose(0, 1).reshape(2 * b, *gates.shape[2:]))
        return torch.stack(self.head(*flat).split(b), dim=1)


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device`` without a blocking copy (pinned and non-blocking on CUDA)."""
    if device.type == "cpu":
        return t
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class ViewPairPlan(BatchPlan):
    """Minibatches of images, each image seen as a pair of two different views (SimCLR).

    The rows are images: ``inputs`` are ``views [N, V, n_0]`` (``V >= 2`` precomputed views of
    each image; and a path model's gates ``[N, V, P]``). Batches of images as
    :class:`MinibatchPlan`; then, for each image of a batch, views ``(a, b)`` with ``a``
    uniform in ``0..V-1`` and ``b = (a + U{1..V-1}) mod V`` (so ``b != a``), drawn from the
    loop's generator (new pairs every step), so the model (a :class:`PairHead`) sees
    ``[B, 2, n_0]``. A full-batch epoch draws one pair per image for the whole epoch (a line
    search needs one loss). The validation inputs are fixed pairs ``[M, 2, n_0]`` (e.g. views
    0 and 1), so that held-out losses are comparable across epochs.

    Under several ranks every rank draws pairs for the whole global batch (the generator stays
    in step) and keeps as many as it holds images of it.
    """

    closed_form = False
    prefix = "head."

    def wrap(self, network: nn.Module) -> nn.Module:
        return PairHead(network)

    def gates(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The gates of every view: ``x [N, V, n_0] -> [N, V, P]``."""
        return model.gates(x.flatten(0, 1)).view(x.shape[0], x.shape[1], -1)  # type: ignore[operator]

    @staticmethod
    def _pairs(
        inputs: Inputs, idx: torch.Tensor | None, generator: torch.Generator, count: int, first: int
    ) -> Inputs:
        """Two different views of each row ``idx`` (every row when None): ``count`` pairs are
        drawn (one per row of the global batch, so that the generator stays in step on every
        rank) and those from position ``first`` on are these rows'."""
        views = inputs[0]
        v = views.shape[1]
        n = views.shape[0] if idx is None else idx.shape[0]
        # Drawn from the CPU generator (the same pairs on every device for one seed), then one
        # copy that does not block the host.
        a = torch.randint(v, (count,), generator=generator)
        b = (a + torch.randint(1, v, (count,), generator=generator)) % v
        mine = slice(first, first + n)
        which = _to_device(torch.stack([a[mine], b[mine]], dim=1), views.device)  # [n, 2]
        rows = torch.arange(n, device=views.device) if idx is None else idx
        return tuple(t[rows[:, None], which] for t in inputs)

    def batch(
        self, rows: Rows, idx: torch.Tensor, generator: torch.Generator, size: int
    ) -> tuple[Inputs, torch.Tensor]:
        return self._pairs(rows.inputs, idx, generator, size, 0), rows.y[idx]

    def full_batch(self, rows: Rows, generator: torch.Generator) -> tuple[Inputs, torch.Tensor]:
        # the draws of every global row; this rank keeps those of its shard
        return self._pairs(rows.inputs, None, generator, rows.n_global, rows.lo), rows.y

    def validate(self, model: nn.Module, rows: Rows, objective: Objective) -> tuple[float, float]:
        """The loss and score of the fixed pairs of views 0 and 1 of each validation image."""
        pairs = Rows(tuple(t[:, :2] for t in rows.inputs), rows.y)
        return super().validate(model, pairs, objective)


def _query_logits(out: torch.Tensor, n_way: int, k_shot: int, rows: int) -> torch.Tensor:
    """Embeddings of ``T`` episodes of ``rows = N*K + N*Q`` rows each, ``[T * rows, d]`` or
    ``[T, rows, d]`` -> query logits ``[T, N*Q, N]``."""
    out = out.reshape(-1, rows, out.shape[-1])
    n_support = n_way * k_shot
    support = out[..., :n_support, :].unflatten(-2, (n_way, k_shot))
    protos = support.mean(dim=-2)  # c_n = (1/K) sum_k z_{n,k}: [..., N, d]
    query = out[..., n_support:, :]
    sq = (query * query).sum(-1, keepdim=True) + (protos * protos).sum(-1).unsqueeze(-2)
    return -(sq - 2 * query @ protos.transpose(-1, -2)).clamp(min=0)


def prototype_loss(n_way: int, k_shot: int, n_query: int) -> LossFn:
    """The prototype loss of one or more episodes, per query.

    ``out``: the embeddings of ``T`` episodes of ``R = N*K + N*Q`` rows each (support rows
    first, class-major, then the queries, class-major), ``[T * R, d]`` or ``[T, R, d]``;
    ``target [N*Q]``: each query's class in ``0..N-1`` (the same in every episode). Returns
    ``[T * N*Q]``::

        c_n = (1/K) sum_k z_{n,k},   l_q = -log softmax_n( -||z_q - c_n||^2 )[target_q]
    """
    rows = n_way * (k_shot + n_query)

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = _query_logits(out, n_way, k_shot, rows)  # [T, N*Q, N]
        return F.cross_entropy(
            logits.reshape(-1, n_way), target.repeat(logits.shape[0]), reduction="none"
        )

    return loss


def prototype_accuracy(n_way: int, k_shot: int, n_query: int) -> ScoreFn:
    """Nearest-class-mean accuracy of the queries of one or more episodes (shapes as
    :func:`prototype_loss`; ties go to the first class), a float in ``[0, 1]``."""
    rows = n_way * (k_shot + n_query)

    def score(out: torch.Tensor, target: torch.Tensor) -> float:
        logits = _query_logits(out, n_way, k_shot, rows)
        return float((logits.argmax(-1) == target).double().mean())

    return score


class EpisodePlan(BatchPlan):
    """Episodes: each batch is one ``n_way``-way ``k_shot``-shot task of ``n_query`` queries
    per class, drawn from the integer labels ``y [n]`` of the training rows; an epoch is
    ``episodes`` of them (one optimiser step each).

    A task: ``n_way`` distinct classes uniformly, then ``k_shot + n_query`` distinct rows of
    each uniformly (support first), all from the loop's generator. The model embeds the
    ``N*K + N*Q`` rows of the task, support first, class-major (``out [N*K + N*Q, d]``); the
    loss targets are the queries' classes within the task, ``[N*Q]``: train with
    ``plan.objective``, an :class:`~glai.training.problem.Objective` of ``plan.loss``
    (:func:`prototype_loss`) and ``plan.score`` (:func:`prototype_accuracy`). Validation: the
    mean loss and mean accuracy over fixed episodes ``val_episodes`` ``[T, N*K + N*Q]`` of rows
    of the validation data (draw them once with :meth:`draw` on the validation labels, or pass
    those of another sampler).

    A full-batch solver (``"lbfgs"``) minimises the mean loss of ``episodes`` tasks drawn once
    per epoch (:meth:`full_batch`). The closed-form solvers do not apply (``closed_form`` is
    False: the prototype loss has no per-row targets).

    Under several ranks every rank draws the same episodes over the global rows and gathers
    their inputs (:func:`~glai.training.distributed.gather_rows`), so each computes the whole
    episode's loss: DDP's gradient average is then the single-process gradient.
    Sample weights do not apply (``weighted`` is False).
    """

    weighted = False
    closed_form = False

    def __init__(
        self,
        n_way: int,
        k_shot: int,
        n_query: int,
        episodes: int,
        val_episodes: torch.Tensor | None = None,
    ) -> None:
        for name, value, low in (
            ("n_way", n_way, 2), ("k_shot", k_shot, 1), ("n_query", n_query, 1),
            ("episodes", episodes, 1),
        ):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        rows = n_way * (k_shot + n_query)
        if val_episodes is not None and (val_episodes.ndim != 2 or val_episodes.shape[1] != rows):
            raise ValueError(
                f"val_episodes must be [T, n_way * (k_shot + n_query)] = [T, {rows}] row "
                f"indices, got shape {tuple(val_episodes.shape)}"
            )
        self.n_way, self.k_shot, self.n_query, self.episodes = n_way, k_shot, n_query, episodes
        self.val_episodes = val_episodes
        self.loss = prototype_loss(n_way, k_shot, n_query)
        self.score = prototype_accuracy(n_way, k_shot, n_query)
        self.objective = Objective(self.loss, self.score)

    def target(self, device: torch.device | None = None) -> torch.Tensor:
        """The queries' classes within a task: ``[N*Q]``, ``0 .. 0, 1 .. 1, ...``."""
        return torch.arange(self.n_way, device=device).repeat_interleave(self.n_query)

    def draw(self, y: torch.Tensor, n_tasks: int, generator: torch.Generator) -> torch.Tensor:
        """``n_tasks`` tasks over the labels ``y [n]``: row indices ``[T, N*K + N*Q]`` (on
        ``y``'s device), support first, class-major.

        Raises ValueError when ``y`` holds fewer than ``n_way`` classes or a class has fewer
        than ``k_shot + n_query`` rows.
        """
        if y.ndim != 1 or torch.is_floating_point(y):
            raise ValueError(
                f"y must be integer labels [n] for episodes, got {y.dtype} {tuple(y.shape)}"
            )
        labels, encoded, counts = torch.unique(y.cpu(), return_inverse=True, return_counts=True)
        need = self.k_shot + self.n_query
        if len(labels) < self.n_way:
            raise ValueError(
                f"n_way={self.n_way} is larger than the {len(labels)} classes in y; lower n_way"
            )
        if int(counts.min()) < need:
            c = int(counts.argmin())
            raise ValueError(
                f"class {int(labels[c])} has {int(counts[c])} rows, fewer than k_shot + "
                f"n_query = {need}; lower k_shot or n_query, or drop that class"
            )
        members = torch.argsort(encoded, stable=True)  # rows of class c: members[start[c]:...]
        start = torch.cumsum(counts, 0) - counts
        classes = torch.rand(n_tasks, len(labels), generator=generator).argsort(1)[:, : self.n_way]
        size = counts[classes]  # [T, N]
        # k + q distinct positions in 0..size-1 per (task, class): the smallest keys of
        # uniform draws over the largest class, kept among those below that class's size
        keys = torch.rand(n_tasks, self.n_way, int(counts.max()), generator=generator)
        keys = keys.masked_fill(torch.arange(keys.shape[-1]) >= size[..., None], math.inf)
        pos = keys.argsort(-1)[..., :need]  # [T, N, K + Q]
        rows = members[start[classes][..., None] + pos]
        support = rows[..., : self.k_shot].flatten(1)
        query = rows[..., self.k_shot :].flatten(1)
        return torch.cat([support, query], 1).to(y.device)

    def epoch(
        self, rows: Rows, generator: torch.Generator, batch_size: int, shuffle: bool
    ) -> EpochPlan:
        # every rank draws the same episodes over the global labels
        y, world = rows.y, rows.world
        labels = y if world == 1 else gather_rows(y, torch.arange(rows.n_global), rows.lo, world)
        tasks = self.draw(labels, self.episodes, generator)
        per = self.n_way * self.n_query
        scale = torch.full((self.episodes,), 1.0 / per, device=y.device)
        # the ranks each compute the whole loss: the epoch's sum counts it `world` times
        total = torch.tensor(float(self.episodes * per * world), device=y.device)
        return EpochPlan(list(tasks), scale, total, sizes=[tasks.shape[1]] * self.episodes)

    def batch(
        self, rows: Rows, idx: torch.Tensor, generator: torch.Generator, size: int
    ) -> tuple[Inputs, torch.Tensor]:
        if rows.world == 1:
            return tuple(t[idx] for t in rows.inputs), self.target(rows.device)
        gathered = tuple(gather_rows(t, idx, rows.lo, rows.world) for t in rows.inputs)
        return gathered, self.target(rows.device)

    def full_batch(self, rows: Rows, generator: torch.Generator) -> tuple[Inputs, torch.Tensor]:
        """``episodes`` tasks drawn once for the epoch, their rows one after the other
        (``[episodes * (N*K + N*Q), ...]``): a full-batch solver minimises their mean loss."""
        every = torch.cat(self.epoch(rows, generator, 0, True).batches)
        return self.batch(rows, every, generator, len(every))

    def full_batch_total(self, rows: Rows) -> torch.Tensor:
        # every rank computes the whole loss, and full-batch gradients are summed over ranks
        count = self.episodes * self.n_way * self.n_query * rows.world
        return torch.tensor(float(count), device=rows.device)

    def validate(self, model: nn.Module, rows: Rows, objective: Objective) -> tuple[float, float]:
        """Mean loss and mean score of ``objective`` over the episodes ``val_episodes`` of the
        validation ``rows`` (their embeddings computed once, in eval mode)."""
        if self.val_episodes is None:
            raise ValueError(
                "EpisodePlan.val_episodes is None: pass fixed validation episodes (e.g. "
                "plan.draw(y_val, n_tasks, generator)) to score the validation data"
            )
        z = predict_batched(model, rows.inputs)
        target = self.target(z.device)
        with torch.no_grad():
            out = z[self.val_episodes.to(z.device)]  # [T, N*K + N*Q, d]
            loss = float(objective.loss_fn(out, target).mean())
        return loss, objective.score_fn(out, target)
