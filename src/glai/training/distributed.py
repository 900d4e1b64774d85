"""Data-parallel helpers: the loop runs unchanged in one process or under ``torch.distributed``.

Under a process group initialised by the caller (e.g. with ``torchrun``), every rank holds all
data and draws the same permutation (same generator seed); each minibatch is split across ranks
(:func:`rank_share`) and DDP averages the gradients. Validation runs on every rank with
identical parameters, so the stopping decisions agree without communication. Full-batch and
closed-form solvers run unsplit on every rank.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["rank_and_world", "rank_share", "data_parallel", "sum_over_ranks", "weighted_mean"]


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def rank_share(batch: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This rank's rows of a minibatch of indices: ``batch[rank::world]``."""
    return batch[rank::world]


def data_parallel(model: nn.Module, device: torch.device, world: int) -> nn.Module:
    """``model`` wrapped in DDP when ``world > 1``, else ``model`` itself."""
    if world == 1:
        return model
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def sum_over_ranks(value: torch.Tensor, world: int) -> torch.Tensor:
    """``value`` summed over every rank, in place (a no-op in one process)."""
    if world > 1:
        torch.distributed.all_reduce(value)
    return value


def weighted_mean(loss: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """``sum_i w_i loss_i / sum_i w_i`` (the plain mean without weights)."""
    if weight is None:
        return loss.mean()
    return (loss * weight).sum() / weight.sum()
