"""The path model of GLAI's quantitative phase, and ``freeze``, the phase switch.

With the structure frozen, GLAI (Mestre et al., 2025, arXiv:2510.00883) predicts

    glai_k(x) = beta0_k + sum_{p in P_k} g_p(x) (theta_p . x + beta_p)

where the gates ``g_p(x)`` come from a frozen ReLU network and ``theta, beta, beta0`` are
free. The model is linear in those parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from glai.mlp import MLP, as_widths, gating_forward
from glai.paths import build_paths, path_gates

__all__ = ["PathModel", "freeze"]


class PathModel(nn.Module):
    """GLAI's quantitative model: free affine maps on the gated paths of a frozen network.

    Args:
        in_features: ``n_0``.
        hidden_features: widths of the frozen gating network's hidden layers.
        out_features: ``n_L``.
        num_full: ``P``, paths that carry ``theta_p`` (``n_0`` weights) and ``beta_p``.
        num_bias: ``Q``, partial-bias paths that carry ``beta_q`` only (depth >= 3).

    Parameters (the only ones): ``theta [P, n_0]``, ``beta [P + Q]``, ``beta0 [n_L]``.
    Buffers: the gating network ``gate_weight_l [n_l, n_{l-1}]``, ``gate_bias_l [n_l]``
    (``l = 1 .. L-1``), ``units [P + Q, L - 1]`` (``-1`` where a path skips a layer) and
    ``output [P + Q]``. Build one with :func:`freeze`; this constructor gives zeros of the
    right shapes (what loading a saved state needs).

    Shapes: ``x: [N, n_0]``, ``gates: [N, P + Q] -> [N, n_L]``.
    """

    units: torch.Tensor
    output: torch.Tensor

    def __init__(
        self,
        in_features: int,
        hidden_features: int | Sequence[int],
        out_features: int,
        num_full: int,
        num_bias: int = 0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.hidden_features = as_widths(hidden_features)
        self.out_features = out_features
        self.num_full = num_full
        self.num_bias = num_bias
        num_paths = num_full + num_bias
        self.theta = nn.Parameter(torch.zeros(num_full, in_features, device=device, dtype=dtype))
        self.beta = nn.Parameter(torch.zeros(num_paths, device=device, dtype=dtype))
        self.beta0 = nn.Parameter(torch.zeros(out_features, device=device, dtype=dtype))
        sizes = (in_features, *self.hidden_features)
        for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            self.register_buffer(
                f"gate_weight_{layer}", torch.zeros(b, a, device=device, dtype=dtype)
            )
            self.register_buffer(f"gate_bias_{layer}", torch.zeros(b, device=device, dtype=dtype))
        depth = len(self.hidden_features)
        self.register_buffer(
            "units", torch.zeros(num_paths, depth, dtype=torch.long, device=device)
        )
        self.register_buffer("output", torch.zeros(num_paths, dtype=torch.long, device=device))

    @property
    def num_paths(self) -> int:
        """``P + Q``: full and partial-bias paths."""
        return self.num_full + self.num_bias

    def _gate_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [
            (getattr(self, f"gate_weight_{layer}"), getattr(self, f"gate_bias_{layer}"))
            for layer in range(1, len(self.hidden_features) + 1)
        ]

    def _check_x(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape [N, {self.in_features}], got {tuple(x.shape)}")

    @torch.no_grad()
    def activation_patterns(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Patterns ``A_l(x)`` of the frozen gating network, BoolTensors ``[N, n_l]``."""
        self._check_x(x)
        maps = [partial(F.linear, weight=w, bias=b) for w, b in self._gate_layers()]
        return [z > 0 for z in gating_forward(x, maps)[0]]

    @torch.no_grad()
    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """Path gates ``g_p(x)``, BoolTensor ``[N, P + Q]``. Compute once for frozen inputs."""
        return path_gates(self.activation_patterns(x), self.units)

    def forward(self, x: torch.Tensor, gates: torch.Tensor | None = None) -> torch.Tensor:
        self._check_x(x)
        if gates is None:
            gates = self.gates(x)
        elif gates.shape != (x.shape[0], self.num_paths):
            raise ValueError(
                f"gates must have shape [{x.shape[0]}, {self.num_paths}], got {tuple(gates.shape)}"
            )
        values = x @ self.theta.t()  # [N, P]: theta_p . x
        if self.num_bias:
            values = torch.cat([values, values.new_zeros(x.shape[0], self.num_bias)], dim=1)
        contrib = gates.to(values.dtype) * (values + self.beta)  # [N, P + Q]
        out = self.beta0.expand(x.shape[0], -1)
        return out.index_add(1, self.output, contrib)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, gating={list(self.hidden_features)}, "
            f"out_features={self.out_features}, num_full={self.num_full}, num_bias={self.num_bias}"
        )


@torch.no_grad()
def freeze(
    mlp: MLP,
    probe_x: torch.Tensor | None = None,
    *,
    budget: int | None = None,
    prune_dead: bool = True,
) -> PathModel:
    """Freeze the structure of ``mlp`` and return a new :class:`PathModel` initialised from it.

    Args:
        mlp: the trained structural network (left untouched).
        probe_x: probe inputs ``[N, n_0]`` used to drop paths whose gate never opens.
        budget: maximum trainable parameters of the path model (``None``: every candidate).
        prune_dead: drop paths never open on ``probe_x``.

    Right after ``freeze``, ``PathModel(x) == mlp(x)`` (``mlp`` in eval mode) up to rounding
    whenever no path was dropped (``budget`` large enough and ``prune_dead=False``). A network
    with normalisation layers (:class:`~glai.mlp.BatchNormMLP`) is first folded into the plain
    MLP it computes in eval mode (:meth:`~glai.mlp.MLP.folded`).
    """
    if not isinstance(mlp, MLP):
        raise TypeError(f"mlp must be a glai.MLP, got {type(mlp).__name__}")
    if mlp.depth < 2:
        raise ValueError("mlp has no hidden layer: there is no structure to freeze")
    if probe_x is not None and (probe_x.ndim != 2 or probe_x.shape[1] != mlp.in_features):
        raise ValueError(
            f"probe_x must have shape [N, {mlp.in_features}], got {tuple(probe_x.shape)}"
        )
    mlp = mlp.folded()
    paths = build_paths(mlp, probe_x, budget=budget, prune_dead=prune_dead)
    ref = mlp.linears[0].weight
    model = PathModel(
        mlp.in_features,
        mlp.hidden_features,
        mlp.out_features,
        paths.num_full,
        paths.units.shape[0] - paths.num_full,
        device=ref.device,
        dtype=ref.dtype,
    )
    model.theta.copy_(paths.theta)
    model.beta.copy_(paths.beta)
    model.beta0.copy_(paths.beta0)
    for layer, lin in enumerate(mlp.linears[:-1], start=1):
        getattr(model, f"gate_weight_{layer}").copy_(lin.weight)
        getattr(model, f"gate_bias_{layer}").copy_(lin.bias)
    model.units.copy_(paths.units)
    model.output.copy_(paths.output)
    return model
