"""The few-shot embedding head: GLAI (or the MLP it replaces) trained episodically on base
classes."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import replace
from numbers import Real
from typing import Any, cast

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from glai import params, validation
from glai.block import GLAI
from glai.fewshot.embedding import EmbeddingHead, zero_last_layer_
from glai.fewshot.prototypes import _query_targets, prototype_logits, prototypes, task_accuracies
from glai.fewshot.tasks import Tasks, sample_tasks
from glai.mlp import MLP
from glai.solvers import ITERATIVE_KINDS, get_solver, solver_names
from glai.solvers.auto import AUTO
from glai.structure import StopRule, StructureMonitor
from glai.training import (
    EpochRecord,
    History,
    TrainConfig,
    fit_glai,
    fit_mlp,
    predict_batched,
    resolve_device,
)
from glai.training.checkpoint import DATA_KEY, Checkpoint, data_digest
from glai.training.distributed import gather_rows, rank_and_world, shard_offset
from glai.training.plans import EpisodePlan
from glai.training.problem import Data, Objective, Rows

__all__ = ["FewShotHead", "train_episodes"]

# The head's arguments, in signature order: glai.params' entries, three of them as this head
# means them (patience counts checks; validation_fraction a share of the classes;
# out_features None is the input width).
_SPECS = tuple(
    params.fewshot_spec(name)
    for name in (
        "hidden_layer_sizes", "out_features", "kind", "residual", "scale", "n_way", "k_shot",
        "n_query", "episodes", "check_every", "learning_rate", "quant_learning_rate",
        "quant_optimizer", "weight_decay", "patience", "validation", "validation_fraction",
        "val_tasks", "rho", "budget", "structure_rule", "probe_size", "prune_dead",
        "checkpoint", "device", "random_state",
    )
)  # fmt: skip
_D = params.defaults(*_SPECS)
# the checkpoint's entry for the state of the head's numpy generator, which draws the tasks
_RNG_KEY = "episode_rng"


def train_episodes(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    y: np.ndarray,
    val_inputs: Sequence[torch.Tensor],
    val_tasks: Tasks,
    *,
    n_way: int,
    k_shot: int,
    n_query: int,
    episodes: int,
    check_every: int,
    lr: float,
    weight_decay: float,
    patience: int | None,
    history: History,
    phase: str,
    rng: np.random.Generator,
    monitor: StructureMonitor | None = None,
    structure: MLP | None = None,
    keep_best: bool = True,
) -> float:
    """Episodic training of ``model(*inputs) -> embeddings [n, d]`` with the prototype loss.

    Each step draws one task from ``y`` and minimises the cross-entropy of its queries under
    ``softmax(-||f(x) - c_n||^2)``. Every ``check_every`` episodes one record goes to
    ``history`` (``val_score``: mean accuracy on ``val_tasks``, which index
    ``val_inputs``); ``monitor`` (structural phase) then updates ``m_t`` of ``structure`` (the
    network inside ``model``; ``model`` itself when None) and may stop the phase, as may
    ``patience`` checks without a better score. Returns the best validation score (the
    check kept when ``keep_best``).

    .. deprecated:: 0.3
        :class:`FewShotHead` trains through the two-phase driver
        (:func:`glai.training.fit_glai` / :func:`~glai.training.fit_mlp` with an
        :class:`~glai.training.plans.EpisodePlan`: every solver, checkpoints, DDP); this loop
        is kept for one release and then removed.
    """
    warnings.warn(
        "train_episodes is deprecated (glai 0.3) and will be removed in glai 0.4: train "
        "through glai.training.fit_glai / fit_mlp with plan=glai.training.plans.EpisodePlan",
        FutureWarning,
        stacklevel=2,
    )
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    device = inputs[0].device
    target = _query_targets(n_way, n_query, device)
    n_support = n_way * k_shot
    best_score, best_state, since_best = -float("inf"), None, 0
    for first in range(0, episodes, check_every):
        count = min(check_every, episodes - first)
        tasks = sample_tasks(
            y, n_way=n_way, k_shot=k_shot, n_query=n_query, n_tasks=count, random_state=rng
        )
        order = torch.as_tensor(
            np.concatenate([tasks.support.reshape(count, -1), tasks.query.reshape(count, -1)], 1),
            device=device,
        )  # [count, N*K + N*Q]: support rows first, class-major
        model.train()
        total = torch.zeros((), device=device)
        for idx in order:
            z = model(*(t[idx] for t in inputs))
            protos = prototypes(z[:n_support].reshape(n_way, k_shot, -1))
            loss = nn.functional.cross_entropy(prototype_logits(z[n_support:], protos), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        accs, val_loss = task_accuracies(predict_batched(model, val_inputs), val_tasks)
        m_t, stable = None, False
        if monitor is not None:
            watched = structure if structure is not None else model
            stable = monitor.update(watched)  # type: ignore[arg-type]
            m_t = monitor.history[-1]
        history.records.append(EpochRecord(
            epoch=len(history.records) + 1, phase=phase, train_loss=float(total) / count,
            val_loss=val_loss, val_score=float(accs.mean()), seconds=history.elapsed(),
            path_distance=m_t,
        ))  # fmt: skip
        if accs.mean() > best_score:
            best_score, since_best = float(accs.mean()), 0
            if keep_best:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
        if stable or (patience is not None and since_best >= patience):
            break
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    return best_score


def _all_ranks(y: np.ndarray, world: int) -> np.ndarray:
    """The labels of every rank's rows, in rank order (``y`` itself in one process)."""
    if world == 1:
        return y
    every: list[Any] = [None] * world
    torch.distributed.all_gather_object(every, y)
    return np.concatenate(every)


