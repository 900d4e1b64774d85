"""glai.block: the GLAI block, its sizes, its phase switch and its state_dict."""

from __future__ import annotations

import pytest
import torch

from glai.block import GLAI, StructureNotFrozenError, resolve_budget, structural_widths
from glai.mlp import MLP, mlp_num_params
from glai.path_model import freeze


def _trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# -- sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hidden", "rho", "expected"),
    [
        ((100, 30), 3, (34, 10)),  # ceil(33.3) = 34, ceil(10) = 10
        ((256,), 25.6, (10,)),  # an exact ratio must not round up to 11
        ((256,), 2.5, (103,)),  # ceil(102.4)
        ((7, 5), 1, (7, 5)),
        ((3,), 100, (1,)),  # never below one unit
    ],
)
def test_structural_widths_are_ceil_hidden_over_rho(
    hidden: tuple[int, ...], rho: float, expected: tuple[int, ...]
) -> None:
    assert structural_widths(10, hidden, 5, rho) == (expected, float(rho))
    block = GLAI(10, hidden, 5, rho=rho, budget=None)
    assert block.structural_features == expected
    assert block.structure is not None
    assert block.structure.hidden_features == expected
    assert block.rho == float(rho)


def test_budget_match_is_the_parameter_count_of_the_replaced_mlp() -> None:
    assert resolve_budget("match", 20, [64, 32], 4) == mlp_num_params(20, [64, 32], 4)
    assert resolve_budget("match", 20, [64, 32], 4) == sum(
        p.numel() for p in MLP(20, [64, 32], 4).parameters()
    )
    assert resolve_budget(500, 20, 64, 4) == 500
    assert resolve_budget(None, 20, 64, 4) is None


@pytest.mark.parametrize("bad", [0, -5, 2.5, "all", True])
def test_resolve_budget_rejects_bad_values(bad: object) -> None:
    with pytest.raises(ValueError, match="budget must be 'match', None or a positive int"):
        resolve_budget(bad, 4, 8, 3)  # type: ignore[arg-type]


def test_rho_auto_spends_the_matched_budget_on_every_candidate_path() -> None:
    # MLP 20 -> 64 -> 4 has 20*64 + 64 + 64*4 + 4 = 1604 parameters. A path costs 21, so each
    # of the 4 outputs can have (1604 - 4) // (21 * 4) = 19 paths: the structure gets 19 units
    # (rho = 64 / 19), and every one of its 19 x 4 candidate paths fits the budget.
    block = GLAI(20, 64, 4, prune_dead=False)
    assert block.budget == 1604
    assert block.structural_features == (19,)
    assert block.rho == pytest.approx(64 / 19)
    x = torch.randn(100, 20)
    before = block(x)
    block.freeze_structure(x)
    assert block.num_paths == 19 * 4
    assert _trainable(block) == 19 * 4 * 21 + 4 <= 1604
    # nothing dropped with one hidden layer: the path model starts at the structural network
    torch.testing.assert_close(block(x), before, rtol=0, atol=1e-5)


def test_rho_auto_on_a_deeper_mlp_stays_within_the_budget() -> None:
    block = GLAI(20, [64, 32], 4)
    assert block.budget == mlp_num_params(20, [64, 32], 4) == 3556
    # (3556 - 4) // 84 = 42 units in the first layer; rho = 64 / 42, ceil(32 / rho) = 21
    assert block.structural_features == (42, 21)
    block.freeze_structure(torch.randn(200, 20))
    assert _trainable(block) <= block.budget


def test_rho_auto_without_budget_is_one() -> None:
    block = GLAI(8, [16, 4], 2, budget=None)
    assert block.rho == 1.0
    assert block.structural_features == (16, 4)


def test_an_int_budget_is_respected() -> None:
    block = GLAI(6, [12, 12], 3, rho=1, budget=400)
    block.freeze_structure(torch.randn(100, 6))
    assert _trainable(block) <= 400


# -- the phase switch ------------------------------------------------------------------------


def test_phase_switch_and_what_each_phase_trains() -> None:
    block = GLAI(6, [10, 8], 3, rho=2)
    assert block.phase == "structural"
    assert block.path_model is None
    assert {n for n, _ in block.named_parameters()} == {
        f"structure.layers.{i}.{kind}" for i in range(3) for kind in ("weight", "bias")
    }
    returned = block.freeze_structure(torch.randn(50, 6))
    assert returned is block
    assert block.phase == "quantitative"
    assert block.structure is None
    names = [n for n, _ in block.named_parameters()]
    assert names == ["path_model.theta", "path_model.beta", "path_model.beta0"]
    assert len(list(block.parameters())) == 3
    assert block.num_paths == block.path_model.num_paths  # type: ignore[union-attr]
    assert "phase='quantitative'" in repr(block)
    with pytest.raises(RuntimeError, match="already frozen"):
        block.freeze_structure(torch.randn(50, 6))


