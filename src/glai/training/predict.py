"""Predictions in chunks, in eval mode: what validation and inference run."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["predict_batched"]


@torch.no_grad()
def predict_batched(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    batch_size: int = 8192,
    *,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``model(*inputs)`` in eval mode, in chunks of ``batch_size`` rows.

    With ``dtype`` (e.g. ``torch.float64``) a copy of ``model`` and the floating inputs are
    cast to it first, and the output is of that dtype; ``model`` itself is left as it is.

    Why the public predictions take ``float64``: a float32 matrix product sums each row in an
    order that depends on how many rows share the call (the BLAS picks its kernels by shape:
    with MKL, a row computed alone or in a batch of 7 differs from the same row in a batch of
    4096 by up to ~1e-4 on 1280 features, under every ``ATEN_CPU_CAPABILITY``), so a
    prediction would depend on which other rows were predicted with it. In float64 those
    differences are ~1e-16 relative: far below float32's resolution of the weights, so the
    prediction of a row no longer depends on its batch (scikit-learn's
    ``check_methods_subset_invariance``, at 1e-7). The cost is the float64 product, about twice
    the float32 one on a CPU; training and its validation scores stay in the model's dtype.
    """
    if dtype is not None:
        model = copy.deepcopy(model).to(dtype)
        inputs = [t.to(dtype) if t.is_floating_point() else t for t in inputs]
    was_training = model.training
    model.eval()
    n = inputs[0].shape[0]
    outs = [model(*(t[i : i + batch_size] for t in inputs)) for i in range(0, n, batch_size)]
    model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0, dtype=dtype)
