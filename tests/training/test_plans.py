"""glai.training.plans: the batch plans of the driver (i.i.d. rows, view pairs, episodes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from glai.block import GLAI
from glai.fewshot.prototypes import prototype_logits, prototypes
from glai.structure import StopRule, StructureMonitor
from glai.training import Data, Objective, Rows, TrainConfig, fit_glai
from glai.training.checkpoint import Checkpoint, read_checkpoint
from glai.training.plans import EpisodePlan, MinibatchPlan, ViewPairPlan


def _epoch(plan: Any, y: torch.Tensor, seed: int, shuffle: bool = True) -> Any:
    return plan.epoch(Rows((y,), y), torch.Generator().manual_seed(seed), 16, shuffle)


# -- i.i.d. minibatches ------------------------------------------------------------------------


def test_minibatches_see_every_row_once_per_epoch() -> None:
    y = torch.zeros(70)
    ep = _epoch(MinibatchPlan(), y, 0)
    assert [len(b) for b in ep.batches] == [16, 16, 16, 16, 6] == ep.sizes
    assert torch.equal(torch.cat(ep.batches).sort().values, torch.arange(70))
    # the same draws as before the plans existed: one permutation of the rows per epoch
    assert torch.equal(
        torch.cat(ep.batches), torch.randperm(70, generator=torch.Generator().manual_seed(0))
    )
    torch.testing.assert_close(ep.scale, torch.tensor([1 / 16] * 4 + [1 / 6]))
    assert float(ep.total) == 70
    again, other = _epoch(MinibatchPlan(), y, 0), _epoch(MinibatchPlan(), y, 1)
    assert all(torch.equal(a, b) for a, b in zip(ep.batches, again.batches))
    assert not torch.equal(torch.cat(ep.batches), torch.cat(other.batches))
    ordered = _epoch(MinibatchPlan(), y, 0, shuffle=False)
    assert torch.equal(torch.cat(ordered.batches), torch.arange(70))
    x = torch.randn(70, 3)
    (xb,), yb = MinibatchPlan().batch(Rows((x,), y), ep.batches[1], torch.Generator(), 16)
    assert torch.equal(xb, x[ep.batches[1]]) and yb.shape == (16,)


def test_view_pairs_full_batch_draws_one_pair_per_image() -> None:
    n, v = 30, 4
    views = (10 * torch.arange(n)[:, None] + torch.arange(v)[None]).float()[:, :, None]
    (pairs,), _ = ViewPairPlan().full_batch(
        Rows((views,), torch.zeros(n)), torch.Generator().manual_seed(0)
    )
    assert pairs.shape == (n, 2, 1)
    assert torch.equal(pairs[:, :, 0] // 10, torch.arange(n)[:, None].expand(n, 2).float())
    assert bool((pairs[:, 0] != pairs[:, 1]).all())
    # a rank holding rows [10, 30) of 30 draws the same pairs for them
    (shard,), _ = ViewPairPlan().full_batch(
        Rows((views[10:],), torch.zeros(20), lo=10, n_global=n), torch.Generator().manual_seed(0)
    )
    assert torch.equal(shard, pairs[10:])


# -- episodes ----------------------------------------------------------------------------------


def _labels(n_classes: int = 6, per: int = 9) -> torch.Tensor:
    return torch.arange(n_classes).repeat_interleave(per)[torch.randperm(n_classes * per)]


def test_episodes_are_n_way_k_shot_tasks_of_distinct_rows() -> None:
    y = _labels()
    plan = EpisodePlan(n_way=3, k_shot=2, n_query=4, episodes=50)
    ep = _epoch(plan, y, 0)
    assert len(ep.batches) == 50 and ep.sizes == [18] * 50
    torch.testing.assert_close(ep.scale, torch.full((50,), 1 / 12))
    classes_seen = set()
    for rows in ep.batches:
        assert len(set(rows.tolist())) == 18  # distinct rows
        support, query = rows[:6].view(3, 2), rows[6:].view(3, 4)
        for n in range(3):  # class-major: support n and query n share one class
            labels = set(y[support[n]].tolist()) | set(y[query[n]].tolist())
            assert len(labels) == 1
        task_classes = y[support[:, 0]].tolist()
        assert len(set(task_classes)) == 3
        classes_seen |= set(task_classes)
    assert classes_seen == set(range(6))
    again = _epoch(plan, y, 0)
    assert all(torch.equal(a, b) for a, b in zip(ep.batches, again.batches))
    rows = Rows((torch.randn(len(y), 5),), y)
    (xb,), target = plan.batch(rows, ep.batches[0], torch.Generator(), 18)
    assert xb.shape == (18, 5) and target.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_prototype_loss_is_the_cross_entropy_of_nearest_class_means() -> None:
    n_way, k, q, d = 3, 2, 4, 5
    z = torch.randn(2, n_way * (k + q), d)  # two episodes
    plan = EpisodePlan(n_way, k, q, episodes=1)
    target = plan.target()
    losses = plan.loss(z, target)
    assert losses.shape == (2 * n_way * q,)
    for t in range(2):
        logits = prototype_logits(
            z[t, n_way * k :], prototypes(z[t, : n_way * k].view(n_way, k, d))
        )
        expected = F.cross_entropy(logits, target, reduction="none")
        torch.testing.assert_close(losses[t * n_way * q : (t + 1) * n_way * q], expected)
        torch.testing.assert_close(plan.loss(z[t], target), expected)  # one episode, flat rows
    # queries equal to their class's support: every one is right
    protos = torch.randn(n_way, d) * 10
    easy = torch.cat([protos.repeat_interleave(k, 0), protos.repeat_interleave(q, 0)])
    assert plan.score(easy, target) == 1.0


def test_episode_plan_refuses_bad_arguments() -> None:
    y = _labels(4, 5)
    for kwargs, match in (
        ({"n_way": 1}, "n_way must be an int >= 2, got 1"),
        ({"k_shot": 0}, "k_shot must be an int >= 1"),
        ({"episodes": 2.5}, "episodes must be an int >= 1"),
    ):
        with pytest.raises(ValueError, match=match):
            EpisodePlan(**{"n_way": 2, "k_shot": 1, "n_query": 1, "episodes": 3, **kwargs})
    with pytest.raises(
        ValueError, match=r"val_episodes must be \[T, n_way \* \(k_shot \+ n_query\)\] = \[T, 4\]"
    ):
        EpisodePlan(2, 1, 1, 3, val_episodes=torch.zeros(5, 3, dtype=torch.long))
    gen = torch.Generator()
    with pytest.raises(ValueError, match="n_way=5 is larger than the 4 classes in y"):
        EpisodePlan(5, 1, 1, 3).draw(y, 2, gen)
    with pytest.raises(ValueError, match=r"class \d has 5 rows, fewer than k_shot \+ n_query = 6"):
        EpisodePlan(2, 3, 3, 3).draw(y, 2, gen)
    with pytest.raises(ValueError, match="y must be integer labels"):
        EpisodePlan(2, 1, 1, 3).draw(y.float(), 2, gen)
    with pytest.raises(ValueError, match="val_episodes is None"):
        rows, objective = Rows((torch.randn(20, 2),), y), Objective(F.mse_loss, lambda o, t: 0.0)
        EpisodePlan(2, 1, 1, 3).validate(torch.nn.Identity(), rows, objective)


def _episode_data() -> tuple[torch.Tensor, ...]:
    """Six classes in 6-d: class means far apart; train and validation rows."""
    g = torch.Generator().manual_seed(5)
    means = 3 * torch.randn(6, 6, generator=g)
    y = torch.arange(6).repeat_interleave(20)
    x = means[y] + torch.randn(120, 6, generator=g)
    yv = torch.arange(6).repeat_interleave(8)
    xv = means[yv] + torch.randn(48, 6, generator=g)
    return x, y, xv, yv


def _fit_episodic(optimizer: str, checkpoint: Checkpoint | None = None) -> tuple[GLAI, Any]:
    x, y, xv, yv = _episode_data()
    plan = EpisodePlan(n_way=3, k_shot=2, n_query=3, episodes=10)
    plan.val_episodes = plan.draw(yv, 20, torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = GLAI(6, 16, 4)
    monitor = StructureMonitor(x[:60], rule=StopRule(kind="epochs", epochs=3, min_epochs=1))
    history = fit_glai(
        model, Data(x, y, xv, yv), Objective(plan.loss, plan.score),
        structural=TrainConfig(lr=1e-2, max_epochs=10),
        quantitative=TrainConfig(optimizer=optimizer, lr=1e-2, max_epochs=4, patience=None,
                                 lbfgs_iter=5),
        monitor=monitor, generator=torch.Generator().manual_seed(2), checkpoint=checkpoint,
        plan=plan,
    )  # fmt: skip
    return model, history


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_an_episodic_plan_trains_a_glai_block_through_fit_glai(optimizer: str) -> None:
    model, history = _fit_episodic(optimizer)
    assert model.phase == "quantitative"
    assert [r.phase for r in history.records] == ["structural"] * 3 + ["quantitative"] * 4
    assert all(r.path_distance is not None for r in history.records[:3])
    scores = [r.val_score for r in history.records]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert max(scores) > 0.8  # well separated classes: nearest class mean of the embeddings
    assert history.records[-1].train_loss < history.records[0].train_loss


@pytest.mark.parametrize(("phase", "at"), [("structural", 2), ("quantitative", 2)])
def test_an_episodic_run_resumed_from_its_checkpoint_ends_as_an_uninterrupted_one(
    phase: str, at: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    kill_after_checkpoint: Callable[[str, int], type[Exception]],
) -> None:
    whole, whole_history = _fit_episodic("adam")
    path = tmp_path / "episodes.pt"
    with pytest.raises(kill_after_checkpoint(phase, at)):
        _fit_episodic("adam", Checkpoint(path, {"run": "episodes"}))
    monkeypatch.undo()
    assert read_checkpoint(path)["phase"] == phase
    resumed, history = _fit_episodic("adam", Checkpoint(path, {"run": "episodes"}))
    assert [r.val_loss for r in history.records] == [r.val_loss for r in whole_history.records]
    for (k, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k


def test_a_registered_toy_solver_trains_every_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    # One file and one line add a solver (here a line of the registry, plain SGD); the view
    # pairs and the episodes train with it through the same driver as the rows.
    from glai.solvers import SOLVERS
    from glai.solvers.base import Solver
    from glai.ssl import ProjectionHead, fit_projection_head

    def sgd(params: Any, config: Any) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=config.lr)

    monkeypatch.setitem(SOLVERS, "toy-sgd", Solver("toy-sgd", "minibatch", "plain SGD", sgd))
    x, y, xv, yv = _episode_data()
    plan = EpisodePlan(n_way=3, k_shot=2, n_query=3, episodes=5)
    plan.val_episodes = plan.draw(yv, 10, torch.Generator().manual_seed(1))
    model = GLAI(6, 16, 4)
    history = fit_glai(
        model, Data(x, y, xv, yv), Objective(plan.loss, plan.score), plan=plan,
        structural=TrainConfig(optimizer="toy-sgd", lr=0.05, max_epochs=2),
        quantitative=TrainConfig(optimizer="toy-sgd", lr=0.05, max_epochs=2, patience=None),
        monitor=StructureMonitor(x[:60], rule=StopRule(kind="epochs", epochs=2, min_epochs=1)),
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert [r.phase for r in history.records] == ["structural"] * 2 + ["quantitative"] * 2
    views = x[:40, None] + 0.3 * torch.randn(40, 3, 6)
    head = ProjectionHead(6, 16, 4)
    before = {k: v.clone() for k, v in head.state_dict().items()}
    ssl = fit_projection_head(
        head, views, views[:20],
        config=TrainConfig(optimizer="toy-sgd", batch_size=8, max_epochs=2),
        rule=StopRule(kind="epochs", epochs=1, min_epochs=1), probe_size=50, random_state=0,
    )  # fmt: skip
    assert [r.phase for r in ssl.records] == ["structural", "quantitative", "quantitative"]
    assert before.keys() != head.state_dict().keys()  # frozen: the paths replaced the network
