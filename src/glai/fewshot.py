"""Few-shot classification on frozen features with a GLAI (or MLP) embedding head.

A few-shot task (an *episode*) draws ``N`` classes (``n_way``), ``K`` labelled *support*
samples (``k_shot``) and ``Q`` *query* samples (``n_query``) of each. A query is classified
by the nearest class mean (prototype) of the support embeddings, as in prototypical networks
(Snell, Swersky & Zemel, 2017, arXiv:1703.05175):

    c_n = (1/K) sum_k f(x_{n,k}),     p(y = n | x) = softmax_n( -||f(x) - c_n||^2 )

``f`` is the identity for the reference (nearest class mean on the raw features) or a head
trained episodically on *base* classes and evaluated on disjoint *novel* classes: the GLAI
block of GreenLightningAI (Mestre et al., 2025, arXiv:2510.00883), with its structural phase
(an MLP tracked by the path distance ``m_t``), the freeze and the quantitative phase on cached
gates, or the MLP it replaces.

The sampler has the semantics of easyfsl's ``TaskSampler`` (N distinct classes, then K + Q
distinct samples of each, support first). easyfsl itself is not a dependency: installing it
pulls torchvision, whose current release needs another torch than the one glai pins.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from glai.block import GLAI
from glai.estimators import GLAI_DEFAULTS as _G
from glai.mlp import MLP
from glai.structure import StopRule, StructureMonitor
from glai.training import EpochRecord, History, predict_batched, resolve_device

__all__ = [
    "Tasks",
    "sample_tasks",
    "prototypes",
    "prototype_logits",
    "task_accuracies",
    "evaluate",
    "FewShotHead",
]

RandomState = int | np.random.Generator | None


def _positive(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Tasks:
    """``T`` few-shot tasks as indices into one data set ``(X, y)``.

    Attributes:
        support: int64 ``[T, N, K]``: ``support[t, n]`` are the K support samples of class n.
        query: int64 ``[T, N, Q]``, disjoint from the support of the same task.
        classes: ``[T, N]`` the label of ``support[t, n]`` and ``query[t, n]`` (N distinct).
    """

    support: np.ndarray
    query: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.support)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(T, N, K, Q)``."""
        t, n, k = self.support.shape
        return t, n, k, self.query.shape[2]


def _check_labels(y: Any, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"{name} must be a non-empty 1-d array of labels, got shape {y.shape}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinity; labels must be finite")
    return y


def sample_tasks(
    y: Any,
    *,
    n_way: int,
    k_shot: int,
    n_query: int,
    n_tasks: int,
    random_state: RandomState = None,
) -> Tasks:
    """Draw ``n_tasks`` tasks of ``n_way`` classes with ``k_shot + n_query`` samples each.

    Every class of ``y`` may be drawn, so each needs at least ``k_shot + n_query`` samples:
    pass the labels of the novel classes only to evaluate on them. Same ``random_state`` (an
    int), same tasks.

    Args:
        y: labels ``[n_samples]`` (any hashable values).
        random_state: int seed, ``numpy.random.Generator`` (advanced in place) or None.

    Raises:
        ValueError: a class with fewer than ``k_shot + n_query`` samples, or ``n_way`` larger
            than the number of classes.
    """
    y = _check_labels(y)
    n_way = _positive("n_way", n_way)
    k_shot = _positive("k_shot", k_shot)
    n_query = _positive("n_query", n_query)
    n_tasks = _positive("n_tasks", n_tasks)
    labels, encoded = np.unique(y, return_inverse=True)
    need = k_shot + n_query
    counts = np.bincount(encoded, minlength=len(labels))
    if counts.min() < need:
        small = np.flatnonzero(counts < need)
        raise ValueError(
            f"{len(small)} class(es) have fewer than k_shot + n_query = {need} samples "
            f"(class {labels[small[0]]!r} has {counts[small[0]]}); lower k_shot or n_query, "
            "or drop those classes from y"
        )
    if n_way > len(labels):
        raise ValueError(
            f"n_way={n_way} is larger than the {len(labels)} classes in y; lower n_way"
        )
    rng = np.random.default_rng(random_state)
    members = np.argsort(encoded, kind="stable")  # the samples of class c: members[start[c]:...]
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # N distinct classes per task: the first N of a random permutation of the classes.
    chosen = rng.random((n_tasks, len(labels))).argsort(axis=1)[:, :n_way]
    # K + Q distinct members per (task, class): draw with replacement, redraw the rows that
    # hold a repeat (rare unless a class barely has K + Q samples).
    size = counts[chosen][..., None]  # [T, N, 1]
    pos = rng.integers(0, size, size=(n_tasks, n_way, need))
    srt = np.sort(pos, axis=-1)
    for t, n in zip(*np.nonzero((srt[..., 1:] == srt[..., :-1]).any(-1))):
        pos[t, n] = rng.choice(size[t, n, 0], need, replace=False)
    picks = members[start[chosen][..., None] + pos]
    return Tasks(picks[:, :, :k_shot], picks[:, :, k_shot:], labels[chosen])


