"""The embedding a few-shot head outputs: an optional identity skip and normalisation.

    u = x + f(x)   (residual)   or   u = f(x),        z = sqrt(s) * u / ||u||   (scale s)

``f`` is the head's network (a :class:`glai.GLAI` block in either phase, or an
:class:`glai.MLP`). With a residual start (``f``'s last layer at zero, so ``f = 0``) the head
begins exactly at its input, the raw embedding it must not lose to; with a scale the
prototype logits ``-||z_q - c_n||^2`` are ``s`` times squared distances of unit vectors (a
cosine prototype loss with logit scale ``s``), which removes the norm as a way to fit the base
classes. Both are choices beyond the paper (issue 17), measured in BENCHMARKS.md.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from glai.mlp import MLP

__all__ = ["EmbeddingHead", "zero_last_layer_"]


class EmbeddingHead(nn.Module):
    """``x [N, n_0] -> z [N, d]``: ``network``, plus ``x`` when ``residual``, scaled to norm
    ``sqrt(scale)`` when ``scale`` is a float.

    Args:
        network: ``f``, called as ``network(x, *rest)`` (``rest``: a GLAI's cached gates).
        residual: add the input (needs ``d = n_0``).
        scale: None, or the squared norm ``s > 0`` of every embedding.
    """

    def __init__(self, network: nn.Module, *, residual: bool, scale: float | None) -> None:
        super().__init__()
        self.network = network
        self.residual = residual
        self.scale = scale

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        u = self.network(x, *rest)
        if self.residual:
            u = u + x
        if self.scale is None:
            return u
        return u * (math.sqrt(self.scale) / u.norm(dim=-1, keepdim=True).clamp(min=1e-12))

    @torch.no_grad()
    def reset_to_identity_(self) -> EmbeddingHead:
        """``f = 0``, so ``z`` is the (normalised) input: every trainable parameter of the
        network to zero (an MLP's ReLUs then see 0, a GLAI's paths carry 0; gates are
        buffers and stay). Residual heads only."""
        if not self.residual:
            raise ValueError("only a residual head has an identity to return to")
        for p in self.network.parameters():
            if p.requires_grad:
                p.zero_()
        return self

    def extra_repr(self) -> str:
        return f"residual={self.residual}, scale={self.scale}"


@torch.no_grad()
def zero_last_layer_(mlp: MLP) -> None:
    """The residual start: ``f``'s output layer at zero, so ``f(x) = 0`` for every ``x``
    while its hidden layers (the gates, for GLAI) keep their random start."""
    nn.init.zeros_(mlp.linears[-1].weight)
    nn.init.zeros_(mlp.linears[-1].bias)
