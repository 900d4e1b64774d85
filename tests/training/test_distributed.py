"""Training under torch.distributed (two CPU processes, gloo): both phases, the closed form,
sample weights, identical paths on every rank, checkpoints and resuming after a kill.

Spawning processes is the slow part, so one spawn runs every scenario and the tests read its
results; the single-process references run in the test process.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from glai.block import GLAI
from glai.fewshot import FewShotHead
from glai.run import RunConfig, fit_head
from glai.ssl import ProjectionHead, fit_projection_head
from glai.structure import StopRule, StructureMonitor
from glai.training import Data, Objective, TrainConfig, fit_glai
from glai.training.checkpoint import Checkpoint, read_checkpoint
from glai.training.distributed import gather_rows, plan_epoch, shard_bounds, shard_offset
from glai.training.losses import accuracy, cross_entropy
from glai.training.plans import EpisodePlan

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")

WORLD = 2
N = 101  # odd: the shards differ in size (51 and 50 rows)
GLAI_RUN = RunConfig(
    model="glai", hidden=(8,), batch_size=16, max_epochs=8, patience=3, probe_size=64,
    lr=1e-2, seed=3, quant_optimizer="adam",
)  # fmt: skip


def _data() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(N + 40, 6, generator=gen)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.3).long()
    # Weights far from uniform, and heavier on the second shard: a mean of per-rank means
    # would weigh the two shards equally and train another model.
    w = torch.rand(N, generator=gen) * 0.5 + (torch.arange(N) >= N // 2) * 3.0
    return {"X": x[:N], "y": y[:N], "X_val": x[N:], "y_val": y[N:], "w": w}


def _shard(data: dict[str, torch.Tensor], rank: int, world: int) -> dict[str, torch.Tensor]:
    lo, hi = shard_bounds(N, rank, world)
    return {**data, "X": data["X"][lo:hi], "y": data["y"][lo:hi], "w": data["w"][lo:hi]}


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _initial_paths(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The path model right after the freeze (no quantitative epoch)."""
    torch.manual_seed(0)
    model = GLAI(6, 8, 3)
    monitor = StructureMonitor(d["X"][:40], rule="epochs")  # each rank's own rows: rank 0's win
    fit_glai(
        model, Data(d["X"], d["y"], d["X_val"], d["y_val"]), Objective(cross_entropy, accuracy),
        structural=TrainConfig(lr=1e-2, batch_size=16, max_epochs=4),
        quantitative=TrainConfig(max_epochs=0), monitor=monitor,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert model.path_model is not None
    return _state(model.path_model)


def _episodic(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A GLAI block trained on episodes (glai.training.plans.EpisodePlan), both phases."""
    plan = EpisodePlan(n_way=3, k_shot=2, n_query=3, episodes=4)
    plan.val_episodes = plan.draw(d["y_val"], 5, torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = GLAI(6, 8, 4)
    monitor = StructureMonitor(d["X"][:40], rule="epochs")
    fit_glai(
        model, Data(d["X"], d["y"], d["X_val"], d["y_val"]), Objective(plan.loss, plan.score),
        structural=TrainConfig(lr=1e-2, max_epochs=2), monitor=monitor, plan=plan,
        quantitative=TrainConfig(lr=1e-2, max_epochs=2, patience=None),
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    return _state(model)


def _ssl(rank: int, world: int) -> dict[str, torch.Tensor]:
    """A GLAI projection head on this rank's shard of the images."""
    views = torch.randn(40, 3, 6, generator=torch.Generator().manual_seed(2))
    lo, hi = shard_bounds(40, rank, world)
    torch.manual_seed(0)
    head = ProjectionHead(6, 8, 4)
    fit_projection_head(
        head, views[lo:hi], views[:10], config=TrainConfig(batch_size=8, max_epochs=2),
        rule=StopRule(kind="epochs", epochs=1, min_epochs=1), probe_size=20, random_state=0,
    )  # fmt: skip
    return _state(head)


def _fewshot(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A few-shot GLAI head fitted on this rank's shard of the rows; its embedding of the
    validation rows (whole on every rank)."""
    head = FewShotHead(
        (8,), 6, n_way=2, k_shot=2, n_query=3, episodes=20, check_every=5, val_tasks=5,
        probe_size=32, random_state=0,
    ).fit(d["X"].numpy(), d["y"].numpy())  # fmt: skip
    return {"embedding": torch.as_tensor(head.transform(d["X_val"].numpy()))}


class _Killed(Exception):
    pass


def _run_killed(run: RunConfig, d: dict[str, torch.Tensor], ckpt: Path, phase: str, at: int):
    """``run`` with checkpoints, interrupted right after the checkpoint of epoch ``at`` of
    ``phase`` (every rank at once, as a kill would), then resumed by a fresh call."""
    save = Checkpoint.save

    def save_then_die(self: Checkpoint, ph: str, loop: dict[str, Any], history: Any) -> None:
        save(self, ph, loop, history)
        if ph == phase and loop["epochs"] == at:
            if dist.is_initialized():
                dist.barrier()  # rank 0 has written it
            raise _Killed

    Checkpoint.save = save_then_die  # type: ignore[method-assign]
    try:
        fit_head(run, d["X"], d["y"], d["X_val"], d["y_val"], checkpoint=ckpt)
        raise AssertionError("the run was not interrupted")
    except _Killed:
        pass
    finally:
        Checkpoint.save = save  # type: ignore[method-assign]
    saved = read_checkpoint(ckpt)
    assert saved["phase"] == phase and saved["loop"]["epochs"] == at
    model, history = fit_head(run, d["X"], d["y"], d["X_val"], d["y_val"], checkpoint=ckpt)
    return _state(model), [r["epoch"] for r in history.to_dicts()]


def _scenarios(rank: int, world: int, tmp: Path) -> dict[str, Any]:
    d = _shard(_data(), rank, world)
    out: dict[str, Any] = {}
    mlp = RunConfig(model="mlp", hidden=(8,), batch_size=16, max_epochs=4, lr=1e-2, patience=None)
    model, _ = fit_head(mlp, d["X"], d["y"], d["X_val"], d["y_val"], sample_weight=d["w"])
    out["mlp_weighted"] = _state(model)
    model, history = fit_head(replace(mlp, optimizer="lbfgs", max_epochs=2), d["X"], d["y"],
                              d["X_val"], d["y_val"])  # fmt: skip
    out["mlp_lbfgs"] = _state(model)
    out["mlp_lbfgs_loss"] = history.records[0].train_loss
    model, history = fit_head(GLAI_RUN, d["X"], d["y"], d["X_val"], d["y_val"])
    out["glai"] = _state(model)
    out["glai_phases"] = [r.phase for r in history.records]
    model, _ = fit_head(replace(GLAI_RUN, quant_optimizer="ridge"), d["X"], d["y"], d["X_val"],
                        d["y_val"], sample_weight=d["w"])  # fmt: skip
    out["glai_ridge"] = _state(model)
    out["paths"] = _initial_paths(d)
    out["episodes"] = _episodic(d)
    out["ssl"] = _ssl(rank, world)
    out["fewshot"] = _fewshot(d)
    if dist.is_initialized():
        dist.barrier()
    for phase, at in (("structural", 2), ("quantitative", 1)):
        out[f"resumed_{phase}"] = _run_killed(GLAI_RUN, d, tmp / f"{phase}.pt", phase, at)
    return out


def _worker(rank: int, world: int, tmp: str, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.save(_scenarios(rank, world, Path(tmp)), Path(tmp) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("ddp")
    port = 29500 + os.getpid() % 1000
    mp.spawn(_worker, args=(WORLD, str(tmp), port), nprocs=WORLD, join=True)
    return [torch.load(tmp / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    torch.set_num_threads(1)
    return _scenarios(0, 1, tmp_path_factory.mktemp("single"))


def _assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=2e-5, rtol=1e-4, msg=name)


# -- helpers, one process --------------------------------------------------------------------


def test_shard_bounds_cover_the_rows_in_order() -> None:
    bounds = [shard_bounds(11, r, 3) for r in range(3)]
    assert bounds == [(0, 4), (4, 8), (8, 11)]
    with pytest.raises(ValueError, match="rank"):
        shard_bounds(11, 3, 3)


def test_one_process_plan_is_the_permutation_in_minibatches() -> None:
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    w = torch.arange(10.0)
    plan = plan_epoch(order, 0, 10, 4, w, 1)
    assert [b.tolist() for b in plan.batches] == [order[:4].tolist(), order[4:8].tolist(),
                                                 order[8:].tolist()]  # fmt: skip
    # the step loss is sum(w l) * scale: scale = 1 / (sum of the minibatch's weights)
    expected = torch.stack([1 / w[b].sum() for b in plan.batches])
    torch.testing.assert_close(plan.scale, expected)
    assert float(plan.total) == 45.0
    assert shard_offset(7, 1) == (0, 7)
    assert torch.equal(gather_rows(torch.arange(6.0)[:, None], torch.tensor([4, 1]), 0, 1),
                       torch.tensor([[4.0], [1.0]]))  # fmt: skip


# -- two processes ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mlp_weighted", "glai", "glai_ridge", "episodes", "fewshot"])
def test_two_ranks_train_the_single_process_model(
    ranks: list[dict[str, Any]], single: dict[str, Any], name: str
) -> None:
    # Shards of 51 and 50 rows, global minibatches of 16 split by ownership: the global
    # weighted mean's gradient on every step, so the single-process model on all rows.
    for rank in ranks:
        _assert_close(rank[name], single[name])
    assert all(torch.equal(v, ranks[1][name][k]) for k, v in ranks[0][name].items())


def test_full_batch_lbfgs_reduces_loss_and_gradients_over_ranks(
    ranks: list[dict[str, Any]], single: dict[str, Any]
) -> None:
    # The first closure sees the initial parameters: the global mean loss of all 101 rows.
    for rank in ranks:
        assert rank["mlp_lbfgs_loss"] == pytest.approx(single["mlp_lbfgs_loss"], rel=1e-6)
    # Both ranks take the same steps. (Not compared with one process: the strong-Wolfe line
    # search amplifies the rounding of the loss sums; even one process on the same rows in
    # reverse order ends elsewhere after a few dozen evaluations.)
    assert all(torch.equal(v, ranks[1]["mlp_lbfgs"][k]) for k, v in ranks[0]["mlp_lbfgs"].items())


def test_an_ssl_head_trains_under_ddp_the_same_on_every_rank(ranks: list[dict[str, Any]]) -> None:
    first, second = ranks[0]["ssl"], ranks[1]["ssl"]
    assert "path_model.theta" in first  # both phases ran
    assert all(torch.equal(v, second[k]) for k, v in first.items())


def test_glai_runs_both_phases_under_ddp(ranks: list[dict[str, Any]]) -> None:
    phases = ranks[0]["glai_phases"]
    assert phases[0] == "structural" and phases[-1] == "quantitative"
    assert ranks[1]["glai_phases"] == phases  # every rank froze at the same epoch


def test_paths_are_bit_identical_on_every_rank(
    ranks: list[dict[str, Any]], single: dict[str, Any]
) -> None:
    # Each rank passed a probe of its own rows; rank 0's is used everywhere.
    first, second = ranks[0]["paths"], ranks[1]["paths"]
    for name in ("units", "output", "theta", "beta", "beta0", "gate_weight_1", "gate_bias_1"):
        assert torch.equal(first[name], second[name]), name
    assert first["units"].shape == single["paths"]["units"].shape


def test_weighted_ddp_is_not_the_mean_of_rank_means(single: dict[str, Any]) -> None:
    # The reference itself must depend on the weights for the weighted test to mean anything.
    d = _data()
    mlp = RunConfig(model="mlp", hidden=(8,), batch_size=16, max_epochs=4, lr=1e-2, patience=None)
    unweighted, _ = fit_head(mlp, d["X"], d["y"], d["X_val"], d["y_val"])
    diff = unweighted.state_dict()["layers.0.weight"] - single["mlp_weighted"]["layers.0.weight"]
    assert diff.abs().max() > 1e-3


@pytest.mark.parametrize("phase", ["structural", "quantitative"])
def test_resume_after_a_kill_ends_with_the_uninterrupted_model(
    ranks: list[dict[str, Any]], phase: str
) -> None:
    for rank in ranks:
        state, epochs = rank[f"resumed_{phase}"]
        assert epochs == list(range(1, len(epochs) + 1))
        for name, value in rank["glai"].items():
            assert torch.equal(state[name], value), name


def test_checkpoint_of_another_configuration_is_refused(tmp_path: Path) -> None:
    d = _data()
    run = replace(GLAI_RUN, max_epochs=2)
    fit_head(run, d["X"], d["y"], d["X_val"], d["y_val"], checkpoint=tmp_path / "c.pt")
    with pytest.raises(ValueError, match=r"another configuration \(lr: saved 0.01, now 0.1"):
        fit_head(replace(run, lr=0.1), d["X"], d["y"], d["X_val"], d["y_val"],
                 checkpoint=tmp_path / "c.pt")  # fmt: skip
    with pytest.raises(ValueError, match="n_samples: saved 101, now 100"):
        fit_head(run, d["X"][:100], d["y"][:100], d["X_val"], d["y_val"],
                 checkpoint=tmp_path / "c.pt")  # fmt: skip
    # the shards depend on the number of processes: another world size is another run
    saved = read_checkpoint(tmp_path / "c.pt")["config"]
    assert saved["world_size"] == 1
    with pytest.raises(ValueError, match="world_size: saved 1, now 2"):
        Checkpoint(tmp_path / "c.pt", {**saved, "world_size": 2}).load()
    # Other data of the same shape used to resume silently and hand back the old model.
    other = {k: v.clone() for k, v in d.items()}
    other["X"][5, 2] += 1.0
    for data in (other, {**d, "y_val": d["y_val"].flip(0)}):
        with pytest.raises(ValueError, match="the training data's content differs"):
            fit_head(run, data["X"], data["y"], data["X_val"], data["y_val"],
                     checkpoint=tmp_path / "c.pt")  # fmt: skip
    with pytest.raises(ValueError, match="weighted: saved False, now True"):
        fit_head(run, d["X"], d["y"], d["X_val"], d["y_val"], sample_weight=d["w"],
                 checkpoint=tmp_path / "c.pt")  # fmt: skip
    # A flipped bit in the saved state used to resume silently (a weight of 9.9e35).
    raw = bytearray((tmp_path / "c.pt").read_bytes())
    raw[len(raw) // 2] ^= 0x40
    (tmp_path / "c.pt").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"c\.pt is damaged"):
        fit_head(run, d["X"], d["y"], d["X_val"], d["y_val"], checkpoint=tmp_path / "c.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a glai checkpoint"):
        fit_head(run, d["X"], d["y"], d["X_val"], d["y_val"], checkpoint=tmp_path / "bad.pt")
