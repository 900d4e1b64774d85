"""Adam (Kingma and Ba, 2015, arXiv:1412.6980) on minibatches: the default for both phases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from glai.solvers import SolverConfig

__all__ = ["make_optimizer"]


def make_optimizer(
    params: Sequence[torch.nn.Parameter], config: SolverConfig
) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` with ``config.lr`` and ``config.weight_decay``."""
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
