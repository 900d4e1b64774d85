"""Training: one loop for GLAI and the MLP it replaces, its history, devices and DDP helpers.

* :mod:`~glai.training.config`: :class:`TrainConfig`, the hyper-parameters of one phase;
* :mod:`~glai.training.problem`: what a run fits: :class:`Data` (its rows), :class:`Objective`
  (its loss and score), :class:`Rows` (the rows of one phase, as the loop and plans see them);
* :mod:`~glai.training.history`: :class:`EpochRecord`, :class:`History`, :class:`HistoryEvents`;
* :mod:`~glai.training.epochs`: one epoch per solver kind (minibatch, full batch);
* :mod:`~glai.training.iterative`: :func:`train_epochs`, the gradient loop (early stopping,
  ``m_t`` checks, checkpoints);
* :mod:`~glai.training.plans`: the batching of the loop as a plug-in (i.i.d. rows, view pairs
  for SSL, few-shot episodes);
* :mod:`~glai.training.closed_form`: :func:`closed_form_epochs`, a closed-form phase;
* :mod:`~glai.training.two_phase`: :func:`fit_mlp`, :func:`fit_glai`, whole runs;
* :mod:`~glai.training.stopping`, :mod:`~glai.training.records`, :mod:`~glai.training.predict`
  (:func:`predict_batched`): the bookkeeping they share;
* :mod:`~glai.training.losses`: per-sample losses and scores of the heads;
* :mod:`~glai.training.checkpoint`: checkpoints at every epoch;
* :mod:`~glai.training.retrain`: :func:`fit_quantities`, :func:`fit_new_outputs` (retraining
  on a frozen structure, as a :class:`Retraining` says);
* :mod:`~glai.training.device`: :func:`resolve_device`, :func:`synchronize` (re-exported
  from :mod:`glai.device`);
* :mod:`~glai.training.distributed`: rank and world size, DDP wrapping, weighted means.

The optimisers are the solvers of :data:`glai.solvers.SOLVERS`.
"""

from glai.training.closed_form import closed_form_epochs
from glai.training.config import TrainConfig
from glai.training.device import resolve_device
from glai.training.epochs import LossFn, ScoreFn
from glai.training.history import EpochRecord, History, HistoryEvents
from glai.training.iterative import train_epochs
from glai.training.predict import predict_batched
from glai.training.problem import Data, Objective, Rows
from glai.training.retrain import Retraining, fit_new_outputs, fit_quantities
from glai.training.two_phase import fit_glai, fit_mlp

__all__ = [
    "TrainConfig",
    "Data",
    "Objective",
    "Rows",
    "Retraining",
    "EpochRecord",
    "History",
    "HistoryEvents",
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