def test_freeze_structure_with_a_large_budget_equals_the_structural_network() -> None:
    for hidden in (12, [12, 9], [9, 6, 6]):
        block = GLAI(5, hidden, 3, rho=3, budget=10**7, prune_dead=False, dtype=torch.float64)
        x = torch.randn(200, 5, dtype=torch.float64)
        before = block(x)
        block.freeze_structure(x)
        torch.testing.assert_close(block(x), before, rtol=0, atol=1e-12)


def test_structural_phase_has_no_gates() -> None:
    block = GLAI(4, 8, 3)
    x = torch.randn(5, 4)
    with pytest.raises(StructureNotFrozenError, match="freeze_structure"):
        block.gates(x)
    with pytest.raises(StructureNotFrozenError, match="freeze_structure"):
        _ = block.num_paths
    with pytest.raises(StructureNotFrozenError, match="gates"):
        block(x, torch.ones(5, 3, dtype=torch.bool))
    assert issubclass(StructureNotFrozenError, RuntimeError)


def test_gates_cached_or_not_give_the_same_output() -> None:
    block = GLAI(4, [8, 6], 3, rho=2)
    x = torch.randn(30, 4)
    block.freeze_structure(x)
    gates = block.gates(x)
    assert gates.shape == (30, block.num_paths)
    assert torch.equal(block(x, gates), block(x))


# -- state_dict, dtype -----------------------------------------------------------------------


def _perturbed(block: GLAI) -> GLAI:
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return block


@pytest.mark.parametrize("phase", ["structural", "quantitative"])
def test_state_dict_round_trips_into_a_fresh_block(phase: str) -> None:
    args, kwargs = (6, [10, 8], 3), {"rho": 2}
    x = torch.randn(40, 6)
    block = GLAI(*args, **kwargs)
    if phase == "quantitative":
        block.freeze_structure(x)  # prune_dead=True: the number of paths depends on the data
    block = _perturbed(block)
    fresh = GLAI(*args, **kwargs)  # another random init, in phase "structural"
    assert not torch.equal(fresh(x), block(x))
    fresh.load_state_dict(block.state_dict())
    assert fresh.phase == phase
    assert torch.equal(fresh(x), block(x))
    if phase == "quantitative":
        assert fresh.num_paths == block.num_paths
        assert torch.equal(fresh.gates(x), block.gates(x))


def test_a_structural_state_loads_into_a_quantitative_block() -> None:
    x = torch.randn(20, 6)
    structural = _perturbed(GLAI(6, 10, 3, rho=2))
    frozen = GLAI(6, 10, 3, rho=2).freeze_structure(x)
    frozen.load_state_dict(structural.state_dict())
    assert frozen.phase == "structural"
    assert torch.equal(frozen(x), structural(x))


@pytest.mark.parametrize("phase", ["structural", "quantitative"])
def test_to_float64(phase: str) -> None:
    block = GLAI(6, [10, 8], 3, rho=2)
    x = torch.randn(20, 6)
    if phase == "quantitative":
        block.freeze_structure(x)
    out32 = block(x)
    block.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in block.parameters())
    out64 = block(x.double())
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64, out32.double(), rtol=1e-5, atol=1e-5)
    if phase == "quantitative":
        assert block.path_model is not None
        assert block.path_model.units.dtype == torch.long  # indices stay indices


def test_loading_a_state_of_another_shape_fails_loudly() -> None:
    x4 = torch.randn(20, 4)
    small = GLAI(4, 8, 3, rho=1, budget=None)
    with pytest.raises(RuntimeError, match="size mismatch"):
        GLAI(5, 8, 3, rho=1, budget=None).load_state_dict(small.state_dict())
    with pytest.raises(RuntimeError, match="size mismatch"):
        GLAI(4, 8, 3, rho=2, budget=None).load_state_dict(small.state_dict())
    small.freeze_structure(x4)
    with pytest.raises(RuntimeError, match="saved GLAI paths take"):
        GLAI(5, 8, 3, rho=1, budget=None).load_state_dict(small.state_dict())
    with pytest.raises(RuntimeError, match="size mismatch"):
        GLAI(4, 8, 3, rho=2, budget=None).load_state_dict(small.state_dict())


# -- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.5, 0, -2, "fast", True, None])
def test_bad_rho(rho: object) -> None:
    with pytest.raises(ValueError, match="rho must be 'auto' or a number >= 1"):
        GLAI(4, 8, 3, rho=rho)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("hidden", "error"), [(0, ValueError), ([8, -1], ValueError), ("8", TypeError)]
)
def test_bad_hidden_features(hidden: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="hidden_features"):
        GLAI(4, hidden, 3)  # type: ignore[arg-type]


def test_glai_needs_a_hidden_layer() -> None:
    with pytest.raises(ValueError, match="hidden_features must hold at least one hidden width"):
        GLAI(4, [], 3)


