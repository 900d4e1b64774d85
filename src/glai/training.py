"""One training loop for GLAI and the MLP it replaces, so that comparisons are fair.

Under ``torch.distributed`` (a process group initialised by the caller, e.g. with
``torchrun``), minibatch training is data parallel with DDP. Data stay on the device as
whole tensors; a minibatch is an index into them (a permutation
per epoch), so the only per-batch Python work is the optimiser step. Every epoch appends a
record to a shared :class:`History` whose clock runs across phases: ``seconds`` is the
wall-clock time since training began, everything (validation, ``m_t`` checks, freezing,
gate caching) included.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from glai.block import GLAI
from glai.path_model import PathModel
from glai.solvers import ridge_paths
from glai.structure import StructureMonitor

__all__ = [
    "TrainConfig",
    "EpochRecord",
    "History",
    "resolve_device",
    "train_epochs",
    "fit_mlp",
    "fit_glai",
    "predict_batched",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (output, target) -> per-sample loss
ScoreFn = Callable[[torch.Tensor, torch.Tensor], float]  # (output, target) -> higher is better


@dataclass
class TrainConfig:
    """Hyper-parameters of one phase.

    optimizer: ``"adam"`` (minibatch), ``"lbfgs"`` (full batch; one epoch = ``lbfgs_iter``
        iterations with a strong-Wolfe line search) or, for a path model only, ``"ridge"``
        (closed form, :mod:`glai.solvers`; one record per value of ``alphas``, the best kept).
    patience: stop after this many epochs without a better validation score (None: never).
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    max_epochs: int = 200
    patience: int | None = 10
    lbfgs_iter: int = 20
    alphas: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "lbfgs", "ridge"):
            raise ValueError(
                f"optimizer must be 'adam', 'lbfgs' or 'ridge', got {self.optimizer!r}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1 or self.max_epochs < 0:
            raise ValueError(
                f"batch_size must be >= 1 and max_epochs >= 0, "
                f"got {self.batch_size}, {self.max_epochs}"
            )


@dataclass
class EpochRecord:
    epoch: int  # counted across phases, from 1
    phase: str  # "mlp", "structural" or "quantitative"
    train_loss: float
    val_loss: float
    val_score: float
    seconds: float  # wall-clock since training began
    path_distance: float | None = None  # m_t (structural phase only)


@dataclass
class History:
    """Per-epoch records sharing one wall clock (``seconds`` is cumulative)."""

    records: list[EpochRecord] = field(default_factory=list)
    start: float = field(default_factory=time.perf_counter)
    events: dict[str, float] = field(default_factory=dict)  # e.g. freeze seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def _select(self, phase: str | None) -> list[EpochRecord]:
        return [r for r in self.records if phase is None or r.phase == phase]

    def best(self, phase: str | None = None) -> EpochRecord | None:
        """The first epoch with the highest validation score (of ``phase``, if given)."""
        records = self._select(phase)
        if not records:
            return None
        return max(records, key=lambda r: (r.val_score, -r.epoch))

    def time_to_reach(self, score: float, phase: str | None = None) -> float | None:
        """Seconds until the validation score (of ``phase``) first reached ``score``.

        None: never. ``seconds`` count from the start of training whatever ``phase`` is.
        """
        record = self.first_reaching(score, phase)
        return None if record is None else record.seconds

    def epochs_to_reach(self, score: float, phase: str | None = None) -> int | None:
        """Epochs (counted across phases) until the score (of ``phase``) reached ``score``."""
        record = self.first_reaching(score, phase)
        return None if record is None else record.epoch

    def first_reaching(self, score: float, phase: str | None = None) -> EpochRecord | None:
        """The first epoch (of ``phase``) whose validation score is at least ``score``."""
        return next((r for r in self._select(phase) if r.val_score >= score), None)

    @property
    def final_phase(self) -> str | None:
        """The phase of the last epoch: the phase of the model that training returns."""
        return self.records[-1].phase if self.records else None

    def to_dicts(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.records]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None: CUDA when available, else CPU; otherwise ``torch.device(device)``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available")
    return dev


@torch.no_grad()
def predict_batched(
    model: nn.Module, inputs: Sequence[torch.Tensor], batch_size: int = 8192
) -> torch.Tensor:
    """``model(*inputs)`` in eval mode, in chunks of ``batch_size`` rows."""
    was_training = model.training
    model.eval()
    n = inputs[0].shape[0]
    outs = [model(*(t[i : i + batch_size] for t in inputs)) for i in range(0, n, batch_size)]
    model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _distributed() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _weighted_mean(loss: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return loss.mean()
    return (loss * weight).sum() / weight.sum()


def train_epochs(
    model: nn.Module,
    train_inputs: Sequence[torch.Tensor],
    y: torch.Tensor,
    val_inputs: Sequence[torch.Tensor],
    y_val: torch.Tensor,
    *,
    loss_fn: LossFn,
    score_fn: ScoreFn,
    config: TrainConfig,
    history: History,
    phase: str,
    generator: torch.Generator,
    sample_weight: torch.Tensor | None = None,
    monitor: StructureMonitor | None = None,
    monitored: nn.Module | None = None,
    keep_best: bool = True,
    progress: tqdm | None = None,
) -> None:
    """Train ``model(*train_inputs)`` against ``y``, one record per epoch into ``history``.

    Stops at ``config.max_epochs``, after ``config.patience`` epochs without a better
    validation score, or when ``monitor`` reports a stable structure of ``monitored``. With
    ``keep_best`` the parameters of the best validation epoch are restored at the end.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    device = y.device
    n = y.shape[0]
    rank, world = _distributed()
    # Data parallel: every rank holds all data and draws the same permutation (same
    # generator seed); each minibatch is split across ranks and DDP averages the gradients.
    # Validation runs on every rank with identical parameters, so the stopping decisions
    # agree without communication. Full-batch optimisers run unsplit on every rank.
    net: nn.Module = model
    if world > 1 and config.optimizer == "adam":
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(
            params, lr=config.lr, weight_decay=config.weight_decay
        )
    else:
        opt = torch.optim.LBFGS(
            params, lr=config.lr, max_iter=config.lbfgs_iter, line_search_fn="strong_wolfe"
        )
    best_score = -float("inf")
    best_state: dict[str, torch.Tensor] | None = None
    since_best = 0
    for _ in range(config.max_epochs):
        model.train()
        if config.optimizer == "adam":
            perm = torch.randperm(n, generator=generator).to(device)
            total = torch.zeros((), device=device)
            for i in range(0, n, config.batch_size):
                idx = perm[i : i + config.batch_size][rank::world]
                w = None if sample_weight is None else sample_weight[idx]
                loss = _weighted_mean(loss_fn(net(*(t[idx] for t in train_inputs)), y[idx]), w)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach() * idx.shape[0]
            if world > 1:
                torch.distributed.all_reduce(total)
            train_loss = float(total) / n
        else:

            def closure() -> torch.Tensor:
                opt.zero_grad(set_to_none=True)
                loss = _weighted_mean(loss_fn(model(*train_inputs), y), sample_weight)
                loss.backward()
                return loss

            step_loss = cast(torch.Tensor, opt.step(closure))  # type: ignore[arg-type]
            train_loss = float(step_loss.detach())
        out = predict_batched(model, val_inputs)
        val_loss = float(loss_fn(out, y_val).mean())
        val_score = score_fn(out, y_val)
        stable = False
        m_t = None
        if monitor is not None:
            stable = monitor.update(monitored if monitored is not None else model)  # type: ignore[arg-type]
            m_t = monitor.history[-1]
        _sync(device)
        record = EpochRecord(
            epoch=len(history.records) + 1,
            phase=phase,
            train_loss=train_loss,
            val_loss=val_loss,
            val_score=val_score,
            seconds=history.elapsed(),
            path_distance=m_t,
        )
        history.records.append(record)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(phase=phase[:5], loss=f"{train_loss:.4f}", val=f"{val_score:.4f}")
        if val_score > best_score:
            best_score, since_best = val_score, 0
            if keep_best:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
        if stable or (config.patience is not None and since_best >= config.patience):
            break
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)


def ridge_epochs(
    model: PathModel,
    train_inputs: tuple[torch.Tensor, torch.Tensor],
    targets: torch.Tensor,
    y: torch.Tensor,
    val_inputs: tuple[torch.Tensor, torch.Tensor],
    y_val: torch.Tensor,
    *,
    loss_fn: LossFn,
    score_fn: ScoreFn,
    config: TrainConfig,
    history: History,
    sample_weight: torch.Tensor | None = None,
    progress: tqdm | None = None,
) -> None:
    """Closed-form quantitative phase: one ridge solve per ``config.alphas``, best kept.

    ``targets [N, n_L]`` are what the squared loss fits (one-hot labels for a classifier).
    """
    solutions = ridge_paths(
        model, *train_inputs, targets, config.alphas, sample_weight=sample_weight
    )
    best_score, best = -float("inf"), solutions[0]
    for solution in solutions:
        model.load_state_dict(solution, strict=False)
        out = predict_batched(model, val_inputs)
        val_score = score_fn(out, y_val)
        train_loss = float(loss_fn(predict_batched(model, train_inputs), y).mean())
        _sync(y.device)
        history.records.append(EpochRecord(
            epoch=len(history.records) + 1, phase="quantitative", train_loss=train_loss,
            val_loss=float(loss_fn(out, y_val).mean()), val_score=val_score,
            seconds=history.elapsed(),
        ))  # fmt: skip
        if progress is not None:
            progress.update(1)
        if val_score > best_score:
            best_score, best = val_score, solution
    model.load_state_dict(best, strict=False)


def fit_mlp(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    X_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    loss_fn: LossFn,
    score_fn: ScoreFn,
    config: TrainConfig,
    generator: torch.Generator,
    sample_weight: torch.Tensor | None = None,
    verbose: bool = False,
) -> History:
    """Train a plain network (the baseline) with early stopping; returns its history."""
    history = History()
    with tqdm(total=config.max_epochs, desc="mlp", disable=not verbose, leave=False) as bar:
        train_epochs(
            model, (X,), y, (X_val,), y_val, loss_fn=loss_fn, score_fn=score_fn,
            config=config, history=history, phase="mlp", generator=generator,
            sample_weight=sample_weight, progress=bar,
        )  # fmt: skip
    return history


def fit_glai(
    model: GLAI,
    X: torch.Tensor,
    y: torch.Tensor,
    X_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    loss_fn: LossFn,
    score_fn: ScoreFn,
    structural: TrainConfig,
    quantitative: TrainConfig,
    monitor: StructureMonitor,
    generator: torch.Generator,
    sample_weight: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    verbose: bool = False,
) -> History:
    """GLAI's two phases on frozen inputs; returns one history across both.

    1. Structural: train ``model.structure`` until ``monitor`` calls its patterns stable
       (no early stopping on the score: the structure, not the fit, is wanted here).
    2. ``model.freeze_structure(probe)``; gates of the training and validation inputs are
       computed once (the inputs are frozen, so the gates never change) and reused every
       epoch. Train the paths with early stopping, keeping the best epoch; or, with
       ``quantitative.optimizer == "ridge"``, solve for them in closed form against
       ``targets`` (default: one-hot ``y`` for integer labels, else ``y``).
    """
    if model.phase != "structural":
        raise ValueError("model must be in phase 'structural' to be fitted from scratch")
    history = History()
    total = (monitor.rule.max_epochs or 0) + quantitative.max_epochs
    with tqdm(total=total, desc="glai", disable=not verbose, leave=False) as bar:
        assert model.structure is not None
        monitor.update(model.structure)  # reference patterns at initialisation
        struct_config = TrainConfig(**{**asdict(structural), "patience": None})
        # The rule bounds the structural phase; so does max_epochs, which bounds every phase.
        struct_config.max_epochs = min(monitor.rule.max_epochs, structural.max_epochs)
        train_epochs(
            model.structure, (X,), y, (X_val,), y_val, loss_fn=loss_fn, score_fn=score_fn,
            config=struct_config, history=history, phase="structural", generator=generator,
            sample_weight=sample_weight, monitor=monitor, keep_best=False, progress=bar,
        )  # fmt: skip
        t0 = history.elapsed()
        model.freeze_structure(monitor.probe_x)
        assert model.path_model is not None
        gates, gates_val = model.gates(X), model.gates(X_val)
        _sync(y.device)
        history.events["freeze_seconds"] = history.elapsed() - t0
        history.events["structure_frozen_epoch"] = len(history.records)
        bar.total = len(history.records) + quantitative.max_epochs
        if quantitative.optimizer == "ridge":
            if targets is None:
                is_label = not torch.is_floating_point(y)
                targets = F.one_hot(y, model.out_features).to(X.dtype) if is_label else y
            ridge_epochs(
                model.path_model, (X, gates), targets, y, (X_val, gates_val), y_val,
                loss_fn=loss_fn, score_fn=score_fn, config=quantitative, history=history,
                sample_weight=sample_weight, progress=bar,
            )  # fmt: skip
            return history
        train_epochs(
            model.path_model, (X, gates), y, (X_val, gates_val), y_val, loss_fn=loss_fn,
            score_fn=score_fn, config=quantitative, history=history, phase="quantitative",
            generator=generator, sample_weight=sample_weight, progress=bar,
        )  # fmt: skip
    return history
