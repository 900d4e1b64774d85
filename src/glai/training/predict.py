"""Predictions in chunks, in eval mode: what validation and inference run."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["predict_batched"]


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
