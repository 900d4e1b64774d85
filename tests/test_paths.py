"""glai.paths: gates, coefficients, path norms, k-best selection against brute force, budget,
dead paths and partial-bias paths."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from weights import set_weights as _set

from glai.mlp import MLP
from glai.path_model import freeze
from glai.paths import (
    BIAS_PATH_SHARE,
    build_paths,
    check_budget,
    kbest_paths,
    min_budget,
    path_coefficients,
    path_gates,
    path_model_num_params,
    path_norms,
    resolve_budget,
)
from glai.structure import activation_patterns

F64 = torch.float64


# -- brute force: every chain, path norms straight from the weights ----------------------------


def _chains(widths: tuple[int, ...]) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(w) for w in widths)))


def _coef(mlp: MLP, chain: tuple[int, ...], k: int) -> float:
    """``c_p = W_L[k, j_{L-1}] prod_{l=2}^{L-1} W_l[j_l, j_{l-1}]`` by a plain loop."""
    w = [layer.weight.detach() for layer in mlp.layers]
    c = float(w[-1][k, chain[-1]])
    for layer in range(1, len(chain)):
        c *= float(w[layer][chain[layer], chain[layer - 1]])
    return c


def _norm(mlp: MLP, chain: tuple[int, ...], k: int) -> float:
    """``|c_p| * ||(W_1[j_1], b_1[j_1])||``."""
    first = mlp.layers[0]
    row = torch.cat([first.weight.detach()[chain[0]], first.bias.detach()[chain[0], None]])
    return abs(_coef(mlp, chain, k)) * float(row.norm())


def _brute_top(mlp: MLP, k: int, keep: set[tuple[int, ...]] | None = None) -> set:
    """The ``k`` chains of largest path norm per output, as a set of ``(chain, output)``."""
    best = set()
    for out in range(mlp.out_features):
        chains = [c for c in _chains(mlp.hidden_features) if keep is None or c in keep]
        chains.sort(key=lambda c: _norm(mlp, c, out), reverse=True)
        best |= {(c, out) for c in chains[:k]}
    return best


def _as_set(units: torch.Tensor, output: torch.Tensor) -> set:
    return {(tuple(u.tolist()), int(o)) for u, o in zip(units, output, strict=True)}


def _live_chains(mlp: MLP, x: torch.Tensor) -> set[tuple[int, ...]]:
    """Chains whose gate (every unit active at once) opens for some probe input."""
    patterns = activation_patterns(mlp, x)
    live = set()
    for chain in _chains(mlp.hidden_features):
        on = torch.ones(x.shape[0], dtype=torch.bool)
        for layer, j in enumerate(chain):
            on &= patterns[layer][:, j]
        if on.any():
            live.add(chain)
    return live


# -- gates and coefficients by hand ----------------------------------------------------------


def test_path_gates_by_hand() -> None:
    a1 = torch.tensor([[1, 0, 1], [0, 1, 1]], dtype=torch.bool)  # 2 inputs x 3 units
    a2 = torch.tensor([[1, 0], [1, 1]], dtype=torch.bool)  # 2 inputs x 2 units
    units = torch.tensor([[0, 0], [1, 1], [2, 1], [-1, 1], [-1, 0]])
    # (0,0): in0 1*1, in1 0*1; (1,1): 0*0, 1*1; (2,1): 1*0, 1*1; (-,1): 0, 1; (-,0): 1, 1
    expected = torch.tensor([[1, 0, 0, 0, 1], [0, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(path_gates([a1, a2], units), expected)


def test_path_coefficients_and_norms_by_hand() -> None:
    # 2 -> [2, 2] -> 1
    mlp = _set(
        MLP(2, [2, 2], 1, dtype=F64),
        [[[3, 4], [1, 0]], [[2, -1], [0.5, 3]], [[-2, 5]]],
        [[0, 2], [7, -1], [0]],
    )
    units = torch.tensor([[0, 0], [1, 0], [0, 1], [1, 1], [-1, 1]])
    output = torch.zeros(5, dtype=torch.long)
    # c = W3[0, j2] * W2[j2, j1]; the partial-bias path (-, 1) has c = W3[0, 1] = 5
    expected = torch.tensor([-2 * 2, -2 * -1, 5 * 0.5, 5 * 3, 5], dtype=F64)
    assert torch.equal(path_coefficients(mlp, units, output), expected)
    # ||(W1[0], b1[0])|| = ||(3, 4, 0)|| = 5;  ||(W1[1], b1[1])|| = ||(1, 0, 2)|| = sqrt(5)
    norms = path_norms(mlp, units[:4], output[:4])
    expected_norms = torch.tensor([4 * 5, 2 * math.sqrt(5), 2.5 * 5, 15 * math.sqrt(5)], dtype=F64)
    torch.testing.assert_close(norms, expected_norms, rtol=1e-15, atol=0)


def test_path_model_num_params() -> None:
    # Figure 1: 6 paths x (4 + 1) + 3 output biases
    assert path_model_num_params(4, 3, 6) == 33
    assert path_model_num_params(4, 3, 6, num_bias=5) == 38


# -- k-best selection against brute force ----------------------------------------------------


@pytest.mark.parametrize(
    ("n0", "widths", "n_out"),
    [(3, (7,), 3), (2, (4, 5), 3), (3, (3, 4, 3), 2)],
    ids=["depth1", "depth2", "depth3"],
)
@pytest.mark.parametrize("k", [1, 2, 5, 11, 1000])
def test_kbest_paths_equal_brute_force(
    n0: int, widths: tuple[int, ...], n_out: int, k: int
) -> None:
    mlp = MLP(n0, widths, n_out, dtype=F64)
    units, output = kbest_paths(mlp, k)
    n_chains = math.prod(widths)
    assert units.shape == (n_out * min(k, n_chains), len(widths))
    assert _as_set(units, output) == _brute_top(mlp, k)
    # best first within each output
    norms = path_norms(mlp, units, output)
    for out in range(n_out):
        mine = norms[output == out]
        assert torch.all(mine[:-1] >= mine[1:])


def test_kbest_paths_skip_dead_units() -> None:
    mlp = MLP(3, (4, 3), 2, dtype=F64)
    alive = [torch.tensor([True, False, True, True]), torch.tensor([True, True, False])]
    units, output = kbest_paths(mlp, 1000, alive)
    keep = {c for c in _chains((4, 3)) if c[0] != 1 and c[1] != 2}
    assert _as_set(units, output) == {(c, o) for c in keep for o in range(2)}


@pytest.mark.parametrize(
    ("n0", "widths", "n_out", "budget"),
    [(3, (9,), 3, 56), (2, (4, 5), 3, 80), (3, (3, 4, 3), 2, 100)],
    ids=["depth1", "depth2", "depth3"],
)
def test_build_paths_and_freeze_under_budget_keep_the_brute_force_best(
    n0: int, widths: tuple[int, ...], n_out: int, budget: int
) -> None:
    mlp = MLP(n0, widths, n_out, dtype=F64)
    paths = build_paths(mlp, None, budget=budget, prune_dead=False)
    num_bias = paths.units.shape[0] - paths.num_full
    # what is left after the partial-bias paths and the output biases, in paths per output
    quota = (budget - n_out - num_bias) // (n0 + 1) // n_out
    assert 1 <= quota < math.prod(widths)  # a real selection
    assert paths.num_full == quota * n_out
    assert paths.num_params == path_model_num_params(n0, n_out, paths.num_full, num_bias)
    assert paths.num_params <= budget
    units, output = paths.units[: paths.num_full], paths.output[: paths.num_full]
    assert _as_set(units, output) == _brute_top(mlp, quota)
    # freeze keeps the same paths and counts its parameters within the budget
    model = freeze(mlp, None, budget=budget, prune_dead=False)
    assert sum(p.numel() for p in model.parameters()) == paths.num_params
    assert torch.equal(model.units, paths.units) and torch.equal(model.output, paths.output)


@pytest.mark.parametrize(
    ("widths", "seed", "budget"),
    [((10,), 0, 50), ((6, 6), 0, 130), ((4, 4, 4), 0, 90), ((10, 10, 10), 18, 600)],
    ids=["depth1", "depth2", "depth3", "depth3-wide"],
)
def test_build_paths_under_budget_keeps_the_best_live_paths(
    widths: tuple[int, ...], seed: int, budget: int
) -> None:
    # A probe of 6 inputs leaves many chains dead, and many chains of live units never open
    # as a whole: the selection must still be the brute-force best among the live chains,
    # filling every output's quota (the last case fell short when the search was not widened).
    n0, n_out = 3, 2
    torch.manual_seed(seed)
    mlp = MLP(n0, widths, n_out, dtype=F64)
    x = torch.randn(6, n0, dtype=F64)
    live = _live_chains(mlp, x)
    paths = build_paths(mlp, x, budget=budget, prune_dead=True)
    num_bias = paths.units.shape[0] - paths.num_full
    quota = (budget - n_out - num_bias) // (n0 + 1) // n_out
    assert 1 <= quota < len(live)  # a real selection among the live chains
    assert paths.num_full == quota * n_out
    units, output = paths.units[: paths.num_full], paths.output[: paths.num_full]
    assert _as_set(units, output) == _brute_top(mlp, quota, keep=live)
    assert paths.num_params <= budget


def test_one_budget_rule_and_message_everywhere() -> None:
    # resolve_budget, structural_widths("auto") and build_paths refuse a budget below
    # min_budget = n_L (n_0 + 1) + n_L with the same message, which says what to change.
    from glai.block import structural_widths

    assert min_budget(4, 3) == 18 and check_budget(18, 4, 3) == 18
    expected = (
        "budget 17 cannot hold one path per output (needs 5 per path x 3 outputs + 3 output "
        "biases = 18); raise the budget to at least 18"
    )
    calls = [
        lambda: check_budget(17, 4, 3),
        lambda: resolve_budget(17, 4, 2, 3),
        lambda: structural_widths(4, 2, 3, "auto", 17),
        lambda: build_paths(MLP(4, 2, 3), None, budget=17, prune_dead=False),
    ]
    for call in calls:
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == expected
    # "match" for MLP 4 -> 1 -> 3 is (4 + 1) + (3 + 3) = 11 < 18; the message says so
    with pytest.raises(ValueError, match=r"^budget 11 \(match\) cannot hold .* at least 18$"):
        resolve_budget("match", 4, 1, 3)


def test_build_paths_budget_too_small() -> None:
    mlp = MLP(4, 2, 3)
    # one path per output needs 3 x (4 + 1) + 3 output biases = 18
    with pytest.raises(ValueError, match=r"budget 17 cannot hold one path per output.*= 18"):
        build_paths(mlp, None, budget=17, prune_dead=False)
    assert build_paths(mlp, None, budget=18, prune_dead=False).num_full == 3


def test_partial_bias_paths_never_crowd_out_the_full_paths() -> None:
    # 20 inputs, 1 output: one full path costs 21 + 1 output bias = 22. A 10% share of the
    # budget (2) would otherwise go to partial-bias paths and leave no room for a full path.
    mlp = MLP(20, (3, 3), 1, dtype=F64)
    paths = build_paths(mlp, None, budget=22, prune_dead=False)
    assert paths.num_full == 1
    assert paths.units.shape[0] == 1
    assert paths.num_params == 22


def test_build_paths_needs_a_hidden_layer_and_a_probe_for_pruning() -> None:
    with pytest.raises(ValueError, match="mlp must have at least one hidden layer"):
        build_paths(MLP(4, [], 3), None, prune_dead=False)
    with pytest.raises(ValueError, match="probe_x"):
        build_paths(MLP(4, 2, 3), None, prune_dead=True)


# -- dead paths ------------------------------------------------------------------------------


def test_a_unit_never_active_on_the_probe_yields_no_path() -> None:
    mlp = MLP(3, 4, 2, dtype=F64)
    with torch.no_grad():  # unit 1: z = -100 for every input
        mlp.layers[0].weight[1] = 0.0
        mlp.layers[0].bias[1] = -100.0
    x = torch.randn(64, 3, dtype=F64)
    pruned = build_paths(mlp, x, prune_dead=True)
    assert pruned.num_full == 3 * 2
    assert not (pruned.units[:, 0] == 1).any()
    kept = build_paths(mlp, x, prune_dead=False)
    assert kept.num_full == 4 * 2
    assert (kept.units[:, 0] == 1).sum() == 2


def test_a_dead_unit_in_a_deeper_layer_yields_no_path_at_all() -> None:
    mlp = MLP(3, (3, 3), 2, dtype=F64)
    with torch.no_grad():  # layer-2 unit 0 never fires
        mlp.layers[1].weight[0] = 0.0
        mlp.layers[1].bias[0] = -1.0
    x = torch.randn(64, 3, dtype=F64)
    paths = build_paths(mlp, x, prune_dead=True)
    assert not (paths.units[:, 1] == 0).any()  # neither full nor partial-bias paths


def test_paths_of_live_units_that_never_open_together_are_dropped() -> None:
    # h0 = relu(x), h1 = relu(-x); v0 = relu(h0 + 0.1 h1 - 0.5) fires only for x > 0.5 (where
    # h1 = 0) on a probe in [-1, 1], v1 = relu(h0 + h1) fires for x != 0. Units h1 and v0 both
    # fire on the probe, but never at once: the path (h1, v0) is dead as a whole.
    mlp = _set(
        MLP(1, [2, 2], 1, dtype=F64),
        [[[1.0], [-1.0]], [[1.0, 0.1], [1.0, 1.0]], [[1.0, 1.0]]],
        [[0.0, 0.0], [-0.5, 0.0], [0.0]],
    )
    x = torch.linspace(-1, 1, 41, dtype=F64)[:, None]
    paths = build_paths(mlp, x, prune_dead=True)
    full = _as_set(paths.units[: paths.num_full], paths.output[: paths.num_full])
    assert full == {((0, 0), 0), ((0, 1), 0), ((1, 1), 0)}


# -- partial-bias paths ----------------------------------------------------------------------


def test_partial_bias_paths_by_hand() -> None:
    # 2 -> [2, 2] -> 1. f = b3 + sum_j2 W3[0,j2] A2[j2] (b2[j2] + sum_j1 W2[j2,j1] h1[j1]):
    # besides the 4 full paths, 2 partial-bias paths start at layer 2, one per unit j2, with
    # beta_q = W3[0, j2] * b2[j2] = (-2 * 7, 5 * -1) = (-14, -5) and gate A2[j2].
    mlp = _set(
        MLP(2, [2, 2], 1, dtype=F64),
        [[[3, 4], [1, 0]], [[2, -1], [0.5, 3]], [[-2, 5]]],
        [[0, 2], [7, -1], [0.25]],
    )
    paths = build_paths(mlp, None, prune_dead=False)
    assert paths.num_full == 4
    assert paths.units[4:].tolist() == [[-1, 0], [-1, 1]]
    assert paths.output[4:].tolist() == [0, 0]
    assert paths.beta[4:].tolist() == [-14.0, -5.0]
    # full paths: beta_p = c_p b1[j1], theta_p = c_p W1[j1]; c for (j1, j2) = W3[j2] W2[j2, j1]
    coef = {(0, 0): -4.0, (1, 0): 2.0, (0, 1): 2.5, (1, 1): 15.0}
    w1, b1 = [[3.0, 4.0], [1.0, 0.0]], [0.0, 2.0]
    for p, (j1, j2) in enumerate(paths.units[:4].tolist()):
        c = coef[(j1, j2)]
        assert paths.theta[p].tolist() == [c * w for w in w1[j1]]
        assert paths.beta[p].item() == c * b1[j1]
    assert paths.beta0.tolist() == [0.25]


@pytest.mark.parametrize(
    ("widths", "n_out", "num_bias"),
    # depth 1: none; depth 2: n_2 per output; depth 3: n_2 n_3 + n_3 per output
    [((4,), 3, 0), ((4, 3), 3, 3 * 3), ((3, 3, 2), 2, (3 * 2 + 2) * 2)],
)
def test_partial_bias_path_count(widths: tuple[int, ...], n_out: int, num_bias: int) -> None:
    paths = build_paths(MLP(2, widths, n_out), None, prune_dead=False)
    assert paths.units.shape[0] - paths.num_full == num_bias
    assert paths.num_full == math.prod(widths) * n_out


def test_partial_bias_paths_over_their_share_keep_the_largest() -> None:
    # (3, 3, 2) with 4 outputs: (3*2 + 2) * 4 = 32 partial-bias candidates; a budget of 200
    # gives them int(0.1 * 200) = 20, i.e. 5 per output, the largest |c_q b_s[j_s]|.
    mlp = MLP(3, (3, 3, 2), 4, dtype=F64)
    budget = 200
    paths = build_paths(mlp, None, budget=budget, prune_dead=False)
    bias_units = paths.units[paths.num_full :]
    bias_output = paths.output[paths.num_full :]
    assert bias_units.shape[0] == int(BIAS_PATH_SHARE * budget)
    w = [layer.weight.detach() for layer in mlp.layers]
    b = [layer.bias.detach() for layer in mlp.layers]

    def value(chain: tuple[int, ...], k: int) -> float:
        start = next(i for i, j in enumerate(chain) if j >= 0)
        c = float(w[-1][k, chain[-1]])
        for layer in range(start + 1, len(chain)):
            c *= float(w[layer][chain[layer], chain[layer - 1]])
        return abs(c * float(b[start][chain[start]]))

    candidates = [(-1, j2, j3) for j2 in range(3) for j3 in range(2)]
    candidates += [(-1, -1, j3) for j3 in range(2)]
    expected = set()
    for k in range(4):
        best = sorted(candidates, key=lambda c: value(c, k), reverse=True)[:5]
        expected |= {(c, k) for c in best}
    assert _as_set(bias_units, bias_output) == expected
