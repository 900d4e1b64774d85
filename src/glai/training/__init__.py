"""Training: one loop for GLAI and the MLP it replaces, its history, devices and DDP helpers.

* :mod:`~glai.training.config`: :class:`TrainConfig`, the hyper-parameters of one phase;
* :mod:`~glai.training.history`: :class:`EpochRecord`, :class:`History`;
* :mod:`~glai.training.loop`: :func:`train_epochs`, :func:`closed_form_epochs`,
  :func:`fit_mlp`, :func:`fit_glai`, :func:`predict_batched`;
* :mod:`~glai.training.retrain`: :func:`fit_quantities`, :func:`fit_new_outputs` (retraining
  on a frozen structure);
* :mod:`~glai.training.device`: :func:`resolve_device`, :func:`synchronize`;
* :mod:`~glai.training.distributed`: rank and world size, DDP wrapping, weighted means.

The optimisers are the solvers of :data:`glai.solvers.SOLVERS`.
"""

from glai.training.config import TrainConfig
from glai.training.device import resolve_device
from glai.training.history import EpochRecord, History
from glai.training.loop import (
    LossFn,
    ScoreFn,
    closed_form_epochs,
    fit_glai,
    fit_mlp,
    predict_batched,
    train_epochs,
)
from glai.training.retrain import fit_new_outputs, fit_quantities

__all__ = [
    "TrainConfig",
    "EpochRecord",
    "History",
    "LossFn",
    "ScoreFn",
    "resolve_device",
    "train_epochs",
    "closed_form_epochs",
    "fit_mlp",
    "fit_glai",
    "fit_quantities",
    "fit_new_outputs",
    "predict_batched",
]
