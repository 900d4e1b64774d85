"""Data-parallel helpers: the loop runs unchanged in one process or under ``torch.distributed``.

Under a process group (e.g. started by ``torchrun``; :func:`init_from_env`), every rank holds
one contiguous shard of the training rows, in rank order (:func:`shard_bounds`): rank ``r``
holds global rows ``[lo_r, hi_r)``. Every rank draws the same permutation of the ``N`` global
row indices (same generator seed) and cuts it into the same global minibatches ``B_b``; a rank
trains on the rows of ``B_b`` it holds. Its loss is scaled so that DDP's gradient average is the
gradient of the global weighted mean over ``B_b``,

    L_r = world * sum_{i in B_b, i on r} w_i l_i / sum_{i in B_b} w_i,
    (1 / world) sum_r grad L_r = grad( sum_{i in B_b} w_i l_i / sum_{i in B_b} w_i ),

so training on ``world`` shards equals single-process training on their concatenation, up to
float rounding (a mean of per-rank means would weight each rank equally, which is wrong as
soon as the weights, or the number of rows of ``B_b`` per rank, differ). The denominators
``sum_{i in B_b} w_i`` of a whole epoch are reduced once, at its start. Full-batch solvers
all-reduce their gradients; the closed form all-reduces its sufficient statistics.

Validation data are held whole by every rank. Decisions (best epoch, the structure's stop)
are taken on rank 0's numbers and broadcast, so every rank stops and freezes at the same epoch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "rank_and_world",
    "init_from_env",
    "shard_bounds",
    "shard_offset",
    "data_parallel",
    "sum_over_ranks",
    "max_over_ranks",
    "broadcast_floats",
    "broadcast_tensor",
    "gather_rows",
    "all_reduce_grads",
    "EpochPlan",
    "plan_epoch",
]


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env(device: str | torch.device = "cpu") -> torch.device:
    """Join the process group that ``torchrun`` describes (``RANK``, ``WORLD_SIZE``, ...).

    gloo for ``device="cpu"``, nccl for ``"cuda"`` (each rank on ``cuda:LOCAL_RANK``). Without
    ``WORLD_SIZE`` in the environment (a plain ``python`` run) no group is made. Returns the
    device this rank trains on.
    """
    dev = torch.device(device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank if dev.index is None else dev.index)
        torch.cuda.set_device(dev)
    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        dist.init_process_group(
            "nccl" if dev.type == "cuda" else "gloo",
            device_id=dev if dev.type == "cuda" else None,
        )
    return dev


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of ``n`` held by ``rank``: contiguous, in rank order, sizes within 1."""
    if not 0 <= rank < world:
        raise ValueError(f"rank must be in [0, world={world}), got {rank}")
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


def _comm_device(like: torch.device) -> torch.device:
    """Where collective buffers live: the CUDA device under nccl, else the CPU."""
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return like if like.type == "cuda" else torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def shard_offset(n_local: int, world: int) -> tuple[int, int]:
    """``(lo, N)``: this rank's first global row and the global row count, from every rank's
    ``n_local`` (shards contiguous in rank order). ``(0, n_local)`` in one process."""
    if world == 1:
        return 0, n_local
    sizes = torch.zeros(world, dtype=torch.long, device=_comm_device(torch.device("cpu")))
    sizes[dist.get_rank()] = n_local
    dist.all_reduce(sizes)
    counts = sizes.tolist()
    return sum(counts[: dist.get_rank()]), sum(counts)


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
        buf = value.to(_comm_device(value.device))
        dist.all_reduce(buf)
        if buf is not value:
            value.copy_(buf)
    return value


def max_over_ranks(value: int, world: int) -> int:
    """The largest ``value`` over every rank."""
    if world == 1:
        return value
    buf = torch.tensor([value], dtype=torch.long, device=_comm_device(torch.device("cpu")))
    dist.all_reduce(buf, op=dist.ReduceOp.MAX)
    return int(buf)


def broadcast_floats(values: Sequence[float], world: int) -> list[float]:
    """Rank 0's ``values`` on every rank (float64; one small broadcast)."""
    if world == 1:
        return list(values)
    buf = torch.tensor(values, dtype=torch.float64, device=_comm_device(torch.device("cpu")))
    dist.broadcast(buf, src=0)
    return buf.tolist()


