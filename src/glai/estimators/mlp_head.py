"""The MLP heads: the baseline GLAI replaces, trained by the same loop."""

from __future__ import annotations

import torch
from torch import nn

from glai import params
from glai.estimators.base import HEAD_PARAMS, _Head
from glai.estimators.targets import _ClassifierHead, _RegressorHead
from glai.mlp import MLP
from glai.training import History, fit_mlp

__all__ = ["MLPHeadClassifier", "MLPHeadRegressor"]


class _MLPMixin(_Head):
    """The baseline: the MLP ``n_features -> hidden_layer_sizes -> n_outputs``."""

    def _fit_model(
        self,
        data: tuple[torch.Tensor, ...],
        weight: torch.Tensor | None,
        n_out: int,
        n_in: int,
        device: torch.device,
        generator: torch.Generator,
    ) -> tuple[nn.Module, History]:
        model = MLP(n_in, self._hidden, n_out, device=device)
        loss_fn, score_fn = self._train_losses()
        history = fit_mlp(
            model, *data, loss_fn=loss_fn, score_fn=score_fn, config=self._config(),
            generator=generator, sample_weight=weight, verbose=self.verbose,
        )  # fmt: skip
        return model, history

    def _continue_model(
        self,
        data: tuple[torch.Tensor, ...],
        weight: torch.Tensor | None,
        generator: torch.Generator,
    ) -> History:
        loss_fn, score_fn = self._train_losses()
        return fit_mlp(
            self.model_, *data, loss_fn=loss_fn, score_fn=score_fn, config=self._config(),
            generator=generator, sample_weight=weight, verbose=self.verbose,
        )  # fmt: skip


class MLPHeadClassifier(_MLPMixin, _ClassifierHead):
    pass  # docstring below, its Parameters drawn from glai.params


class MLPHeadRegressor(_MLPMixin, _RegressorHead):
    pass


_ATTRIBUTES = """
    Attributes
    ----------
    model_ : glai.MLP
        The fitted network.
    history_ : glai.training.History
        One record per epoch.
    n_features_in_ : int
        Features seen by ``fit``.
    n_trainable_params_ : int
        Trainable parameters of ``model_``.
    best_val_score_ : float or None
        Best validation score (None when nothing was held out).
    fit_seconds_ : float
        Wall-clock time of ``fit``.
    n_iter_ : int
        Epochs run.
"""
MLPHeadClassifier.__doc__ = (
    "ReLU MLP classification head (the baseline GLAI replaces), trained by glai's loop.\n\n"
    "    ``classes_`` holds the labels. ``warm_start=True``: a second ``fit`` continues from "
    "the fitted weights.\n\n" + params.numpydoc(*HEAD_PARAMS) + _ATTRIBUTES
)
MLPHeadRegressor.__doc__ = (
    "ReLU MLP regression head (the baseline GLAI replaces); targets are standardised.\n\n"
    + params.numpydoc(*HEAD_PARAMS) + _ATTRIBUTES
)
