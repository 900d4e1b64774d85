"""One training run of a head on a feature matrix, in one process or under ``torch.distributed``.

:func:`fit_head` is what ``glai train`` (``python -m glai train``, ``torchrun -m glai train``)
calls; it is also the Python API for several processes. Under a process group each rank passes
its shard of the training rows (:func:`glai.training.distributed.shard_bounds`, contiguous and
in rank order) and the whole validation set; the result equals the single-process run on all
rows with the same :class:`RunConfig` (same seed) up to float rounding.

(Its home was ``glai.training.run`` until the re-layout; that name still imports this module:
``glai/__init__.py`` registers it as an alias, so that :mod:`glai.training` never imports a
use of itself.)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from glai import params
from glai.block import GLAI
from glai.mlp import MLP
from glai.solvers.auto import without_holdout
from glai.structure import StructureMonitor
from glai.training.checkpoint import DATA_KEY, Checkpoint, data_digest
from glai.training.config import TrainConfig
from glai.training.distributed import gather_rows, max_over_ranks, rank_and_world, shard_offset
from glai.training.epochs import LossFn, ScoreFn
from glai.training.history import History
from glai.training.losses import accuracy, cross_entropy, minus_mean_loss, neg_mse, squared_error
from glai.training.two_phase import fit_glai, fit_mlp

__all__ = ["RunConfig", "fit_head", "describe"]

_D = params.defaults()


@dataclass
class RunConfig:
    """What one run trains. ``model``: ``"mlp"`` (the baseline) or ``"glai"``.

    ``optimizer``/``lr`` train the MLP and GLAI's structural phase; ``quant_optimizer`` and
    ``quant_lr`` (default ``lr / 3``, as the estimators) its quantitative phase, which may be a
    closed-form solver (``"ridge"``). ``rho``, ``budget``, ``structure_rule``, ``probe_size``
    and ``prune_dead`` mean what they mean for :class:`glai.GLAIClassifier`.
    """

    model: str = _D["kind"]
    hidden: tuple[int, ...] = _D["hidden_layer_sizes"]
    optimizer: str = _D["optimizer"]
    lr: float = _D["learning_rate"]
    quant_optimizer: str = _D["quant_optimizer"]
    quant_lr: float | None = _D["quant_learning_rate"]
    weight_decay: float = _D["weight_decay"]
    batch_size: int | str = _D["batch_size"]
    max_epochs: int = _D["max_epochs"]
    patience: int | None = _D["patience"]
    tol: float = _D["tol"]
    rho: float | str = _D["rho"]
    budget: int | str | None = _D["budget"]
    structure_rule: str = _D["structure_rule"]
    probe_size: int = _D["probe_size"]
    prune_dead: bool = _D["prune_dead"]
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in ("mlp", "glai"):
            raise ValueError(f"model must be 'mlp' or 'glai', got {self.model!r}")
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.batch_size != params.AUTO and (
            isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int)
        ):
            raise ValueError(f"batch_size must be an int >= 1 or 'auto', got {self.batch_size!r}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol}")
        # validates optimizer, lr, batch_size, max_epochs of both phases
        self.train_config(params.AUTO_BATCH_SIZE)
        self.quant_config(params.AUTO_BATCH_SIZE)

    def train_config(self, n_train: int, *, holdout: bool = True) -> TrainConfig:
        """The MLP's / structural phase's hyper-parameters on ``n_train`` rows (all ranks')."""
        return TrainConfig(
            optimizer=self.optimizer, lr=self.lr, weight_decay=self.weight_decay,
            batch_size=params.resolve_batch_size(self.batch_size, n_train),
            max_epochs=self.max_epochs, patience=self.patience,
            # the validation score counts any gain; the training loss must fall by tol
            tol=0.0 if holdout else self.tol,
        )  # fmt: skip

    def quant_config(self, n_train: int, *, holdout: bool = True) -> TrainConfig:
        """The quantitative phase's: ``quant_optimizer`` (``"auto"`` means ``"adam"`` with
        nothing held out), ``quant_lr`` (default ``lr / 3``,
        :func:`glai.params.quant_learning_rate`)."""
        return replace(
            self.train_config(n_train, holdout=holdout),
            optimizer=without_holdout(self.quant_optimizer, holdout),
            lr=params.quant_learning_rate(self.lr, self.quant_lr),
        )


def fit_head(
    config: RunConfig,
    X: torch.Tensor,
    y: torch.Tensor,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    *,
    sample_weight: torch.Tensor | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    verbose: bool = False,
) -> tuple[nn.Module, History]:
    """Train ``config.model`` on ``X [n, n_0]``, ``y [n]`` (this rank's rows), early-stopped on
    the whole ``(X_val, y_val)``; returns the model (an :class:`~glai.mlp.MLP` or a
    :class:`~glai.block.GLAI` in phase "quantitative") and its :class:`History`.

    Without ``X_val, y_val`` nothing is held out, as the estimators do below 2,000 samples:
    the training rows (all ranks') are the "validation" data, early stopping watches the
    training loss (an epoch counts toward ``patience`` unless it falls by more than
    ``config.tol``) and ``quant_optimizer="auto"`` means Adam.

    Integer ``y`` is classification (cross-entropy, accuracy; classes ``0 .. max``), floating
    ``y [n]`` or ``[n, k]`` regression (squared error; score ``-MSE``). Tensors stay on their
    device. Seeds: the model is initialised from ``config.seed``; one generator seeded with it
    draws the probe (``probe_size`` global rows, the same ones in one process or several) and
    then every epoch's permutation. With ``checkpoint`` (a file path), a checkpoint is written
    after every epoch and an existing one resumed (same configuration, data content -- a
    digest of ``X, y, X_val, y_val, sample_weight``, :func:`~glai.training.checkpoint.data_digest`
    -- and number of processes, or a ValueError).
    """
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X must be [n, n_features] with one row per y, got {tuple(X.shape)} and "
            f"{tuple(y.shape)}"
        )
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together (or neither: no hold-out)")
    _, world = rank_and_world()
    lo, n_global = shard_offset(X.shape[0], world)
    holdout = X_val is not None
    if X_val is None or y_val is None:  # every rank validates on every training row
        every = torch.arange(n_global)
        X_val, y_val = gather_rows(X, every, lo, world), gather_rows(y, every, lo, world)
    classify = not torch.is_floating_point(y)
    loss_fn: LossFn
    score_fn: ScoreFn
    if classify:
        n_out = max_over_ranks(int(max(y.max(), y_val.max())) + 1, world)
        loss_fn, score_fn = cross_entropy, accuracy
    else:
        y, y_val = y.reshape(len(y), -1), y_val.reshape(len(y_val), -1)
        n_out = y.shape[1]
        loss_fn, score_fn = squared_error, neg_mse
    if not holdout:
        score_fn = minus_mean_loss(loss_fn)
    fingerprint = {
        **asdict(config), "n_samples": n_global, "n_features": X.shape[1], "n_outputs": n_out,
        "task": "classification" if classify else "regression",
        "weighted": sample_weight is not None, "holdout": holdout,
        # rows are sharded by rank: a run resumes with the world size it was saved under
        "world_size": world,
    }  # fmt: skip
    ckpt = None
    if checkpoint is not None:
        # The data's content, not only its shape: other data of the same shape is another run.
        fingerprint[DATA_KEY] = data_digest(X, y, X_val, y_val, sample_weight)
        ckpt = Checkpoint(checkpoint, fingerprint)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    device, dtype = X.device, X.dtype
    if config.model == "mlp":
        model: nn.Module = MLP(X.shape[1], config.hidden, n_out, device=device, dtype=dtype)
        history = fit_mlp(
            model, X, y, X_val, y_val, loss_fn=loss_fn, score_fn=score_fn,
            config=config.train_config(n_global, holdout=holdout), generator=generator,
            sample_weight=sample_weight,
            verbose=verbose, checkpoint=ckpt,
        )  # fmt: skip
        return model, history
    glai = GLAI(
        X.shape[1], config.hidden, n_out, rho=config.rho, budget=config.budget,
        prune_dead=config.prune_dead, device=device, dtype=dtype,
    )  # fmt: skip
    rows = torch.randperm(n_global, generator=generator)[: config.probe_size]
    monitor = StructureMonitor(gather_rows(X, rows, lo, world), rule=config.structure_rule)
    history = fit_glai(
        glai, X, y, X_val, y_val, loss_fn=loss_fn, score_fn=score_fn,
        structural=config.train_config(n_global, holdout=holdout),
        quantitative=config.quant_config(n_global, holdout=holdout),
        monitor=monitor, generator=generator, sample_weight=sample_weight, verbose=verbose,
        checkpoint=ckpt,
    )  # fmt: skip
    return glai, history


def describe(model: nn.Module) -> dict[str, Any]:
    """A few facts about a fitted head for reports: kind and trainable parameters."""
    info: dict[str, Any] = {
        "kind": type(model).__name__,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    if isinstance(model, GLAI) and model.path_model is not None:
        info["num_paths"] = model.num_paths
    return info
