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

import numpy as np
import torch
from torch import nn

from glai import params, validation
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
from glai.training.problem import Data, Objective
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


ArrayLike = torch.Tensor | np.ndarray


def fit_head(
    config: RunConfig,
    X: ArrayLike,
    y: ArrayLike,
    X_val: ArrayLike | None = None,
    y_val: ArrayLike | None = None,
    *,
    sample_weight: ArrayLike | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    device: str | torch.device | None = None,
) -> tuple[nn.Module, History]:
    """Train ``config.model`` on ``X [n, n_0]``, ``y [n]`` (this rank's rows), early-stopped on
    the whole ``(X_val, y_val)``; returns the model (an :class:`~glai.mlp.MLP` or a
    :class:`~glai.block.GLAI` in phase "quantitative") and its :class:`History`.

    Without ``X_val, y_val`` nothing is held out, as the estimators do below 2,000 samples:
    the training rows (all ranks') are the "validation" data, early stopping watches the
    training loss (an epoch counts toward ``patience`` unless it falls by more than
    ``config.tol``) and ``quant_optimizer="auto"`` means Adam.

    Integer ``y`` is classification (cross-entropy, accuracy; classes ``0 .. max``), floating
    ``y [n]`` or ``[n, k]`` regression (squared error; score ``-MSE``). The arrays are numpy
    arrays or tensors; training runs on ``device`` (``None``: the device of ``X`` if it is a
    tensor, else the CPU).

    Every input is checked before any training, as the estimators check theirs
    (:mod:`glai.validation`): finite features within float32 (``X`` and ``X_val``, of the same
    width, at least one row each), labels ``0 .. K-1`` or finite targets, ``y_val`` within the
    training classes, ``sample_weight`` finite, non-negative, not all zero and one per row,
    ``X_val`` and ``y_val`` given together, and at least one training row per process. Under
    ``torch.distributed`` every rank checks its own rows and every rank raises when one of
    them refuses.

    Seeds: the model is built on the CPU from ``config.seed`` and then moved to the data's
    device, so its initial weights are the same on every device; one generator seeded with it
    draws the probe (``probe_size`` global rows, the same ones in one process or several) and
    then every epoch's permutation. With ``checkpoint`` (a file path), a checkpoint is written
    after every epoch and an existing one resumed (same configuration, data content -- a
    digest of ``X, y, X_val, y_val, sample_weight``, :func:`~glai.training.checkpoint.data_digest`
    -- and number of processes, or a ValueError).
    """
    validation.check_pair("X_val", X_val, "y_val", y_val)
    _, world = rank_and_world()
    lo, n_global = shard_offset(len(X), world)  # every rank, before anything can fail
    if 0 < n_global < world:  # (no rows at all: every rank's check of X says so)
        raise ValueError(
            f"{n_global} training rows for {world} processes: every process needs at least one "
            "row; use fewer processes"
        )
    if device is None:
        device = X.device if isinstance(X, torch.Tensor) else torch.device("cpu")
    device = torch.device(device)
    X, y, X_val, y_val, sample_weight, n_out = _checked(X, y, X_val, y_val, sample_weight,
                                                        device, world)  # fmt: skip
    holdout = X_val is not None
    if X_val is None or y_val is None:  # every rank validates on every training row
        every = torch.arange(n_global)
        X_val, y_val = gather_rows(X, every, lo, world), gather_rows(y, every, lo, world)
    classify = not torch.is_floating_point(y)
    loss_fn: LossFn
    score_fn: ScoreFn
    if classify:
        loss_fn, score_fn = cross_entropy, accuracy
    else:
        loss_fn, score_fn = squared_error, neg_mse
    if not holdout:
        score_fn = minus_mean_loss(loss_fn)
    data, objective = Data(X, y, X_val, y_val, sample_weight), Objective(loss_fn, score_fn)
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
    # Built on the CPU (its generator, seeded above), then moved: the seed alone decides the
    # initial weights, on a GPU as on the CPU.
    if config.model == "mlp":
        model: nn.Module = MLP(X.shape[1], config.hidden, n_out).to(device)
        history = fit_mlp(
            model, data, objective, config=config.train_config(n_global, holdout=holdout),
            generator=generator, verbose=verbose, checkpoint=ckpt,
        )  # fmt: skip
        return model, history
    glai = GLAI(
        X.shape[1], config.hidden, n_out, rho=config.rho, budget=config.budget,
        prune_dead=config.prune_dead,
    ).to(device)  # fmt: skip
    rows = torch.randperm(n_global, generator=generator)[: config.probe_size]
    monitor = StructureMonitor(gather_rows(X, rows, lo, world), rule=config.structure_rule)
    history = fit_glai(
        glai, data, objective, structural=config.train_config(n_global, holdout=holdout),
        quantitative=config.quant_config(n_global, holdout=holdout),
        monitor=monitor, generator=generator, verbose=verbose, checkpoint=ckpt,
    )  # fmt: skip
    return glai, history


