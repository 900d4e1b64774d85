"""Full-batch L-BFGS with a strong-Wolfe line search.

The quantitative phase is convex, so a quasi-Newton method on the whole training set is a
natural candidate; measured, it peaked lower than Adam at 10-17x the cost per epoch
(BENCHMARKS.md). One epoch is one ``step`` of ``config.lbfgs_iter`` iterations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from glai.solvers.base import SolverConfig

__all__ = ["make_optimizer"]


def make_optimizer(
    params: Sequence[torch.nn.Parameter], config: SolverConfig
) -> torch.optim.Optimizer:
    """``torch.optim.LBFGS`` with ``config.lr`` and ``max_iter=config.lbfgs_iter``.

    ``config.weight_decay`` is not applied (L-BFGS has no such option).
    """
    return torch.optim.LBFGS(
        params, lr=config.lr, max_iter=config.lbfgs_iter, line_search_fn="strong_wolfe"
    )
