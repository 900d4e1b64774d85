"""Shared test helper: set a glai.MLP's weights by hand."""

from __future__ import annotations

import torch

from glai.mlp import MLP


def set_weights(mlp: MLP, weights: list, biases: list) -> MLP:
    """Copy nested lists into the layers of ``mlp`` (``weights[l]``: ``[n_l, n_{l-1}]``)."""
    with torch.no_grad():
        for layer, w, b in zip(mlp.layers, weights, biases, strict=True):
            layer.weight.copy_(torch.tensor(w, dtype=layer.weight.dtype))
            layer.bias.copy_(torch.tensor(b, dtype=layer.bias.dtype))
    return mlp
