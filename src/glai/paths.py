"""Paths of a ReLU network: candidates, path norms, k-best selection, budget and init.

A path ``p = (j_1, ..., j_{L-1}, k)`` picks one hidden unit per hidden layer and an output
``k``. Its gate is ``g_p(x) = prod_l A_{l, j_l}(x)`` and, expanding the network on the region
where the activation pattern is constant (Mestre et al., 2025, arXiv:2510.00883, Prop. 1),

    f_k(x) = b_L[k] + sum_p g_p(x) c_p (W_1[j_1] . x + b_1[j_1])
                    + sum_{l=2}^{L-1} sum_q g_q(x) c_q b_l[j_l]          (partial-bias paths)

    c_p = W_L[k, j_{L-1}] prod_{l=2}^{L-1} W_l[j_l, j_{l-1}].

A *partial-bias path* ``q`` starts at hidden layer ``s >= 2`` (units of layers ``< s`` are
``-1``) and carries the constant ``c_q b_s[j_s]``. Full paths cost ``n_0 + 1`` trainable
parameters (``theta_p``, ``beta_p``), partial-bias paths 1 (``beta_q``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch

from glai.mlp import MLP, mlp_num_params
from glai.structure import activation_patterns, check_probe_finite

__all__ = [
    "PathSet",
    "resolve_budget",
    "min_budget",
    "check_budget",
    "path_gates",
    "path_coefficients",
    "path_norms",
    "kbest_paths",
    "build_paths",
    "path_model_num_params",
    "BIAS_PATH_SHARE",
]

# (choice) Partial-bias paths may use at most this share of the budget; they cost one
# parameter each but their number grows with the product of the deeper widths.
BIAS_PATH_SHARE = 0.1
_LIVE_CHUNK = 1 << 16  # candidate paths whose probe gates are computed at once


@dataclass
class PathSet:
    """Selected paths and their initial parameters.

    Attributes:
        units: ``[P + Q, L - 1]`` hidden unit per layer; ``-1`` where a partial-bias path has
            not started yet. The first ``num_full`` rows are full paths.
        output: ``[P + Q]`` output coordinate ``k`` of each path.
        num_full: ``P``, the number of full paths (those with a ``theta``).
        theta: ``[P, n_0]`` initial ``theta_p = c_p W_1[j_1]``.
        beta: ``[P + Q]`` initial ``beta_p = c_p b_1[j_1]`` / ``beta_q = c_q b_s[j_s]``.
        beta0: ``[n_L]`` initial ``beta0 = b_L``.
    """

    units: torch.Tensor
    output: torch.Tensor
    num_full: int
    theta: torch.Tensor
    beta: torch.Tensor
    beta0: torch.Tensor

    @property
    def num_params(self) -> int:
        return self.theta.numel() + self.beta.numel() + self.beta0.numel()

    def to(self, device: torch.device) -> PathSet:
        """The same paths with every tensor on ``device``."""
        return PathSet(
            units=self.units.to(device),
            output=self.output.to(device),
            num_full=self.num_full,
            theta=self.theta.to(device),
            beta=self.beta.to(device),
            beta0=self.beta0.to(device),
        )


def min_budget(in_features: int, out_features: int) -> int:
    """The smallest budget a path model can live in: one full path per output plus the output
    biases, ``n_L (n_0 + 1) + n_L``."""
    return out_features * (in_features + 1) + out_features


def check_budget(budget: int, in_features: int, out_features: int, *, label: str = "") -> int:
    """``budget`` itself if it pays for one full path per output (:func:`min_budget`), else
    the ValueError that says what to change. The one place this rule is checked: by
    :func:`resolve_budget` before any training, and again by :func:`build_paths` and
    :func:`glai.block.structural_widths` for callers that skip it.

    ``label`` is appended to the number in the message (e.g. ``" (match)"``).
    """
    need = min_budget(in_features, out_features)
    if budget < need:
        raise ValueError(
            f"budget {budget}{label} cannot hold one path per output (needs {in_features + 1} "
            f"per path x {out_features} outputs + {out_features} output biases = {need}); "
            f"raise the budget to at least {need}"
        )
    return budget


def resolve_budget(
    budget: int | str | None,
    in_features: int,
    hidden_features: int | Sequence[int],
    out_features: int,
    *,
    batch_norm: bool = False,
) -> int | None:
    """``"match"``: the parameter count of the MLP being replaced (a
    :class:`~glai.mlp.BatchNormMLP` with ``batch_norm``); an int: itself; None: no cap.

    A budget that cannot pay for one path per output (:func:`check_budget`) is refused here,
    before any training, rather than when the structure is frozen.
    """
    if budget is None:
        return None
    if budget == "match":
        value = mlp_num_params(in_features, hidden_features, out_features, batch_norm=batch_norm)
        return check_budget(value, in_features, out_features, label=" (match)")
    if not isinstance(budget, Integral) or isinstance(budget, (bool, np.bool_)) or budget < 1:
        raise ValueError(f"budget must be 'match', None or a positive int, got {budget!r}")
    return check_budget(int(budget), in_features, out_features)


def path_model_num_params(
    in_features: int, out_features: int, num_full: int, num_bias: int = 0
) -> int:
    """Trainable parameters of a path model: ``P (n_0 + 1) + Q + n_L``."""
    return num_full * (in_features + 1) + num_bias + out_features


def path_gates(patterns: list[torch.Tensor], units: torch.Tensor) -> torch.Tensor:
    """Gates ``g_p(x) = prod_l A_{l, j_l}(x)`` over the layers each path visits.

    Args:
        patterns: ``L - 1`` BoolTensors ``[N, n_l]``.
        units: ``[P, L - 1]`` unit indices, ``-1`` for layers a path skips.

    Returns:
        BoolTensor ``[N, P]``.
    """
    n = patterns[0].shape[0]
    gates = torch.ones(n, units.shape[0], dtype=torch.bool, device=units.device)
    for layer, a in enumerate(patterns):
        idx = units[:, layer]
        on_path = idx >= 0
        gates &= a[:, idx.clamp(min=0)] | ~on_path
    return gates


def path_coefficients(mlp: MLP, units: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """``c_p = W_L[k, j_{L-1}] prod_{l > s} W_l[j_l, j_{l-1}]`` for paths starting at layer ``s``.

    Args:
        units: ``[P, L - 1]`` (``-1`` before the start layer), output: ``[P]``.

    Returns:
        ``[P]`` coefficients (the product of the weights along the path after its first unit).
    """
    weights = [layer.weight.detach() for layer in mlp.linears]
    coef = weights[-1][output, units[:, -1]]
    for layer in range(1, units.shape[1]):  # W_{layer+1} joins hidden layers layer and layer+1
        prev, cur = units[:, layer - 1], units[:, layer]
        on_path = prev >= 0
        w = weights[layer][cur, prev.clamp(min=0)]
        coef = coef * torch.where(on_path, w, torch.ones_like(w))
    return coef


def path_norms(mlp: MLP, units: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Path norm ``|c_p| * ||(W_1[j_1], b_1[j_1])||`` of full paths ``[P]``."""
    first = mlp.linears[0]
    w1b1 = torch.cat([first.weight.detach(), first.bias.detach()[:, None]], dim=1)
    return path_coefficients(mlp, units, output).abs() * w1b1.norm(dim=1)[units[:, 0]]