def _task_rows(tasks: Tasks) -> torch.Tensor:
    """Tasks as row indices ``[T, N*K + N*Q]``: support first, class-major, then queries (the
    layout of :class:`~glai.training.plans.EpisodePlan`)."""
    t = len(tasks)
    return torch.as_tensor(
        np.concatenate([tasks.support.reshape(t, -1), tasks.query.reshape(t, -1)], 1)
    )


class _HeadEpisodes(EpisodePlan):
    """The head's episodes for the two-phase driver (:func:`glai.training.fit_glai`,
    :func:`~glai.training.fit_mlp`).

    Tasks are drawn by :func:`~glai.fewshot.sample_tasks` from the head's numpy generator
    ``rng``, ``check_every`` of them per epoch (one check); each network is trained inside the
    head's :class:`~glai.fewshot.embedding.EmbeddingHead` (``wrap``); validation is the
    nearest-class-mean accuracy on the fixed tasks ``val``. With a ``checkpoint``, the
    generator's state after each draw goes into the checkpoint's ``extra`` (the loop saves
    it at the end of the epoch), so that a resumed fit draws the tasks an uninterrupted one
    would.
    """

    prefix = "network."

    def __init__(
        self, *, n_way: int, k_shot: int, n_query: int, check_every: int, val: Tasks,
        rng: np.random.Generator, residual: bool, scale: float | None,
        checkpoint: Checkpoint | None = None,
    ) -> None:  # fmt: skip
        super().__init__(n_way, k_shot, n_query, check_every)
        self.val, self.rng, self.residual, self.scale = val, rng, residual, scale
        self.checkpoint = checkpoint

    def draw(self, y: torch.Tensor, n_tasks: int, generator: torch.Generator) -> torch.Tensor:
        tasks = sample_tasks(
            y.cpu().numpy(), n_way=self.n_way, k_shot=self.k_shot, n_query=self.n_query,
            n_tasks=n_tasks, random_state=self.rng,
        )  # fmt: skip
        if self.checkpoint is not None:
            self.checkpoint.extra[_RNG_KEY] = self.rng.bit_generator.state
        return _task_rows(tasks).to(y.device)

    def wrap(self, network: nn.Module) -> nn.Module:
        return EmbeddingHead(network, residual=self.residual, scale=self.scale)

    def validate(self, model: nn.Module, rows: Rows, objective: Objective) -> tuple[float, float]:
        accs, val_loss = task_accuracies(predict_batched(model, rows.inputs), self.val)
        return val_loss, float(accs.mean())


