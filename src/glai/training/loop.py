"""The training loop's old home, kept so that ``glai.training.loop`` imports keep working.

The loop is now split by concept: :mod:`~glai.training.predict`, :mod:`~glai.training.epochs`
(one epoch per solver kind), :mod:`~glai.training.stopping`, :mod:`~glai.training.records`,
:mod:`~glai.training.iterative` (:func:`train_epochs`), :mod:`~glai.training.closed_form` and
:mod:`~glai.training.two_phase` (:func:`fit_mlp`, :func:`fit_glai`).
"""

from glai.training.closed_form import closed_form_epochs, closed_form_targets, keep_best_candidate
from glai.training.epochs import LossFn, ScoreFn
from glai.training.iterative import train_epochs
from glai.training.predict import predict_batched
from glai.training.stopping import EarlyStopping
from glai.training.two_phase import fit_glai, fit_mlp

_EarlyStopping = EarlyStopping  # the name before the split

__all__ = [
    "LossFn",
    "ScoreFn",
    "train_epochs",
    "closed_form_epochs",
    "closed_form_targets",
    "keep_best_candidate",
    "fit_mlp",
    "fit_glai",
    "predict_batched",
]