def _all_chains(
    widths: tuple[int, ...], start: int, out_features: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every chain from hidden layer ``start`` (0-based) to every output: ``units, output``."""
    ranges = [range(w) for w in widths[start:]]
    chains = torch.tensor(list(itertools.product(*ranges)), dtype=torch.long)
    chains = chains.reshape(-1, len(widths) - start)
    pad = torch.full((chains.shape[0], start), -1, dtype=torch.long)
    chains = torch.cat([pad, chains], dim=1)
    units = chains.repeat(out_features, 1)
    output = torch.arange(out_features).repeat_interleave(chains.shape[0])
    return units, output


@torch.no_grad()
def kbest_paths(
    mlp: MLP, k: int, alive: list[torch.Tensor] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` full paths of largest path norm per output, without enumerating chains.

    Log path norms add along a path, ``log|c_p| + log||(W_1, b_1)[j_1]|| = sum of edge
    scores``, so the best ``k`` chains ending at a unit of layer ``l`` extend the best ``k``
    chains ending at units of layer ``l - 1``: a k-best dynamic programme over the layered
    graph, ``O(k sum_l n_l n_{l-1})``.

    Args:
        k: paths per output.
        alive: optional BoolTensor ``[n_l]`` per hidden layer; dead units start no path.

    Returns:
        ``units [n_L * k', L - 1]`` and ``output [n_L * k']`` (best first per output), only
        paths with a finite score (so possibly fewer than ``k`` per output).
    """
    weights = [layer.weight.detach() for layer in mlp.linears]
    first = mlp.linears[0]
    score = torch.cat([weights[0], first.bias.detach()[:, None]], dim=1).norm(dim=1).log()
    if alive is not None:
        score = score.masked_fill(~alive[0], -math.inf)
    scores = score[:, None]  # [n_1, K_1]: best chain scores ending at each unit
    backs: list[torch.Tensor] = []  # per transition: [n_l, K_l] flat index into [n_{l-1}, K_{l-1}]
    for layer in range(1, len(weights)):
        log_w = weights[layer].abs().log()  # [n_{l}, n_{l-1}]
        if layer < len(weights) - 1 and alive is not None:
            log_w = log_w.masked_fill(~alive[layer][:, None], -math.inf)
        cand = (log_w[:, :, None] + scores[None]).flatten(1)  # [n_l, n_{l-1} * K_{l-1}]
        kept = min(k, cand.shape[1])
        scores, idx = cand.topk(kept, dim=1)
        backs.append(idx)
    # scores: [n_L, K]; walk back to recover the units of each chain.
    n_out, kept = scores.shape
    units = torch.empty(n_out, kept, len(weights) - 1, dtype=torch.long)
    node = torch.arange(n_out)[:, None].expand(n_out, kept)
    rank = torch.arange(kept)[None].expand(n_out, kept)
    for layer in range(len(weights) - 1, 0, -1):
        k_prev = 1 if layer == 1 else backs[layer - 2].shape[1]
        flat = backs[layer - 1][node, rank]
        node, rank = flat // k_prev, flat % k_prev
        units[:, :, layer - 1] = node
    finite = torch.isfinite(scores)
    output = torch.arange(n_out)[:, None].expand(n_out, kept)
    return units[finite], output[finite]


def _top_per_output(
    score: torch.Tensor, output: torch.Tensor, quota: int, n_out: int
) -> torch.Tensor:
    """Indices of the ``quota`` highest scores per output, grouped by output."""
    keep = []
    for k in range(n_out):
        idx = (output == k).nonzero().flatten()
        keep.append(idx[score[idx].argsort(descending=True)[:quota]])
    return torch.cat(keep)


Patterns = list[torch.Tensor]  # one BoolTensor [N_probe, n_l] per hidden layer


@torch.no_grad()
def build_paths(
    mlp: MLP,
    probe_x: torch.Tensor | None = None,
    *,
    budget: int | None = None,
    prune_dead: bool = True,
) -> PathSet:
    """Select the paths of a frozen structure and initialise them from the network.

    Candidates are all (chain, output) pairs. With ``prune_dead`` (needs ``probe_x``), paths
    whose gate is never open on the probe are dropped. If the candidates cost more than
    ``budget`` trainable parameters, each output keeps the same number of paths, those of
    largest path norm (:func:`kbest_paths`) among the live ones. Partial-bias paths
    (depth >= 3) are paid first, up to ``BIAS_PATH_SHARE`` of the budget but never at the cost
    of one full path per output, largest ``|c_q b_s[j_s]|`` first.

    Initialisation: ``theta_p = c_p W_1[j_1]``, ``beta_p = c_p b_1[j_1]``, ``beta0 = b_L``,
    so the path model computes exactly what ``mlp`` computes when nothing is dropped.
    Normalisation layers are folded first (:meth:`~glai.mlp.MLP.folded`).
    """
    mlp = mlp.folded()
    if mlp.depth < 2:
        raise ValueError("mlp must have at least one hidden layer to be frozen into paths")
    if prune_dead and probe_x is None:
        raise ValueError("prune_dead=True needs probe_x to tell which gates never open")
    if prune_dead and probe_x is not None and probe_x.shape[0] == 0:
        # Every gate would count as dead: a model of no paths, whose output is a constant.
        raise ValueError(
            "probe_x has no rows: prune_dead=True needs at least one probe input to tell which "
            "gates open (pass training inputs, or prune_dead=False)"
        )
    if not all(bool(torch.isfinite(t).all()) for t in mlp.state_dict().values()):
        raise ValueError(
            "training diverged: the structural network's weights are not finite, so there is "
            "no structure to freeze; scale the inputs or lower the learning rate"
        )
    if prune_dead and probe_x is not None:
        check_probe_finite(probe_x)
    if budget is not None:
        check_budget(budget, mlp.in_features, mlp.out_features)
    patterns = _probe_patterns(mlp, probe_x) if prune_dead else None
    # Path selection runs on the CPU (index bookkeeping); the result moves back to the device.
    device = mlp.linears[0].weight.device
    cpu_mlp = mlp if device.type == "cpu" else _cpu_copy(mlp)
    bias_units, bias_output, bias_coef = _select_bias_paths(cpu_mlp, patterns, budget)
    num_bias = bias_units.shape[0]
    full_units, full_output = _select_full_paths(cpu_mlp, patterns, budget, num_bias)
    if patterns is not None and probe_x is not None and full_units.shape[0] == 0:
        # Every output would be the constant b_L: the structure is dead on the probe.
        raise ValueError(
            f"no path's gate opens on any of the {probe_x.shape[0]} probe inputs (every chain "
            "of hidden units is off on all of them): the structural network has collapsed; "
            "train it with a smaller learning rate, or pass prune_dead=False to keep the paths"
        )
    paths = _initial_paths(cpu_mlp, full_units, full_output, bias_units, bias_output, bias_coef)
    return paths.to(device)


def _probe_patterns(mlp: MLP, probe_x: torch.Tensor | None) -> Patterns | None:
    """Activation patterns of ``mlp`` on the probe, on the CPU (None without a probe)."""
    if probe_x is None:
        return None
    return [p.cpu() for p in activation_patterns(mlp, probe_x.to(mlp.linears[0].weight))]


def _live(patterns: Patterns | None, units: torch.Tensor) -> torch.Tensor:
    """BoolTensor ``[P]``: paths whose gate opens on at least one probe input (all of them
    without patterns)."""
    if patterns is None or units.shape[0] == 0:
        return torch.ones(units.shape[0], dtype=torch.bool)
    # In chunks: the gates of every candidate on the whole probe need not fit in memory.
    return torch.cat([path_gates(patterns, u).any(dim=0) for u in units.split(_LIVE_CHUNK)])


def _select_bias_paths(
    mlp: MLP, patterns: Patterns | None, budget: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Partial-bias paths (depth >= 3), paid first: ``units, output`` and their constants
    ``c_q b_s[j_s]``.

    Every live chain starting at hidden layer ``s >= 2``; over budget, each output keeps its
    largest ``|c_q b_s[j_s]|``, within ``BIAS_PATH_SHARE`` of the budget and never at the
    cost of one full path per output.
    """
    widths, n_out = mlp.hidden_features, mlp.out_features
    if len(widths) < 2:
        empty = torch.empty(0, dtype=torch.long)
        return (
            empty.reshape(0, len(widths)),
            empty,
            torch.empty(0, dtype=mlp.linears[0].weight.dtype),
        )
    chains = [_all_chains(widths, start, n_out) for start in range(1, len(widths))]
    units = torch.cat([u for u, _ in chains])
    output = torch.cat([o for _, o in chains])
    live = _live(patterns, units)
    units, output = units[live], output[live]
    coef = path_coefficients(mlp, units, output) * _start_bias(mlp, units)
    if budget is not None:
        room = budget - min_budget(mlp.in_features, n_out)  # what one path per output leaves
        cap = min(int(BIAS_PATH_SHARE * budget), room)
        if units.shape[0] > cap:
            keep = _top_per_output(coef.abs(), output, cap // n_out, n_out)
            units, output, coef = units[keep], output[keep], coef[keep]
    return units, output, coef


def _select_full_paths(
    mlp: MLP, patterns: Patterns | None, budget: int | None, num_bias: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full paths, grouped by output: every live candidate if they fit what the budget leaves
    after ``num_bias`` partial-bias paths, else each output's ``quota`` largest path norms."""
    widths, n0, n_out = mlp.hidden_features, mlp.in_features, mlp.out_features
    quota = None if budget is None else (budget - n_out - num_bias) // (n0 + 1) // n_out
    if quota is None or math.prod(widths) * n_out <= quota * n_out:
        units, output = _all_chains(widths, 0, n_out)
        live = _live(patterns, units)
        units, output = units[live], output[live]
    else:
        units, output = _kbest_live_paths(mlp, patterns, quota)
        keep = _top_per_output(path_norms(mlp, units, output), output, quota, n_out)
        units, output = units[keep], output[keep]
    order = torch.argsort(output, stable=True)  # group paths by output for readability
    return units[order], output[order]


def _kbest_live_paths(
    mlp: MLP, patterns: Patterns | None, quota: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Live paths among the k best path norms per output, k widened until every output has
    ``quota`` of them (or every chain was seen).

    A chain of live units may still never open as a whole on the probe, so asking for exactly
    ``quota`` could leave an output short; widening keeps each output's ``quota`` best live
    paths exactly.
    """
    alive = None if patterns is None else [p.any(dim=0) for p in patterns]
    n_chains = math.prod(mlp.hidden_features)
    k = min(2 * quota, n_chains)
    while True:
        units, output = kbest_paths(mlp, k, alive)
        live = _live(patterns, units)
        units, output = units[live], output[live]
        per_output = torch.bincount(output, minlength=mlp.out_features)
        if k >= n_chains or bool((per_output >= quota).all()):
            return units, output
        k = min(2 * k, n_chains)


def _initial_paths(
    mlp: MLP,
    full_units: torch.Tensor,
    full_output: torch.Tensor,
    bias_units: torch.Tensor,
    bias_output: torch.Tensor,
    bias_coef: torch.Tensor,
) -> PathSet:
    """``theta_p = c_p W_1[j_1]``, ``beta_p = c_p b_1[j_1]``, ``beta_q = c_q b_s[j_s]``,
    ``beta0 = b_L``; full paths first."""
    coef = path_coefficients(mlp, full_units, full_output)
    first = mlp.linears[0]
    theta = coef[:, None] * first.weight.detach()[full_units[:, 0]]
    beta = torch.cat([coef * first.bias.detach()[full_units[:, 0]], bias_coef])
    return PathSet(
        units=torch.cat([full_units, bias_units]),
        output=torch.cat([full_output, bias_output]),
        num_full=full_units.shape[0],
        theta=theta,
        beta=beta,
        beta0=mlp.linears[-1].bias.detach().clone(),
    )


def _start_bias(mlp: MLP, units: torch.Tensor) -> torch.Tensor:
    """``b_s[j_s]`` of the first hidden layer ``s`` each partial-bias path visits."""
    start = (units >= 0).int().argmax(dim=1)
    out = torch.empty(units.shape[0], dtype=mlp.linears[0].weight.dtype)
    for s in start.unique().tolist():
        rows = start == s
        out[rows] = mlp.linears[s].bias.detach()[units[rows, s]]
    return out


def _cpu_copy(mlp: MLP) -> MLP:
    dtype = mlp.linears[0].weight.dtype
    copy = MLP(mlp.in_features, mlp.hidden_features, mlp.out_features, dtype=dtype)
    copy.load_state_dict({k: v.cpu() for k, v in mlp.state_dict().items()})
    return copy
