"""A toy closed-form solver, the whole of what a new solver needs: this file and one line.

It keeps the frozen network's path weights (``theta``, ``beta``) and solves only the output
bias ``beta0`` in closed form: for penalty ``alpha`` (scale-free, one per ``config.alphas``)

    beta0_k = sum_i s_i r_ik / ((1 + alpha) sum_i s_i),   r_ik = Y_ik - (f_k(x_i) - beta0_k),

the minimiser of ``sum_i s_i (r_ik - b)^2 + alpha (sum_i s_i) b^2`` over ``b``, where ``f`` is
the path model with its current parameters. The loop scores each candidate on validation data.
"""

from __future__ import annotations

from collections.abc import Generator

import torch

from glai.path_model import PathModel
from glai.solvers.base import Candidate, SolverConfig


@torch.no_grad()
def solve(
    model: PathModel,
    x: torch.Tensor,
    gates: torch.Tensor,
    targets: torch.Tensor,
    config: SolverConfig,
    *,
    sample_weight: torch.Tensor | None = None,
) -> Generator[Candidate, float, None]:
    """``x [N, n_0]``, ``gates [N, P + Q]``, ``targets [N, n_L]``: one candidate per alpha."""
    s = torch.ones(len(x), dtype=x.dtype) if sample_weight is None else sample_weight.to(x.dtype)
    residual = targets - (model(x, gates) - model.beta0)  # [N, n_L]
    mean = (s[:, None] * residual).sum(0) / s.sum()
    for alpha in config.alphas:
        yield Candidate(model.theta.clone(), model.beta.clone(), mean / (1 + alpha), alpha)
