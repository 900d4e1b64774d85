"""glai.ssl: NT-Xent, BatchNorm folding, projection heads and their SSL training."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from glai.block import GLAI
from glai.mlp import MLP, BatchNormMLP, mlp_num_params
from glai.ssl import (
    GLAIProjectionHead,
    ProjectionHead,
    SSLHistory,
    fit_projection_head,
    nt_xent_loss,
)
from glai.structure import StopRule
from glai.training import Objective, Rows, TrainConfig
from glai.training.plans import PairHead, ViewPairPlan

# -- NT-Xent -----------------------------------------------------------------------------------


def _nt_xent_by_hand(z1: list[list[float]], z2: list[list[float]], tau: float) -> float:
    """The SimCLR loss written out with loops over anchors and candidates."""
    u = z1 + z2
    u = [[a / math.sqrt(sum(c * c for c in row)) for a in row] for row in u]
    b = len(z1)
    total = 0.0
    for i in range(2 * b):
        pos = i + b if i < b else i - b
        sims = {j: sum(p * q for p, q in zip(u[i], u[j])) / tau for j in range(2 * b) if j != i}
        total += -math.log(math.exp(sims[pos]) / sum(math.exp(s) for s in sims.values()))
    return total / (2 * b)


@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
def test_nt_xent_matches_a_direct_computation(tau: float) -> None:
    z1 = [[1.0, 2.0, 0.5], [-1.0, 0.3, 2.0], [0.2, -0.7, 1.1]]
    z2 = [[0.9, 2.2, 0.1], [-0.5, 0.1, 1.0], [3.0, 0.0, -1.0]]
    got = nt_xent_loss(torch.tensor(z1), torch.tensor(z2), temperature=tau)
    assert got.ndim == 0
    assert float(got) == pytest.approx(_nt_xent_by_hand(z1, z2, tau), rel=1e-5)


def test_nt_xent_worked_by_hand_on_two_images() -> None:
    # Two images, orthogonal unit embeddings, views identical: for every anchor the positive
    # has similarity 1 / tau and the two negatives 0, so with tau = 1/2
    # l = -log(e^2 / (e^2 + 2)) = log(1 + 2 e^-2) for all four anchors.
    z = torch.tensor([[1.0, 0.0], [0.0, 3.0]])  # the length must not matter
    assert float(nt_xent_loss(z, z.clone(), 0.5)) == pytest.approx(
        math.log(1 + 2 * math.exp(-2)), rel=1e-6
    )
    # One image: the positive is the only candidate, the loss is exactly 0.
    assert float(nt_xent_loss(z[:1], 2 * z[:1], 0.5)) == pytest.approx(0.0, abs=1e-7)


def test_nt_xent_is_lower_when_views_agree() -> None:
    z1 = torch.randn(16, 8)
    agree = nt_xent_loss(z1, z1 + 0.01 * torch.randn(16, 8))
    disagree = nt_xent_loss(z1, torch.randn(16, 8))
    assert float(agree) < float(disagree)


@pytest.mark.parametrize(
    ("z1", "z2", "tau", "match"),
    [
        (torch.randn(4, 3), torch.randn(5, 3), 0.5, "same images' views"),
        (torch.randn(4, 3), torch.randn(4, 2), 0.5, "same images' views"),
        (torch.randn(4), torch.randn(4), 0.5, r"z1 must be a non-empty \[B, d\]"),
        (torch.randn(0, 3), torch.randn(0, 3), 0.5, r"z1 must be a non-empty \[B, d\]"),
        (torch.tensor([[1.0, math.nan]]), torch.ones(1, 2), 0.5, "z1 holds NaN"),
        (torch.ones(1, 2), torch.tensor([[math.inf, 1.0]]), 0.5, "z2 holds NaN or infinite"),
        (torch.randn(4, 3), torch.randn(4, 3), 0.0, "temperature must be > 0"),
        (torch.randn(4, 3), torch.randn(4, 3), -1.0, "temperature must be > 0"),
        (torch.randn(4, 3), torch.randn(4, 3), "hot", "temperature must be a number"),
    ],
)
def test_nt_xent_rejects_bad_input(
    z1: torch.Tensor, z2: torch.Tensor, tau: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        nt_xent_loss(z1, z2, tau)


# -- BatchNorm folding -------------------------------------------------------------------------


def _trained_batch_norm_mlp(hidden: int | tuple[int, ...]) -> BatchNormMLP:
    """A BatchNormMLP whose running statistics and affine BatchNorm are far from the identity."""
    mlp = BatchNormMLP(6, hidden, 3)
    with torch.no_grad():
        for norm in mlp.batch_norms:
            norm.weight.uniform_(0.5, 2.0)
            norm.bias.uniform_(-1.0, 1.0)
    mlp.train()
    for _ in range(20):  # training-mode passes move the running statistics
        mlp(3.0 * torch.randn(64, 6) + 1.0)
    return mlp


@pytest.mark.parametrize("hidden", [5, (5, 4), (4, 3, 3)])
def test_folded_batch_norm_mlp_equals_it_in_eval_mode(hidden: int | tuple[int, ...]) -> None:
    mlp = _trained_batch_norm_mlp(hidden)
    mlp.eval()
    x = 3.0 * torch.randn(50, 6) + 1.0
    folded = mlp.folded()
    assert type(folded) is MLP
    assert all(layer.bias is not None for layer in folded.linears)
    torch.testing.assert_close(folded(x), mlp(x), rtol=1e-5, atol=1e-5)
    # The running statistics are not the identity, so folding did something.
    assert not torch.allclose(mlp.batch_norms[0].running_var, torch.ones(mlp.hidden_features[0]))


def test_batch_norm_mlp_has_no_hidden_bias_and_counts_batch_norm_parameters() -> None:
    mlp = BatchNormMLP(6, (5, 4), 3)
    assert [layer.bias is None for layer in mlp.linears] == [True, True, False]
    counted = sum(p.numel() for p in mlp.parameters())
    assert counted == mlp_num_params(6, (5, 4), 3, batch_norm=True)
    assert counted == mlp_num_params(6, (5, 4), 3) + 5 + 4


@pytest.mark.parametrize("hidden", [6, (6, 4)])
def test_freezing_a_batch_norm_head_keeps_its_eval_outputs(hidden: int | tuple[int, ...]) -> None:
    head = GLAIProjectionHead(6, hidden, 3, rho=1, budget=None, prune_dead=False)
    assert isinstance(head.structure, BatchNormMLP)
    structure = head.structure
    with torch.no_grad():
        for norm in structure.batch_norms:
            norm.weight.uniform_(0.5, 2.0)
            norm.bias.uniform_(-1.0, 1.0)
    for _ in range(20):
        structure(3.0 * torch.randn(64, 6) + 1.0)
    head.eval()
    x = 3.0 * torch.randn(40, 6) + 1.0
    before = head(x)
    head.freeze_structure(x)
    assert head.phase == "quantitative"
    torch.testing.assert_close(head(x), before, rtol=1e-4, atol=1e-5)
    head.train()  # a path model has no BatchNorm: the mode no longer matters
    torch.testing.assert_close(head(x), before, rtol=1e-4, atol=1e-5)


# -- the heads ---------------------------------------------------------------------------------


def test_projection_head_kinds_have_the_published_shapes() -> None:
    lightly = ProjectionHead(32, 64, 16, kind="mlp")
    assert isinstance(lightly, BatchNormMLP)
    solo = ProjectionHead(32, 64, 16, kind="mlp", batch_norm=False)
    assert type(solo) is MLP
    glai = ProjectionHead(32, 64, 16)
    assert isinstance(glai, GLAIProjectionHead) and isinstance(glai, GLAI)
    assert isinstance(glai.structure, BatchNormMLP)
    assert type(ProjectionHead(32, 64, 16, batch_norm=False).structure) is MLP  # type: ignore[union-attr]
    assert lightly(torch.randn(5, 32)).shape == glai(torch.randn(5, 32)).shape == (5, 16)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_glai_head_matches_the_mlp_heads_parameter_count(batch_norm: bool) -> None:
    mlp = ProjectionHead(32, 64, 16, kind="mlp", batch_norm=batch_norm)
    n_mlp = sum(p.numel() for p in mlp.parameters())
    head = ProjectionHead(32, 64, 16, batch_norm=batch_norm, prune_dead=False)
    assert isinstance(head, GLAIProjectionHead)
    assert head.budget == n_mlp
    head.freeze_structure(torch.randn(20, 32))
    n_glai = sum(p.numel() for p in head.parameters() if p.requires_grad)
    # Within one path per output of the budget, never above it.
    assert n_mlp - 33 * 16 < n_glai <= n_mlp


def test_projection_head_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kind must be 'glai' or 'mlp', got 'resnet'"):
        ProjectionHead(8, 4, 2, kind="resnet")
    with pytest.raises(ValueError, match="apply to kind='glai' only"):
        ProjectionHead(8, 4, 2, kind="mlp", rho=2)


# -- training on views -------------------------------------------------------------------------


def _views(n: int = 96, v: int = 4, dim: int = 12, noise: float = 0.3) -> torch.Tensor:
    """``[n, v, dim]``: each image a random point, its views that point plus noise."""
    base = torch.randn(n, 1, dim)
    return base + noise * torch.randn(n, v, dim)


def test_view_pairs_are_two_different_views_of_the_same_image() -> None:
    n, v = 50, 3
    # View j of image i is the number 10 i + j, so the pair says where it came from.
    views = (10 * torch.arange(n)[:, None] + torch.arange(v)[None]).float()[:, :, None]
    plan, y = ViewPairPlan(), torch.zeros(n)
    idx = torch.arange(n).flip(0)  # a batch of every image, in another order
    (pairs,), target = plan.batch(Rows((views,), y), idx, torch.Generator().manual_seed(0), n)
    assert pairs.shape == (n, 2, 1) and target.shape == (n,)
    out = PairHead(torch.nn.Identity())(pairs)[:, :, 0]  # [n, 2]: the head keeps the layout
    assert torch.equal(out, pairs[:, :, 0])
    assert torch.equal(out // 10, idx[:, None].expand(n, 2).float())
    first, second = out[:, 0] % 10, out[:, 1] % 10
    assert bool((first != second).all())
    assert set(first.tolist()) == set(range(v))  # every view gets drawn
    seen: list[torch.Tensor] = []

    def score(o: torch.Tensor, _: torch.Tensor) -> float:
        seen.append(o)
        return 0.0

    objective = Objective(lambda o, t: t, score)
    plan.validate(PairHead(torch.nn.Identity()), Rows((views,), y), objective)
    assert torch.equal(seen[0][:, :, 0] % 10, torch.tensor([[0.0, 1.0]]).expand(n, 2))


def test_glai_head_switches_phase_under_the_contrastive_loss() -> None:
    views, views_val = _views(), _views(48)
    head = ProjectionHead(12, 32, 8)
    assert isinstance(head, GLAIProjectionHead)
    seen: list[str] = []

    def probe(model: torch.nn.Module) -> float:
        assert model is head
        seen.append(model.phase)  # type: ignore[arg-type]
        return 0.5 if model.phase == "structural" else 0.7  # type: ignore[return-value]

    history = fit_projection_head(
        head, views, views_val, temperature=0.5,
        config=TrainConfig(lr=3e-3, batch_size=32, max_epochs=15, patience=None),
        rule=StopRule(kind="epochs", epochs=6, min_epochs=1),
        probe_size=200, random_state=0, probe_fn=probe,
    )  # fmt: skip
    assert head.phase == "quantitative"
    phases = [r.phase for r in history.records]
    assert phases == ["structural"] * 6 + ["quantitative"] * 15
    assert history.events["structure_frozen_epoch"] == 6
    assert all(r.path_distance is not None for r in history.records[:6])
    # The contrastive loss goes down in each phase and overall.
    losses = [r.val_loss for r in history.records]
    assert losses[5] < losses[0]
    assert min(losses[6:]) < losses[6]
    assert min(losses) < 0.9 * losses[0]
    # The probe saw the head after every epoch, in the phase of that epoch.
    assert seen == phases and len(history.probe_scores) == len(seen)
    assert history.time_to_probe(0.5) == history.records[0].seconds
    assert history.time_to_probe(0.6) == history.records[6].seconds
    assert history.time_to_probe(0.5, phase="quantitative") == history.records[6].seconds
    assert history.time_to_probe(0.8) is None


def test_mlp_head_trains_in_one_phase_with_early_stopping() -> None:
    views, views_val = _views(), _views(48)
    head = ProjectionHead(12, 32, 8, kind="mlp")
    with torch.no_grad():
        untrained = float(nt_xent_loss(head.eval()(views_val[:, 0]), head(views_val[:, 1])))
    history = fit_projection_head(
        head, views, views_val, config=TrainConfig(lr=3e-3, batch_size=48, max_epochs=12),
        random_state=0,
    )  # fmt: skip
    assert {r.phase for r in history.records} == {"mlp"}
    best = history.best()
    assert best is not None and -best.val_score < untrained
    # The best epoch is kept: evaluating again gives its held-out loss (one block of 48).
    head.eval()
    with torch.no_grad():
        again = float(nt_xent_loss(head(views_val[:, 0]), head(views_val[:, 1])))
    assert again == pytest.approx(best.val_loss, rel=1e-5)


def test_fit_is_reproducible_with_a_seed() -> None:
    views, views_val = _views(), _views(48)
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        head = ProjectionHead(12, 16, 8)
        history = fit_projection_head(
            head, views, views_val, config=TrainConfig(batch_size=32, max_epochs=3),
            rule=StopRule(kind="epochs", epochs=2, min_epochs=1), random_state=3,
        )  # fmt: skip
        runs.append([r.val_loss for r in history.records])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("phase", ["structural", "quantitative"])
def test_glai_head_state_dict_round_trip(phase: str) -> None:
    views = _views(64)
    head = ProjectionHead(12, 32, 8)
    assert isinstance(head, GLAIProjectionHead)
    assert head.structure is not None
    for _ in range(5):
        head.structure(views[:, 0])  # move the running statistics
    if phase == "quantitative":
        head.freeze_structure(views.flatten(0, 1))
    head.eval()
    state = head.state_dict()
    assert ("structure.norms.0.running_var" in state) == (phase == "structural")
    fresh = ProjectionHead(12, 32, 8)  # phase "structural", other weights
    fresh.load_state_dict(state)
    fresh.eval()
    assert fresh.phase == phase
    x = views[:, 1]
    torch.testing.assert_close(fresh(x), head(x))
    if phase == "quantitative":  # and back: a frozen head takes a structural state too
        structural = ProjectionHead(12, 32, 8)
        frozen = ProjectionHead(12, 32, 8)
        frozen.freeze_structure(views.flatten(0, 1))  # type: ignore[union-attr]
        frozen.load_state_dict(structural.state_dict())
        assert frozen.phase == "structural"  # type: ignore[union-attr]
        torch.testing.assert_close(frozen.eval()(x), structural.eval()(x))


def test_fit_rejects_bad_input() -> None:
    views, views_val = _views(16), _views(8)
    head = ProjectionHead(12, 8, 4)
    cases: list[tuple[dict[str, object], str]] = [
        ({"views": views[:, :1]}, r"views must be \[N, V, 12\] with N >= 2 images and V >= 2"),
        ({"views": views[:, 0]}, r"views must be \[N, V, 12\]"),
        ({"views_val": views_val[:, :, :5]}, "views_val must have 12 features per view"),
        ({"views": views.clone().index_fill_(0, torch.tensor([3]), math.nan)}, "views holds NaN"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"probe_size": 0}, "probe_size must be a positive int"),
        ({"config": TrainConfig(optimizer="ridge")}, r"config.optimizer='ridge' does not apply"),
        ({"config": TrainConfig(optimizer="auto")}, r"config.optimizer='auto' does not apply"),
        ({"structural": TrainConfig(optimizer="ridge-ce")}, r"structural.optimizer='ridge-ce'"),
        ({"checkpoint": "x.ckpt"}, r"checkpoint needs random_state \(an int\), got None"),
    ]
    for change, match in cases:
        kwargs: dict[str, object] = {"views": views, "views_val": views_val, **change}
        with pytest.raises(ValueError, match=match):
            fit_projection_head(head, **kwargs)  # type: ignore[arg-type]
    frozen = ProjectionHead(12, 8, 4)
    frozen.freeze_structure(views.flatten(0, 1))  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="must be in phase 'structural'"):
        fit_projection_head(frozen, views, views_val)
    with pytest.raises(TypeError, match="head must be a glai.MLP or a glai.GLAI"):
        fit_projection_head(torch.nn.Linear(12, 4), views, views_val)  # type: ignore[arg-type]


def test_view_pairs_copy_to_the_device_once_per_step_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each step used to make blocking host-to-device copies of the pair indices (two in
    # training, two in eval). "meta" stands for a GPU: every .to() seen here is a copy there.
    head = PairHead(MLP(6, 8, 4).to("meta"))
    views = torch.empty(10, 3, 6, device="meta")
    plan, y = ViewPairPlan(), torch.zeros(10, device="meta")
    idx = torch.arange(10, device="meta")
    calls: list[tuple] = []
    to = torch.Tensor.to

    def spy(self: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls.append((self.device.type, args, kwargs))
        return to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", spy)
    inputs, _ = plan.batch(Rows((views,), y), idx, torch.Generator().manual_seed(0), 10)
    assert head.train()(*inputs).shape == (10, 2, 4)
    from_host = [c for c in calls if c[0] == "cpu"]
    assert len(from_host) == 1  # the drawn pairs, once
    calls.clear()
    assert head.eval()(views[:, :2]).shape == (10, 2, 4)
    assert [c for c in calls if c[0] == "cpu"] == []  # views 0 and 1: made on the device


# -- through the driver: solvers and checkpoints -------------------------------------------------


@pytest.mark.parametrize("kind", ["glai", "mlp"])
def test_heads_train_with_lbfgs(kind: str) -> None:
    views, views_val = _views(), _views(48)
    torch.manual_seed(0)
    head = ProjectionHead(12, 16, 8, kind=kind)
    history = fit_projection_head(
        head, views, views_val,
        config=TrainConfig(optimizer="lbfgs", batch_size=96, max_epochs=3, patience=None,
                           lbfgs_iter=5),
        structural=TrainConfig(lr=3e-3, batch_size=32, max_epochs=4),
        rule=StopRule(kind="epochs", epochs=2, min_epochs=1), probe_size=100, random_state=0,
    )  # fmt: skip
    last = "quantitative" if kind == "glai" else "mlp"
    lbfgs = [r for r in history.records if r.phase == last]
    assert len(lbfgs) == 3
    # each L-BFGS epoch minimises one fixed draw of pairs: its loss falls below the first's
    assert min(r.val_loss for r in lbfgs) < history.records[0].val_loss
    assert all(math.isfinite(r.train_loss) for r in history.records)


@pytest.mark.parametrize(
    ("kind", "phase", "at"),
    [("glai", "structural", 2), ("glai", "quantitative", 2), ("mlp", "mlp", 2)],
)
def test_a_resumed_fit_ends_as_an_uninterrupted_one(
    kind: str, phase: str, at: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    kill_after_checkpoint: Callable[[str, int], type[Exception]],
) -> None:
    views, views_val = _views(64), _views(32)
    scores: list[float] = []

    def run(checkpoint: Path | None) -> tuple[torch.nn.Module, SSLHistory]:
        torch.manual_seed(4)
        head = ProjectionHead(12, 16, 8, kind=kind)
        history = fit_projection_head(
            head, views, views_val, config=TrainConfig(lr=3e-3, batch_size=16, max_epochs=4),
            rule=StopRule(kind="epochs", epochs=3, min_epochs=1), probe_size=100,
            random_state=7, checkpoint=checkpoint, probe_fn=lambda h: float(len(scores)),
        )  # fmt: skip
        return head, history

    whole, whole_history = run(None)
    path = tmp_path / "ssl.pt"
    with pytest.raises(kill_after_checkpoint(phase, at)):
        run(path)
    monkeypatch.undo()
    head, history = run(path)
    assert [r.val_loss for r in history.records] == [r.val_loss for r in whole_history.records]
    assert len(history.probe_scores) == len(history.records)
    for (k, a), (_, b) in zip(whole.state_dict().items(), head.state_dict().items()):
        assert torch.equal(a, b), k
    # another temperature is another run: its checkpoint is refused
    with pytest.raises(ValueError, match="written by another configuration"):
        fit_projection_head(
            ProjectionHead(12, 16, 8, kind=kind), views, views_val, temperature=0.3,
            random_state=7, checkpoint=path,
            config=TrainConfig(lr=3e-3, batch_size=16, max_epochs=4),
            rule=StopRule(kind="epochs", epochs=3, min_epochs=1), probe_size=100,
        )  # fmt: skip