def prototypes(support: torch.Tensor) -> torch.Tensor:
    """Class means ``c_n = (1/K) sum_k z_{n,k}``: ``support [..., N, K, d] -> [..., N, d]``."""
    return support.mean(dim=-2)


def prototype_logits(query: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """``-||z_q - c_n||^2``: ``query [..., M, d]``, ``protos [..., N, d] -> [..., M, N]``."""
    sq = (query * query).sum(-1, keepdim=True) + (protos * protos).sum(-1).unsqueeze(-2)
    return -(sq - 2 * query @ protos.transpose(-1, -2)).clamp(min=0)


def _task_logits(z: torch.Tensor, support: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Embeddings ``z [n, d]``, support ``[T, N, K]``, query ``[T, N, Q]`` -> ``[T, N*Q, N]``."""
    t, n, q = query.shape
    return prototype_logits(z[query].reshape(t, n * q, -1), prototypes(z[support]))


def _query_targets(n_way: int, n_query: int, device: torch.device) -> torch.Tensor:
    """The class index of each query row of :func:`_task_logits`: ``[N*Q]``."""
    return torch.arange(n_way, device=device).repeat_interleave(n_query)


def task_accuracies(
    embeddings: torch.Tensor, tasks: Tasks, *, chunk: int = 100
) -> tuple[np.ndarray, float]:
    """Nearest-class-mean accuracy of each task, and the mean prototype loss over queries.

    Args:
        embeddings: ``[n_samples, d]``, the rows ``tasks`` index.
        chunk: tasks scored at once (bounds memory: ``chunk * N * Q * d`` floats).

    Returns:
        accuracies float64 ``[T]`` (ties go to the first class), mean cross-entropy of
        ``softmax(-||z - c_n||^2)``.
    """
    _, n_way, _, n_query = tasks.shape
    target = _query_targets(n_way, n_query, embeddings.device)
    accs, loss_sum = [], 0.0
    with torch.no_grad():
        for i in range(0, len(tasks), chunk):
            s = torch.as_tensor(tasks.support[i : i + chunk], device=embeddings.device)
            q = torch.as_tensor(tasks.query[i : i + chunk], device=embeddings.device)
            logits = _task_logits(embeddings, s, q)  # [t, N*Q, N]
            accs.append((logits.argmax(-1) == target).double().mean(-1).cpu())
            loss_sum += float(
                nn.functional.cross_entropy(
                    logits.reshape(-1, n_way), target.repeat(len(s)), reduction="sum"
                )
            )
    return torch.cat(accs).numpy(), loss_sum / (len(tasks) * n_way * n_query)


def _check_X(X: Any, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float32) if not isinstance(X, np.ndarray) else X
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-d array [n_samples, n_features], "
                         f"got shape {X.shape}")  # fmt: skip
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def evaluate(
    X: Any,
    y: Any,
    *,
    transform: Callable[[np.ndarray], Any] | Any = None,
    n_way: int = 5,
    k_shot: int = 1,
    n_query: int = 15,
    n_tasks: int = 1000,
    random_state: RandomState = None,
) -> dict[str, Any]:
    """Few-shot accuracy of nearest-class-mean classification on ``n_tasks`` tasks.

    Args:
        X: features ``[n_samples, n_features]`` of the evaluation (novel) classes.
        y: their labels ``[n_samples]``; every class needs ``k_shot + n_query`` samples.
        transform: embedding ``X -> [n_samples, d]``: a callable, an object with a
            ``transform`` method (a fitted :class:`FewShotHead`), or None for the raw features
            (the reference every head must beat).
        random_state: seed of the tasks: the same int gives every head the same tasks.

    Returns:
        ``accuracy`` (mean over tasks), ``ci95`` (``1.96 std / sqrt(n_tasks)``, population
        std over tasks), ``std``, ``loss`` (mean query cross-entropy), ``seconds`` (embedding
        and scoring, wall-clock), ``task_accuracies`` (float64 ``[n_tasks]``, for paired
        tests), and the task shape ``n_way, k_shot, n_query, n_tasks``.
    """
    X = _check_X(X)
    y = _check_labels(y)
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    tasks = sample_tasks(
        y, n_way=n_way, k_shot=k_shot, n_query=n_query, n_tasks=n_tasks,
        random_state=random_state,
    )  # fmt: skip
    start = time.perf_counter()
    if transform is None:
        z = X
    elif hasattr(transform, "transform"):
        z = transform.transform(X)
    elif callable(transform):
        z = transform(X)
    else:
        raise ValueError(
            f"transform must be None, a callable or have a transform method, got {transform!r}"
        )
    z_t = torch.as_tensor(np.asarray(z, dtype=np.float32))
    if z_t.ndim != 2 or len(z_t) != len(X):
        raise ValueError(f"transform returned shape {tuple(z_t.shape)}, expected [{len(X)}, d]")
    accs, loss = task_accuracies(z_t, tasks)
    seconds = time.perf_counter() - start
    return {
        "accuracy": float(accs.mean()),
        "ci95": float(1.96 * accs.std() / np.sqrt(len(accs))),
        "std": float(accs.std()),
        "loss": loss,
        "seconds": seconds,
        "task_accuracies": accs,
        "n_way": n_way,
        "k_shot": k_shot,
        "n_query": n_query,
        "n_tasks": n_tasks,
    }


# -- the head -------------------------------------------------------------------------------


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
    keep_best: bool = True,
) -> None:
    """Episodic training of ``model(*inputs) -> embeddings [n, d]`` with the prototype loss.

    Each step draws one task from ``y`` and minimises the cross-entropy of its queries under
    ``softmax(-||f(x) - c_n||^2)``. Every ``check_every`` episodes one record goes to
    ``history`` (``val_score``: mean accuracy on ``val_tasks``, which index
    ``val_inputs``); ``monitor`` (structural phase) then updates ``m_t`` and may stop the
    phase, as may ``patience`` checks without a better score. (Not
    :func:`glai.training.train_epochs`: that loop draws i.i.d. minibatches, an episode is a
    structured batch; records, clock and phases are the same.)
    """
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
            stable = monitor.update(model)  # type: ignore[arg-type]
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


class FewShotHead(TransformerMixin, BaseEstimator):
    """An embedding head ``x [N, n_0] -> z [N, out_features]`` for nearest-class-mean
    few-shot classification, trained episodically on base classes (prototypical networks).

    ``kind="glai"``: a :class:`glai.GLAI` block replacing the MLP ``n_0 -> hidden_layer_sizes
    -> out_features``: structural phase (episodic, ``m_t`` checked on a fixed probe of base
    features every ``check_every`` episodes until ``structure_rule`` calls it stable), freeze,
    quantitative phase (episodic, on gates computed once). ``kind="mlp"``: that MLP.

    Args:
        hidden_layer_sizes, out_features: the MLP being replaced (``out_features`` is the
            embedding width d).
        n_way, k_shot, n_query: the training tasks (base classes). Training with more ways
            than the test tasks helps prototypical networks (Snell et al., section 3.2).
        episodes: training episodes (per phase for GLAI).
        check_every: episodes between two checks (validation, ``m_t``, early stopping): the
            "epoch" of :class:`glai.StopRule` and of ``history_``.
        patience: checks without a better validation score before stopping (None: never).
        validation_fraction: share of each base class held out for validation tasks (the
            training data serve when too few samples are left).
        rho, budget, structure_rule, probe_size, prune_dead: as in :class:`glai.GLAI` and
            :class:`glai.GLAIClassifier`.
        quant_learning_rate: the quantitative phase's step (default ``learning_rate / 3``).

    Fitted attributes: ``classes_`` (base classes), ``n_features_in_``, ``model_`` (the
    :class:`glai.GLAI` or :class:`glai.MLP`, an ``nn.Module``: usable as the backbone of a
    prototypical network elsewhere), ``history_``, ``fit_seconds_``, ``n_trainable_params_``,
    ``best_val_score_``, ``n_iter_`` (checks); GLAI only: ``structure_frozen_epoch_``,
    ``path_distance_``.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "out_features": [Interval(Integral, 1, None, closed="left")],
        "kind": [StrOptions({"glai", "mlp"})],
        "n_way": [Interval(Integral, 2, None, closed="left")],
        "k_shot": [Interval(Integral, 1, None, closed="left")],
        "n_query": [Interval(Integral, 1, None, closed="left")],
        "episodes": [Interval(Integral, 1, None, closed="left")],
        "check_every": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "quant_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "val_tasks": [Interval(Integral, 1, None, closed="left")],
        "rho": [StrOptions({"auto"}), Interval(Real, 1, None, closed="left")],
        "budget": [StrOptions({"match"}), Interval(Integral, 1, None, closed="left"), None],
        "structure_rule": [StrOptions({"threshold", "relative", "window", "epochs"}), StopRule],
        "probe_size": [Interval(Integral, 1, None, closed="left")],
        "prune_dead": ["boolean"],
        "device": [str, torch.device],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = (256,),
        out_features: int = 128,
        *,
        kind: str = "glai",
        n_way: int = 10,
        k_shot: int = 5,
        n_query: int = 10,
        episodes: int = 3000,
        check_every: int = 100,
        learning_rate: float = 1e-3,
        quant_learning_rate: float | None = _G["quant_learning_rate"],
        weight_decay: float = 0.0,
        patience: int | None = 5,
        validation_fraction: float = 0.1,
        val_tasks: int = 200,
        rho: float | str = _G["rho"],
        budget: int | str | None = _G["budget"],
        structure_rule: str | StopRule = _G["structure_rule"],
        probe_size: int = _G["probe_size"],
        prune_dead: bool = _G["prune_dead"],
        device: str | torch.device = "cpu",
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.out_features = out_features
        self.kind = kind
        self.n_way = n_way
        self.k_shot = k_shot
        self.n_query = n_query
        self.episodes = episodes
        self.check_every = check_every
        self.learning_rate = learning_rate
        self.quant_learning_rate = quant_learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.val_tasks = val_tasks
        self.rho = rho
        self.budget = budget
        self.structure_rule = structure_rule
        self.probe_size = probe_size
        self.prune_dead = prune_dead
        self.device = device
        self.random_state = random_state

    def _split(self, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Indices (train, val): ``validation_fraction`` of each class, when enough remain."""
        need = self.k_shot + self.n_query
        train, val = [], []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            n_val = int(round(self.validation_fraction * len(idx)))
            if n_val >= need and len(idx) - n_val >= need:
                val.append(idx[:n_val])
                idx = idx[n_val:]
            train.append(idx)
        tr = np.sort(np.concatenate(train))
        va = np.sort(np.concatenate(val)) if val else np.empty(0, dtype=np.int64)
        return tr, va

    def fit(self, X: Any, y: Any) -> FewShotHead:
        """Train on base classes: ``X [n_samples, n_features]``, ``y [n_samples]``."""
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64])
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        need = self.k_shot + self.n_query
        counts = np.bincount(encoded)
        if counts.min() < need or self.n_way > len(self.classes_):
            # the same checks, and message, as the sampler
            sample_tasks(encoded, n_way=self.n_way, k_shot=self.k_shot, n_query=self.n_query,
                         n_tasks=1)  # fmt: skip
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        rng = np.random.default_rng(seed)
        train_idx, val_idx = self._split(encoded, rng)
        n_val_classes = len(np.unique(encoded[val_idx]))
        if n_val_classes < 2:  # too few held out: validate on the training data
            val_idx = train_idx
            n_val_classes = len(self.classes_)
        device = resolve_device(self.device)
        x = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32, device=device)
        x_train, x_val = x[torch.as_tensor(train_idx)], x[torch.as_tensor(val_idx)]
        y_train = encoded[train_idx]
        val = sample_tasks(
            encoded[val_idx], n_way=min(self.n_way, n_val_classes), k_shot=self.k_shot,
            n_query=self.n_query, n_tasks=self.val_tasks, random_state=rng,
        )  # fmt: skip
        common: dict[str, Any] = {
            "n_way": self.n_way, "k_shot": self.k_shot, "n_query": self.n_query,
            "episodes": self.episodes, "check_every": self.check_every,
            "weight_decay": self.weight_decay, "patience": self.patience, "rng": rng,
        }  # fmt: skip
        history = History()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            if self.kind == "mlp":
                model: nn.Module = MLP(X.shape[1], self.hidden_layer_sizes, self.out_features,
                                       device=device)  # fmt: skip
                train_episodes(
                    model, (x_train,), y_train, (x_val,), val, lr=self.learning_rate,
                    history=history, phase="mlp", **common,
                )  # fmt: skip
            else:
                model = self._fit_glai(x_train, y_train, x_val, val, history, common)
        model.eval()
        self.model_, self.history_ = model, history
        self.fit_seconds_ = history.records[-1].seconds if history.records else 0.0
        self.n_iter_ = len(history.records)
        best = history.best(phase=history.final_phase)
        self.best_val_score_ = None if best is None else best.val_score
        self.n_trainable_params_ = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return self

    def _fit_glai(
        self,
        x: torch.Tensor,
        y: np.ndarray,
        x_val: torch.Tensor,
        val: Tasks,
        history: History,
        common: dict[str, Any],
    ) -> GLAI:
        block = GLAI(
            x.shape[1], self.hidden_layer_sizes, self.out_features, rho=self.rho,
            budget=self.budget, prune_dead=self.prune_dead, device=x.device,
        )  # fmt: skip
        assert block.structure is not None
        probe_idx = common["rng"].permutation(len(x))[: self.probe_size]
        monitor = StructureMonitor(x[torch.as_tensor(probe_idx)], rule=self.structure_rule)
        monitor.update(block.structure)  # reference patterns at initialisation
        structural = {
            **common, "patience": None,
            # the stop rule counts checks; max_epochs bounds the phase like `episodes` does
            "episodes": min(self.episodes, monitor.rule.max_epochs * self.check_every),
        }  # fmt: skip
        train_episodes(
            block.structure, (x,), y, (x_val,), val, lr=self.learning_rate, history=history,
            phase="structural", monitor=monitor, keep_best=False, **structural,
        )  # fmt: skip
        t0 = history.elapsed()
        block.freeze_structure(monitor.probe_x)
        assert block.path_model is not None
        gates, gates_val = block.gates(x), block.gates(x_val)
        history.events["freeze_seconds"] = history.elapsed() - t0
        history.events["structure_frozen_epoch"] = len(history.records)
        train_episodes(
            block.path_model, (x, gates), y, (x_val, gates_val), val,
            lr=self.quant_learning_rate or self.learning_rate / 3, history=history,
            phase="quantitative", **common,
        )  # fmt: skip
        self.structure_frozen_epoch_ = len(monitor.history)
        self.path_distance_ = list(monitor.history)
        return block

    def transform(self, X: Any) -> np.ndarray:
        """Embeddings ``[n_samples, out_features]`` (float32) of ``X [n_samples, n_features]``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        param = next(self.model_.parameters())
        x = torch.as_tensor(np.ascontiguousarray(X)).to(device=param.device, dtype=param.dtype)
        return predict_batched(self.model_, (x,)).cpu().numpy()