def _checked(
    X: ArrayLike,
    y: ArrayLike,
    X_val: ArrayLike | None,
    y_val: ArrayLike | None,
    sample_weight: ArrayLike | None,
    device: torch.device,
    world: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None,
           torch.Tensor | None, int]:  # fmt: skip
    """The inputs checked (:mod:`glai.validation`) and as tensors on ``device``: features
    float32, labels int64 (targets float32 ``[n, k]``), weights float32; and the output count.

    Under a process group a rank whose rows are refused raises its message and every other
    rank raises too (no rank is left waiting in a collective)."""
    problem: ValueError | None = None
    checked: tuple[Any, ...] = ()
    try:
        checked = _check_local(X, y, X_val, y_val, sample_weight)
    except ValueError as err:
        problem = err
    if max_over_ranks(int(problem is not None), world):
        raise problem or ValueError("the training data of another process was refused (its "
                                    "message is in that process's output)")  # fmt: skip
    Xn, yn, Xvn, yvn, swn = checked
    if yn.dtype == np.int64:  # classification: classes 0 .. K-1 over every rank's labels
        n_out = max_over_ranks(int(yn.max()) + 1, world)
        beyond = np.unique(yvn[yvn >= n_out]) if yvn is not None else yn[:0]
        if len(beyond):  # y_val is whole on every rank: the same answer everywhere
            raise ValueError(
                f"y_val has labels not seen in y: {beyond[:10].tolist()}; the training classes "
                f"are 0 .. {n_out - 1}"
            )
    else:
        n_out = yn.shape[1]
    if swn is not None and not max_over_ranks(int(swn.sum() > 0), world):
        raise ValueError(
            "sample_weight: every weight is zero, so no sample would train; give some rows a "
            "positive weight"
        )

    def tensor(a: np.ndarray | None) -> torch.Tensor | None:
        return None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(device)

    sw = tensor(None if swn is None else swn.astype(np.float32))
    Xt, yt = tensor(Xn), tensor(yn)
    assert Xt is not None and yt is not None
    return Xt, yt, tensor(Xvn), tensor(yvn), sw, n_out


def _check_local(
    X: ArrayLike,
    y: ArrayLike,
    X_val: ArrayLike | None,
    y_val: ArrayLike | None,
    sample_weight: ArrayLike | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """This rank's inputs as checked numpy arrays (the estimators' checks)."""
    Xn = validation.check_features("X", _host(X))
    yn = _host(y)
    regression = yn.dtype.kind == "f"
    if regression:
        yn = validation.check_targets("y", yn, len(Xn)).reshape(len(Xn), -1)
    else:
        yn = validation.check_class_labels("y", yn, len(Xn))
    Xvn = yvn = None
    if X_val is not None and y_val is not None:
        Xvn = validation.check_features("X_val", _host(X_val), n_features=Xn.shape[1])
        if regression:
            yvn = validation.check_targets("y_val", _host(y_val), len(Xvn))
            yvn = yvn.reshape(len(Xvn), -1)
            if yvn.shape[1] != yn.shape[1]:
                raise ValueError(
                    f"y_val has {yvn.shape[1]} target column(s) but y has {yn.shape[1]}"
                )
        else:
            yvn = validation.check_class_labels("y_val", _host(y_val), len(Xvn))
    swn = None
    if sample_weight is not None:
        # all-zero is decided over every rank (a shard may hold only zero weights)
        swn = validation.check_sample_weight(_host(sample_weight), Xn, allow_all_zero=True)
    return Xn, yn, Xvn, yvn, swn


def _host(a: ArrayLike) -> np.ndarray:
    """A numpy view of ``a`` (a tensor is copied to the host first when it is on a device)."""
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def describe(model: nn.Module) -> dict[str, Any]:
    """A few facts about a fitted head for reports: kind and trainable parameters."""
    info: dict[str, Any] = {
        "kind": type(model).__name__,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    if isinstance(model, GLAI) and model.path_model is not None:
        info["num_paths"] = model.num_paths
    return info
