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

__all__ = ["PathModel", "add_outputs", "freeze", "join_outputs", "new_outputs"]


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


def _largest_path_set(model: PathModel) -> torch.Tensor:
    """Indices of the paths of the output whose path set the most outputs share (the first
    such output on ties): full paths first, then partial-bias paths, in the model's order."""
    sets: dict[tuple[int, ...], list[int]] = {}
    for k in range(model.out_features):
        cols = (model.output == k).nonzero().flatten()
        sets.setdefault(tuple(model.units[cols].flatten().tolist()), []).append(k)
    first = max(sets.values(), key=len)[0]  # max keeps the first of equal lengths
    return (model.output == first).nonzero().flatten()


@torch.no_grad()
def new_outputs(model: PathModel, n_new: int) -> PathModel:
    """A path model of ``n_new`` outputs on the frozen gates of ``model``, parameters zero.

    (choice) A new output (a class seen after the freeze) takes the chains of the path set
    the most existing outputs share (with one hidden layer and ``rho="auto"``: every hidden
    unit). No path norm can rank chains for an output that has no weights yet, and sharing a
    path set lets the closed-form solver reuse the Gram matrix of the rows already seen
    (:meth:`glai.solvers.ridge.RidgeStatistics.extend`).
    """
    if not (isinstance(n_new, int) and n_new >= 1):
        raise ValueError(f"n_new must be an int >= 1, got {n_new!r}")
    cols = _largest_path_set(model)
    is_full = cols < model.num_full
    full, bias = cols[is_full], cols[~is_full]
    ref = model.theta
    new = PathModel(
        model.in_features, model.hidden_features, n_new, n_new * full.numel(),
        n_new * bias.numel(), device=ref.device, dtype=ref.dtype,
    )  # fmt: skip
    for name, buf in model.named_buffers():
        if name.startswith("gate_"):
            getattr(new, name).copy_(buf)
    ks = torch.arange(n_new, device=ref.device)
    new.units.copy_(torch.cat([model.units[full].repeat(n_new, 1),
                               model.units[bias].repeat(n_new, 1)]))  # fmt: skip
    new.output.copy_(torch.cat([ks.repeat_interleave(full.numel()),
                                ks.repeat_interleave(bias.numel())]))  # fmt: skip
    return new


@torch.no_grad()
def join_outputs(first: PathModel, second: PathModel) -> PathModel:
    """One path model computing ``[first(x), second(x)]``: ``[N, n_L1 + n_L2]``.

    Both must share the frozen gating network. Paths keep their order (full paths of
    ``first``, of ``second``, then their partial-bias paths), so the outputs of ``first`` are
    computed from the same parameters as before.
    """
    mine, theirs = dict(first.named_buffers()), dict(second.named_buffers())
    same = first.in_features == second.in_features and all(
        torch.equal(buf, theirs[name]) for name, buf in mine.items() if name.startswith("gate_")
    )
    if not same:
        raise ValueError("join_outputs needs two path models on the same gating network")
    p1, p2 = first.num_full, second.num_full
    joined = PathModel(
        first.in_features, first.hidden_features, first.out_features + second.out_features,
        p1 + p2, first.num_bias + second.num_bias, device=first.theta.device,
        dtype=first.theta.dtype,
    )  # fmt: skip

    def cat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # full paths, then bias paths
        return torch.cat([a[:p1], b[:p2], a[p1:], b[p2:]])

    joined.theta.copy_(torch.cat([first.theta, second.theta]))
    joined.beta.copy_(cat(first.beta, second.beta))
    joined.beta0.copy_(torch.cat([first.beta0, second.beta0]))
    for name, buf in mine.items():
        if name.startswith("gate_"):
            getattr(joined, name).copy_(buf)
    joined.units.copy_(cat(first.units, second.units))
    joined.output.copy_(cat(first.output, second.output + first.out_features))
    return joined


def add_outputs(model: PathModel, n_new: int) -> PathModel:
    """``model`` with ``n_new`` outputs appended (new classes): :func:`new_outputs` joined
    after the existing ones, whose parameters and paths are unchanged."""
    return join_outputs(model, new_outputs(model, n_new))