class FewShotHead(TransformerMixin, BaseEstimator):
    """An embedding head ``x [N, n_0] -> z [N, out_features]`` for nearest-class-mean
    few-shot classification, trained episodically on base classes (prototypical networks).

    ``kind="glai"``: a :class:`glai.GLAI` block replacing the MLP ``n_0 -> hidden_layer_sizes
    -> out_features``: structural phase (episodic, ``m_t`` checked on a fixed probe of base
    features every ``check_every`` episodes until ``structure_rule`` calls it stable), freeze,
    quantitative phase (episodic, on gates computed once). ``kind="mlp"``: that MLP.

    The embedding is ``z = sqrt(scale) * u / ||u||`` with ``u = x + f(x)`` (residual: the
    default when ``out_features`` is the input width, its default) or ``u = f(x)``
    (:class:`glai.fewshot.embedding.EmbeddingHead`). The check kept is the best on tasks of
    held-out base *classes* (``validation="classes"``); a residual head starts at ``f = 0``
    (its input) and returns there when no check beats that start. Measured in BENCHMARKS.md
    (issue 17): without these, both heads lost 3-15 points to their own input on novel
    WordNet classes. A GLAI head of the input width needs a budget of at least one path per
    output, ``(n_0 + 1) n_0 + n_0``: the matched budget holds it while ``n_0`` is below about
    twice the hidden width.

    Both kinds train through the two-phase driver, so they take its checkpoints
    (``checkpoint``: a resumed fit is the uninterrupted one, bit for bit), its iterative
    solvers (``quant_optimizer``; the closed-form ones and ``"auto"`` are refused: the
    prototype loss is not least squares) and its DDP (see :meth:`fit`).

    Fitted attributes: ``classes_`` (base classes), ``n_features_in_``, ``model_`` (the
    :class:`glai.GLAI` or :class:`glai.MLP`, an ``nn.Module``: usable as the backbone of a
    prototypical network elsewhere; an :class:`~glai.fewshot.embedding.EmbeddingHead`),
    ``history_``, ``fit_seconds_``, ``n_trainable_params_``,
    ``best_val_score_``, ``n_iter_`` (checks), ``network_`` (the :class:`glai.GLAI` or
    :class:`glai.MLP` inside ``model_``), ``residual_``, ``out_features_``,
    ``validation_`` (what was held out: ``"classes"``, ``"samples"`` or ``"none"``),
    ``identity_val_score_`` (residual heads: the start's validation score; None otherwise),
    ``kept_identity_`` (whether the head returned to it), ``scale_`` (the scale used: the
    one chosen among candidates), ``scale_scores_`` (candidate -> validation score; None for
    one scale); GLAI only:
    ``structure_frozen_epoch_``, ``path_distance_``.
    """

    _parameter_constraints: dict[str, list[Any]] = params.constraints(*_SPECS)

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = _D["hidden_layer_sizes"],
        out_features: int | None = _D["out_features"],
        *,
        kind: str = _D["kind"],
        residual: bool | str = _D["residual"],
        scale: float | Sequence[float] | None = _D["scale"],
        n_way: int = _D["n_way"],
        k_shot: int = _D["k_shot"],
        n_query: int = _D["n_query"],
        episodes: int = _D["episodes"],
        check_every: int = _D["check_every"],
        learning_rate: float = _D["learning_rate"],
        quant_learning_rate: float | None = _D["quant_learning_rate"],
        quant_optimizer: str = _D["quant_optimizer"],
        weight_decay: float = _D["weight_decay"],
        patience: int | None = _D["patience"],
        validation: str = _D["validation"],
        validation_fraction: float = _D["validation_fraction"],
        val_tasks: int = _D["val_tasks"],
        rho: float | str = _D["rho"],
        budget: int | str | None = _D["budget"],
        structure_rule: str | StopRule = _D["structure_rule"],
        probe_size: int = _D["probe_size"],
        prune_dead: bool = _D["prune_dead"],
        checkpoint: str | os.PathLike[str] | None = _D["checkpoint"],
        device: str | torch.device = _D["device"],
        random_state: int | np.random.RandomState | None = _D["random_state"],
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.out_features = out_features
        self.kind = kind
        self.residual = residual
        self.scale = scale
        self.n_way = n_way
        self.k_shot = k_shot
        self.n_query = n_query
        self.episodes = episodes
        self.check_every = check_every
        self.learning_rate = learning_rate
        self.quant_learning_rate = quant_learning_rate
        self.quant_optimizer = quant_optimizer
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation = validation
        self.validation_fraction = validation_fraction
        self.val_tasks = val_tasks
        self.rho = rho
        self.budget = budget
        self.structure_rule = structure_rule
        self.probe_size = probe_size
        self.prune_dead = prune_dead
        self.checkpoint = checkpoint
        self.device = device
        self.random_state = random_state

    def _split(self, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
        """Indices (train, val) and what was held out.

        ``"classes"``: ``validation_fraction`` of the base classes (at least 2), when at least
        2 classes remain to train on; else, as ``"samples"``: ``validation_fraction`` of each
        class, where enough of it remains for a task; ``"none"`` when neither leaves 2 classes
        to validate on (the training data then serve).
        """
        classes = np.unique(y)
        if self.validation == "classes":
            n_val = max(2, int(round(self.validation_fraction * len(classes))))
            if len(classes) - n_val >= 2:
                held = np.isin(y, rng.permutation(classes)[:n_val])
                return np.flatnonzero(~held), np.flatnonzero(held), "classes"
        need = self.k_shot + self.n_query
        train, val = [], []
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            n_val = int(round(self.validation_fraction * len(idx)))
            if n_val >= need and len(idx) - n_val >= need:
                val.append(idx[:n_val])
                idx = idx[n_val:]
            train.append(idx)
        tr = np.sort(np.concatenate(train))
        if len(val) < 2:
            return tr, tr, "none"
        return tr, np.sort(np.concatenate(val)), "samples"

    def _width(self, n_features: int) -> tuple[int, bool]:
        """``(out_features, residual)`` as fitted."""
        d = n_features if self.out_features is None else int(self.out_features)
        residual = d == n_features if self.residual == "auto" else bool(self.residual)
        if residual and d != n_features:
            raise ValueError(
                f"residual=True needs out_features equal to the input width {n_features} "
                f"(z = x + f(x)), got out_features={d}; pass out_features=None or "
                "residual=False"
            )
        return d, residual

    def _candidate_scales(self) -> list[float] | None:
        """The candidate scales when ``scale`` is a sequence (refused unless non-empty, finite
        and positive); None for one scale."""
        if self.scale is None or isinstance(self.scale, Real):
            return None
        values = np.asarray(self.scale, dtype=np.float64).ravel()
        if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(
                "scale as a sequence must hold at least one finite positive float (candidate "
                f"squared norms of the embedding), got {self.scale!r}"
            )
        return [float(v) for v in values]

    def fit(self, X: Any, y: Any) -> FewShotHead:
        """Train on base classes: ``X [n_samples, n_features]``, ``y [n_samples]``.

        With candidate scales (``scale`` a sequence), one head per candidate is trained with
        the same seed (the same held-out classes, validation tasks and training episodes)
        and the one whose validation score ``max(best check, start)`` is highest is kept:
        the temperature is selected with the check, on the held-out base classes. With a
        ``checkpoint``, candidate ``i`` checkpoints to the file ``f"{checkpoint}.scale{i}"``.

        Under ``torch.distributed`` (a process group initialised, e.g. by ``torchrun``),
        every rank passes its contiguous shard of the rows, in rank order: the split, the
        validation tasks and the training tasks are drawn over the rows of all ranks, the
        same on each, and the driver's DDP (:class:`~glai.training.plans.EpisodePlan`) gives
        every rank the single-process gradient, so the head is the one a single process
        fits on all the rows.
        """
        self._validate_params()
        self._check_solver()
        if self.checkpoint is not None and not isinstance(self.random_state, int | np.integer):
            raise ValueError(
                f"checkpoint needs random_state (an int), got {self.random_state!r}: a resumed "
                "fit replays the same held-out classes, validation tasks and episodes"
            )
        candidates = self._candidate_scales()
        if candidates is not None:
            return self._fit_scales(X, y, candidates)
        return self._fit_one(X, y)

    def _fit_scales(self, X: Any, y: Any, candidates: list[float]) -> FewShotHead:
        # an int seed as given (scale=[s] fits as scale=s), else one drawn for all candidates
        seed = (
            self.random_state
            if isinstance(self.random_state, int | np.integer)
            else int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        )
        fitted, scores = [], []
        for i, s in enumerate(candidates):
            path = None if self.checkpoint is None else f"{os.fspath(self.checkpoint)}.scale{i}"
            head = clone(self).set_params(scale=s, random_state=seed, checkpoint=path)
            head._fit_one(X, y)
            score = max(
                v for v in (head.best_val_score_, head.identity_val_score_, -np.inf)
                if v is not None
            )  # fmt: skip
            fitted.append(head)
            scores.append(float(score))
        best = fitted[int(np.argmax(scores))]  # ties: the first candidate
        self.__dict__.update({k: v for k, v in vars(best).items() if k.endswith("_")})
        self.scale_ = best.model_.scale
        self.scale_scores_: dict[float, float] | None = dict(zip(candidates, scores, strict=True))
        # the selection's cost: every candidate's training
        self.fit_seconds_ = float(sum(h.fit_seconds_ for h in fitted))
        return self

    def _check_solver(self) -> None:
        """The prototype loss has no closed form: refuse those solvers and "auto" by name."""
        name = self.quant_optimizer
        if name == AUTO or get_solver(name).kind == "closed_form":
            raise ValueError(
                f"quant_optimizer={name!r} does not apply to FewShotHead: the prototype loss "
                "is not a least-squares loss against per-row targets, so no closed-form solver "
                f"fits it (nor {AUTO!r}, which may choose one); choose one of "
                f"{', '.join(solver_names(ITERATIVE_KINDS))}"
            )

    def _checkpoint_for(
        self, x: torch.Tensor, encoded: np.ndarray, world: int
    ) -> tuple[Checkpoint | None, dict[str, Any] | None]:
        """The checkpoint of this fit (None without ``checkpoint``), tied to the settings and
        to the content of this rank's rows ``x`` and labels ``encoded``; and the numpy
        generator's saved state when there is one to resume from (else None)."""
        if self.checkpoint is None:
            return None, None
        settings = {
            k: v if v is None or isinstance(v, int | float | str | tuple) else repr(v)
            for k, v in self.get_params().items()
            if k != "checkpoint"
        }
        ckpt = Checkpoint(self.checkpoint, {
            "kind": "fewshot-head", **settings, "classes": repr(self.classes_.tolist()),
            "world_size": world, DATA_KEY: data_digest(x, torch.as_tensor(encoded)),
        })  # fmt: skip
        state = ckpt.load()
        return ckpt, None if state is None else state["extra"].get(_RNG_KEY)

    def _one_scale(self) -> float | None:
        """``scale`` when it is one value (None or a float)."""
        return None if self.scale is None else float(cast(float, self.scale))

    def _fit_one(self, X: Any, y: Any) -> FewShotHead:
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64])
        X = validation.as_float32("X", X)  # finite in float64 may be inf in float32
        check_classification_targets(y)
        # under torch.distributed: this rank holds the global rows [lo, lo + len(X)) of n_all
        _, world = rank_and_world()
        lo, n_all = shard_offset(len(X), world)
        self.classes_, encoded = np.unique(_all_ranks(y, world), return_inverse=True)
        need = self.k_shot + self.n_query
        counts = np.bincount(encoded)
        if counts.min() < need or self.n_way > len(self.classes_):
            # the same checks, and message, as the sampler
            sample_tasks(encoded, n_way=self.n_way, k_shot=self.k_shot, n_query=self.n_query,
                         n_tasks=1)  # fmt: skip
        d, residual = self._width(X.shape[1])
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        rng = np.random.default_rng(seed)
        train_idx, val_idx, held_out = self._split(encoded, rng)  # global rows
        n_val_classes = len(np.unique(encoded[val_idx]))
        n_train_classes = len(np.unique(encoded[train_idx]))
        device = resolve_device(self.device)
        x = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32, device=device)
        mine = train_idx[(train_idx >= lo) & (train_idx < lo + len(X))]  # this rank's, global
        x_train = x[torch.as_tensor(mine - lo)]
        x_val = gather_rows(x, torch.as_tensor(val_idx), lo, world)  # whole on every rank
        y_train = encoded[mine]
        ckpt, saved_rng = self._checkpoint_for(x, encoded[lo : lo + len(X)], world)
        val = sample_tasks(
            encoded[val_idx], n_way=min(self.n_way, n_val_classes), k_shot=self.k_shot,
            n_query=self.n_query, n_tasks=self.val_tasks, random_state=rng,
        )  # fmt: skip
        n_epochs = -(-self.episodes // self.check_every)  # one epoch: check_every episodes
        plan = _HeadEpisodes(
            # classes held out for validation leave fewer to draw training tasks from
            n_way=min(self.n_way, n_train_classes), k_shot=self.k_shot, n_query=self.n_query,
            check_every=self.check_every, val=val, rng=rng, residual=residual,
            scale=self._one_scale(), checkpoint=ckpt,
        )  # fmt: skip
        # no warm-up, shrinkage or L2 term: Adam with this head's weight decay, as before
        config = TrainConfig(
            lr=self.learning_rate, weight_decay=self.weight_decay, max_epochs=n_epochs,
            patience=self.patience, warmup_steps=0, shrinkage=0.0, l2=0.0,
        )  # fmt: skip
        data = Data(
            x_train, torch.as_tensor(y_train, device=device), x_val,
            torch.as_tensor(encoded[val_idx], device=device),
        )  # fmt: skip
        history = History()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            if self.kind == "mlp":
                network = MLP(X.shape[1], self.hidden_layer_sizes, d, device=device)
                if residual:
                    zero_last_layer_(network)
                model = EmbeddingHead(network, residual=residual, scale=self._one_scale())
                start = self._start_score(model, (x_val,), val)
                if saved_rng is not None:  # resumed: the tasks go on from the checkpoint's
                    rng.bit_generator.state = saved_rng
                fit_mlp(
                    network, data, plan.objective, config=config,
                    generator=torch.Generator().manual_seed(seed), plan=plan, history=history,
                    checkpoint=ckpt,
                )  # fmt: skip
            else:
                model, start = self._fit_glai(
                    data, val, plan, config, history, d, residual, saved_rng
                )
        final = history.best(phase=history.final_phase)
        best = -float("inf") if final is None else final.val_score
        # a residual head that no check improved goes back to its input (choice: ties too,
        # the simpler embedding)
        self.identity_val_score_ = start
        self.kept_identity_ = start is not None and start >= best
        if self.kept_identity_:
            model.reset_to_identity_()
        model.eval()
        self.model_, self.network_, self.history_ = model, model.network, history
        self.out_features_, self.residual_, self.validation_ = d, residual, held_out
        self.scale_ = self._one_scale()
        self.scale_scores_ = None
        self.fit_seconds_ = history.records[-1].seconds if history.records else 0.0
        self.n_iter_ = len(history.records)
        best_record = history.best(phase=history.final_phase)
        self.best_val_score_ = None if best_record is None else best_record.val_score
        self.n_trainable_params_ = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return self

    @staticmethod
    def _start_score(
        model: EmbeddingHead, val_inputs: tuple[torch.Tensor, ...], val: Tasks
    ) -> float | None:
        """A residual head's validation score at ``f = 0`` (its input); None otherwise."""
        if not model.residual:
            return None
        return float(task_accuracies(predict_batched(model, val_inputs), val)[0].mean())

    def _fit_glai(
        self,
        data: Data,
        val: Tasks,
        plan: _HeadEpisodes,
        config: TrainConfig,
        history: History,
        d: int,
        residual: bool,
        saved_rng: dict[str, Any] | None,
    ) -> tuple[EmbeddingHead, float | None]:
        x = data.X
        try:
            block = GLAI(
                x.shape[1], self.hidden_layer_sizes, d, rho=self.rho, budget=self.budget,
                prune_dead=self.prune_dead, device=x.device,
            )  # fmt: skip
        except ValueError as e:
            if self.out_features is not None:
                raise
            raise ValueError(
                f"{e}. (out_features=None: the embedding is the input width {d}; pass that "
                "budget, or out_features < the input width with residual=False)"
            ) from None
        assert block.structure is not None
        if residual:
            zero_last_layer_(block.structure)
        model = EmbeddingHead(block, residual=residual, scale=self._one_scale())
        start = self._start_score(model, (data.X_val,), val)
        _, world = rank_and_world()
        lo, n_train = shard_offset(len(x), world)  # the training rows of every rank
        probe_idx = plan.rng.permutation(n_train)[: self.probe_size]
        probe = gather_rows(x, torch.as_tensor(probe_idx), lo, world)
        monitor = StructureMonitor(probe, rule=self.structure_rule)
        quant = replace(
            config, optimizer=self.quant_optimizer,
            lr=params.quant_learning_rate(self.learning_rate, self.quant_learning_rate),
        )  # fmt: skip
        if saved_rng is not None:  # resumed: the tasks go on from the checkpoint's
            plan.rng.bit_generator.state = saved_rng
        # the stop rule counts checks (epochs of check_every episodes); so does max_epochs
        fit_glai(
            block, data, plan.objective, structural=config, quantitative=quant,
            monitor=monitor, generator=torch.Generator().manual_seed(1), plan=plan,
            history=history, checkpoint=plan.checkpoint,
        )  # fmt: skip
        self.structure_frozen_epoch_ = len(monitor.history)
        self.path_distance_ = list(monitor.history)
        return model, start

    def transform(self, X: Any) -> np.ndarray:
        """Embeddings ``[n_samples, out_features_]`` (float32) of ``X [n_samples, n_features]``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        X = validation.as_float32("X", X)
        param = next(self.model_.parameters())
        x = torch.as_tensor(np.ascontiguousarray(X)).to(device=param.device, dtype=param.dtype)
        # Computed in float64 so that a row's embedding does not depend on the rows embedded
        # with it (see predict_batched), then given back in the model's float32.
        z = predict_batched(self.model_, (x,), dtype=torch.float64)
        return z.to(param.dtype).cpu().numpy()


FewShotHead.__doc__ = (FewShotHead.__doc__ or "") + "\n" + params.numpydoc(*_SPECS)