@pytest.mark.parametrize(
    ("args", "name"), [((0, 8, 3), "in_features"), ((4, 8, 0), "out_features")]
)
def test_bad_in_or_out_features(args: tuple, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        GLAI(*args)


@pytest.mark.parametrize("rho", ["auto", 2])
def test_a_budget_too_small_for_one_path_per_output_is_refused_before_training(
    rho: object,
) -> None:
    # one path per output: 3 x (4 + 1) + 3 output biases = 18
    with pytest.raises(ValueError, match=r"budget 17 cannot hold one path per output.*= 18"):
        GLAI(4, 8, 3, rho=rho, budget=17)  # type: ignore[arg-type]
    # "match" for a tiny MLP 4 -> 1 -> 3 is 4 + 1 + 3 + 3 = 11 < 18
    with pytest.raises(ValueError, match=r"budget 11 \(match\) cannot hold"):
        GLAI(4, 1, 3, rho=rho)  # type: ignore[arg-type]
    block = GLAI(4, 8, 3, rho=rho, budget=18)  # type: ignore[arg-type]
    block.freeze_structure(torch.randn(50, 4))
    assert _trainable(block) <= 18
    assert torch.isfinite(block(torch.randn(2, 4))).all()


# -- loading a state: check first, then swap -------------------------------------------------


def test_a_failed_load_leaves_the_block_as_it_was() -> None:
    x = torch.randn(30, 4)
    block = _perturbed(GLAI(4, 8, 3, rho=1, budget=None).freeze_structure(x))
    before = block(x).clone()
    other = GLAI(4, 6, 3, rho=1, budget=None).freeze_structure(x)  # another gating width
    with pytest.raises(RuntimeError, match="size mismatch"):
        block.load_state_dict(other.state_dict())
    assert block.phase == "quantitative"
    assert torch.equal(block(x), before)
    structural = GLAI(4, 6, 3, rho=1, budget=None)
    with pytest.raises(RuntimeError, match="size mismatch"):
        block.load_state_dict(structural.state_dict())
    assert block.phase == "quantitative" and torch.equal(block(x), before)


def test_a_partial_state_with_strict_false_loads_what_it_holds() -> None:
    x = torch.randn(30, 4)
    block = _perturbed(GLAI(4, 8, 3, rho=1, budget=None).freeze_structure(x))
    assert block.path_model is not None
    theta = block.path_model.theta.detach() + 1.0
    result = block.load_state_dict({"path_model.theta": theta}, strict=False)
    assert torch.equal(block.path_model.theta, theta)
    assert "path_model.beta" in result.missing_keys
    beta0 = torch.full((3,), 0.5)
    block.load_state_dict({"path_model.beta0": beta0}, strict=False)
    assert torch.equal(block.path_model.beta0, beta0)
    assert torch.equal(block.path_model.theta, theta)


# -- an empty probe ------------------------------------------------------------------------


def test_freezing_on_an_empty_probe_is_refused() -> None:
    block = GLAI(4, 8, 3, rho=1, budget=None)
    with pytest.raises(ValueError, match="probe_x has no rows"):
        block.freeze_structure(torch.empty(0, 4))
    assert block.phase == "structural"
    with pytest.raises(ValueError, match="probe_x has no rows"):
        freeze(block.structure, torch.empty(0, 4))  # type: ignore[arg-type]
    # Without pruning the probe is not read, empty or not.
    unpruned = GLAI(4, 8, 3, rho=1, budget=None, prune_dead=False)
    assert unpruned.freeze_structure(torch.empty(0, 4)).num_paths == 8 * 3


# -- a probe that tells nothing --------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_freezing_on_a_non_finite_probe_is_refused(bad: float) -> None:
    # An all-NaN probe used to freeze into a model of 0 paths (NaN opens no ReLU).
    block = GLAI(4, 8, 3, rho=1, budget=None)
    with pytest.raises(ValueError, match=r"probe_x holds 40 NaN or infinite value\(s\) of 40"):
        block.freeze_structure(torch.full((10, 4), bad))
    probe = torch.randn(10, 4)
    probe[3, 2] = bad  # one value is enough: its row's gates mean nothing
    with pytest.raises(ValueError, match=r"probe_x holds 1 NaN or infinite value\(s\)"):
        block.freeze_structure(probe)
    assert block.phase == "structural"
    assert block.freeze_structure(probe.nan_to_num(posinf=0.0)).num_paths > 0


def test_freezing_a_structure_dead_on_the_whole_probe_is_refused() -> None:
    block = GLAI(4, 8, 3, rho=1, budget=None)
    assert block.structure is not None
    with torch.no_grad():
        block.structure.linears[0].bias.fill_(-100.0)  # no ReLU opens on a normal probe
    with pytest.raises(ValueError, match="no path's gate opens on any of the 10 probe inputs"):
        block.freeze_structure(torch.randn(10, 4))
    assert block.phase == "structural"
    # Without pruning every candidate path is kept (and trainable), dead or not.
    assert block.structure is not None
    assert freeze(block.structure, torch.randn(10, 4), prune_dead=False).num_paths == 8 * 3


def test_freezing_a_diverged_structure_is_refused() -> None:
    block = GLAI(4, 8, 3, rho=1, budget=None)
    assert block.structure is not None
    with torch.no_grad():
        block.structure.linears[1].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="training diverged: the structural network's weights"):
        block.freeze_structure(torch.randn(10, 4))
    assert block.phase == "structural"
