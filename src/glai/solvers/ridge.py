"""Closed-form solver for the quantitative phase: ridge regression onto the paths.

With the gates fixed, output ``k`` of a path model is linear in its parameters,

    glai_k(x) = phi_k(x) . w_k,   phi_k(x) = [g_p(x) x, g_p(x) (p in P_k), g_q(x) (q), 1],

so a squared loss on one-hot (or standardised) targets is one ridge problem per output,

    w_k = argmin_w  sum_i s_i (phi_k(x_i) . w - Y_ik)^2 + lam ||w||^2,

whose Gram matrix ``Phi_k^T S Phi_k`` is shared by all outputs with the same paths (every
output, with one hidden layer and no pruning). Its blocks are ``X~^T diag(s a_j a_j') X~``.
Cheap when ``P_k (n_0 + 1)`` is small (a few thousand unknowns); then it beats gradient
descent outright (GLAI-METHOD.md section 9).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from glai.path_model import PathModel

if TYPE_CHECKING:
    from glai.solvers import SolverConfig

__all__ = ["path_features", "ridge_unknowns", "ridge_paths", "solve"]


def ridge_unknowns(model: PathModel) -> int:
    """Unknowns of the largest per-output ridge problem: ``|P_k| (n_0 + 1) + |Q_k| + 1``."""
    is_full = torch.arange(model.num_paths, device=model.output.device) < model.num_full
    full = torch.bincount(model.output[is_full], minlength=model.out_features)
    bias = torch.bincount(model.output[~is_full], minlength=model.out_features)
    return int((full * (model.in_features + 1) + bias).max()) + 1


def path_features(
    x: torch.Tensor, gates: torch.Tensor, full: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """``phi(x) = [g_p x (p in full), g_p (p in full), g_q (q in bias), 1]``: ``[N, D]``.

    Args:
        x: ``[N, n_0]``; gates: ``[N, P + Q]`` bool; full, bias: column indices into gates.
    """
    g = gates[:, full].to(x.dtype)
    kron = (g[:, :, None] * x[:, None, :]).flatten(1)  # [N, |full| * n_0], path-major
    ones = x.new_ones(x.shape[0], 1)
    return torch.cat([kron, g, gates[:, bias].to(x.dtype), ones], dim=1)


@torch.no_grad()
def ridge_paths(
    model: PathModel,
    x: torch.Tensor,
    gates: torch.Tensor,
    targets: torch.Tensor,
    alphas: Sequence[float],
    *,
    sample_weight: torch.Tensor | None = None,
    chunk_size: int = 4096,
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[dict[str, torch.Tensor]]:
    """Ridge solutions of the path model for each ``alpha``, as parameter dicts.

    ``lam = alpha * mean(diag(Gram))`` makes ``alpha`` scale-free. Gram and right-hand sides
    accumulate over chunks of rows in the model's dtype; the solve is in float64.

    Args:
        x: ``[N, n_0]``; gates: ``[N, P + Q]``; targets: ``[N, n_L]``.
        reduce: applied to each Gram matrix and right-hand side before the solve; under
            ``torch.distributed`` a sum over the ranks, each holding a shard of the rows, so
            that every rank solves the problem of all rows (the statistics are sums over rows).

    Returns:
        one ``{"theta", "beta", "beta0"}`` dict per alpha (shapes of the model's parameters).
    """
    n_out = model.out_features
    if targets.shape != (x.shape[0], n_out):
        raise ValueError(
            f"targets must have shape [{x.shape[0]}, {n_out}], got {tuple(targets.shape)}"
        )
    is_full = torch.arange(model.num_paths, device=x.device) < model.num_full
    # Per output: its full-path and partial-bias-path columns, found once.
    columns = []
    groups: dict[tuple[int, ...], list[int]] = {}
    for k in range(n_out):
        cols = (model.output == k).nonzero().flatten()
        columns.append((cols[is_full[cols]], cols[~is_full[cols]]))
        key = tuple(model.units[cols].flatten().tolist()) + (-2,) + tuple(is_full[cols].tolist())
        groups.setdefault(key, []).append(k)
    solutions = [
        {name: torch.zeros_like(p) for name, p in model.named_parameters()} for _ in alphas
    ]
    n0 = model.in_features
    for outputs in groups.values():
        full, bias = columns[outputs[0]]
        dim = full.numel() * (n0 + 1) + bias.numel() + 1
        gram = x.new_zeros(dim, dim)
        rhs = x.new_zeros(dim, len(outputs))
        for i in range(0, x.shape[0], chunk_size):
            phi = path_features(x[i : i + chunk_size], gates[i : i + chunk_size], full, bias)
            y = targets[i : i + chunk_size][:, outputs]
            if sample_weight is not None:
                w = sample_weight[i : i + chunk_size, None]
                gram += phi.t() @ (phi * w)
                rhs += phi.t() @ (y * w)
            else:
                gram += phi.t() @ phi
                rhs += phi.t() @ y
        if reduce is not None:
            gram, rhs = reduce(gram), reduce(rhs)
        gram64, rhs64 = gram.double(), rhs.double()
        scale = float(gram64.diagonal().mean())
        eye = torch.eye(dim, dtype=torch.float64, device=x.device)
        for sol, alpha in zip(solutions, alphas):
            factor = torch.linalg.cholesky(gram64 + (alpha * scale + 1e-12) * eye)
            w = torch.cholesky_solve(rhs64, factor).to(x.dtype)  # [dim, |outputs|]
            # Each output of the group has its own copy of the shared paths.
            for j, k in enumerate(outputs):
                full_k, bias_k = columns[k]
                nf = full_k.numel()
                sol["theta"][full_k] = w[: nf * n0, j].reshape(nf, n0)
                sol["beta"][full_k] = w[nf * n0 : nf * (n0 + 1), j]
                sol["beta"][bias_k] = w[nf * (n0 + 1) : nf * (n0 + 1) + bias_k.numel(), j]
                sol["beta0"][k] = w[-1, j]
    return solutions


def solve(
    model: PathModel,
    x: torch.Tensor,
    gates: torch.Tensor,
    targets: torch.Tensor,
    config: SolverConfig,
    *,
    sample_weight: torch.Tensor | None = None,
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[dict[str, torch.Tensor]]:
    """The registry's entry point: :func:`ridge_paths` for each of ``config.alphas``."""
    return ridge_paths(
        model, x, gates, targets, config.alphas, sample_weight=sample_weight, reduce=reduce
    )
