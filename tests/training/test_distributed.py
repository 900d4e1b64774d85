"""Data-parallel training under torch.distributed (two CPU processes, gloo backend)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from glai import MLP
from glai.training import History, TrainConfig, train_epochs

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(128, 6, generator=gen)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def _train(out: Path) -> None:
    x, y = _data()
    torch.manual_seed(0)
    model = MLP(6, 8, 3)
    rows_trained = [0]

    def loss_fn(o: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if o.requires_grad:  # a training step, not a validation pass
            rows_trained[0] += o.shape[0]
        return F.cross_entropy(o, t, reduction="none")

    train_epochs(
        model, (x,), y, (x,), y,
        loss_fn=loss_fn,
        score_fn=lambda o, t: float((o.argmax(1) == t).float().mean()),
        config=TrainConfig(lr=1e-2, batch_size=32, max_epochs=3, patience=None),
        history=History(), phase="mlp", generator=torch.Generator().manual_seed(1),
        keep_best=False,
    )  # fmt: skip
    torch.save({"state": model.state_dict(), "rows": rows_trained[0]}, out)


def _worker(rank: int, world: int, tmp: str, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        _train(Path(tmp) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_matches_single_process(tmp_path: Path) -> None:
    # Each rank takes half of every minibatch and DDP averages the gradients: with equal
    # halves that is the gradient of the whole minibatch, so both ranks end with the
    # parameters of an ordinary single-process run (up to float rounding).
    port = 29500 + os.getpid() % 1000
    mp.spawn(_worker, args=(2, str(tmp_path), port), nprocs=2, join=True)
    _train(tmp_path / "single.pt")
    single = torch.load(tmp_path / "single.pt")
    assert single["rows"] == 3 * 128
    for rank in (0, 1):
        saved = torch.load(tmp_path / f"rank{rank}.pt")
        assert saved["rows"] == 3 * 128 // 2  # each rank trained on half of every batch
        state = saved["state"]
        for name, value in single["state"].items():
            torch.testing.assert_close(state[name], value, atol=1e-5, rtol=1e-4)