def broadcast_tensor(value: torch.Tensor, world: int) -> torch.Tensor:
    """Rank 0's ``value`` (any shape; same dtype and ndim on every rank) on every rank."""
    if world == 1:
        return value
    comm = _comm_device(value.device)
    shape = torch.tensor(value.shape, dtype=torch.long, device=comm)
    dist.broadcast(shape, src=0)
    buf = value.to(comm) if dist.get_rank() == 0 else value.new_empty(shape.tolist(), device=comm)
    dist.broadcast(buf, src=0)
    return buf.to(value.device)


def gather_rows(x_local: torch.Tensor, rows: torch.Tensor, lo: int, world: int) -> torch.Tensor:
    """Global rows ``rows`` of a matrix sharded by rows (this rank holds ``[lo, lo + len)``),
    the same ``[len(rows), n]`` tensor on every rank: each rank fills in the rows it holds and
    a sum over ranks (exact: the others add zeros) completes it."""
    if world == 1:
        return x_local[rows.to(x_local.device)]
    rows = rows.to(x_local.device)
    mine = (rows >= lo) & (rows < lo + x_local.shape[0])
    out = x_local.new_zeros(rows.shape[0], *x_local.shape[1:])
    out[mine] = x_local[rows[mine] - lo]
    return sum_over_ranks(out, world)


def all_reduce_grads(params: Sequence[torch.Tensor], world: int) -> None:
    """Sum every parameter's gradient over the ranks (one flat buffer, one all-reduce)."""
    if world == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = sum_over_ranks(torch.cat([g.reshape(-1) for g in grads]), world)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


class EpochPlan:
    """One epoch's minibatches on this rank: local row indices per global minibatch, and the
    factors ``world / sum_{i in B_b} w_i`` that turn a local weighted sum into this rank's share
    of the global weighted mean (module docstring). ``sizes``: the row count of each global
    minibatch (the same on every rank; a batch plan draws per-row randomness for that many)."""

    def __init__(
        self,
        batches: list[torch.Tensor],
        scale: torch.Tensor,
        total: torch.Tensor,
        sizes: list[int] | None = None,
    ):
        self.batches = batches
        self.scale = scale  # [n_batches], on the data's device
        self.total = total  # sum_i w_i over the epoch (N without weights), a 0-d tensor
        self.sizes = [len(b) for b in batches] if sizes is None else sizes


def plan_epoch(
    order: torch.Tensor,
    lo: int,
    n_local: int,
    batch_size: int,
    sample_weight: torch.Tensor | None,
    world: int,
) -> EpochPlan:
    """Cut the global permutation ``order [N]`` (on the data's device) into minibatches of
    ``batch_size`` and keep this rank's rows (global ``[lo, lo + n_local)``).

    Costs one host synchronisation and, with weights under several ranks, one all-reduce per
    epoch, none per step.
    """
    n = order.shape[0]
    n_batches = -(-n // batch_size)
    device = order.device
    if world == 1:
        batches = list(order.split(batch_size))
        batch_of = torch.arange(n, device=device) // batch_size
        local_rows = order
    else:
        pos = ((order >= lo) & (order < lo + n_local)).nonzero().flatten()
        batch_of = pos // batch_size
        counts = torch.bincount(batch_of, minlength=n_batches)
        local_rows = order[pos] - lo
        batches = list(local_rows.split(counts.tolist()))
    if sample_weight is None:
        denom = torch.full((n_batches,), float(batch_size), device=device)
        denom[-1] = n - (n_batches - 1) * batch_size
    else:
        denom = torch.zeros(n_batches, dtype=sample_weight.dtype, device=device)
        denom.index_add_(0, batch_of, sample_weight[local_rows])
        denom = sum_over_ranks(denom, world)
    # A minibatch whose weights are all 0 contributes nothing (rather than 0 / 0).
    scale = torch.where(denom > 0, world / denom.clamp_min(1e-30), torch.zeros_like(denom))
    sizes = [min(batch_size, n - b * batch_size) for b in range(n_batches)]
    return EpochPlan(batches, scale, denom.sum(), sizes)
