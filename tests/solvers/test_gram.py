"""glai.solvers.gram: the pattern-by-pattern Gram matrix against explicit path features."""

from __future__ import annotations

import pytest
import torch

from glai import MLP, freeze
from glai.solvers.gram import (
    best_group_size,
    flat_parameters,
    group_gram,
    path_kernel,
    pattern_gram,
    unflatten,
)
from glai.solvers.ridge import path_features


def test_pattern_gram_by_hand() -> None:
    # 3 samples, 1 input (x~ = [x, 1]), 2 gates: G[u, v] = sum_i g_u g_v x~ x~^T
    xt = torch.tensor([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]], dtype=torch.float64)
    gates = torch.tensor([[True, True], [True, False], [False, True]])
    G, R = pattern_gram(xt, gates, torch.tensor([[1.0], [0.0], [2.0]], dtype=torch.float64))
    # gate 0 opens on samples 0, 1: [[1 + 4, 1 + 2], [3, 2]]; both open only on sample 0
    torch.testing.assert_close(G[0, :, 0], torch.tensor([[5.0, 3.0], [3.0, 2.0]], dtype=G.dtype))
    torch.testing.assert_close(G[0, :, 1], torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=G.dtype))
    torch.testing.assert_close(G[1, :, 1], torch.tensor([[10.0, 4.0], [4.0, 2.0]], dtype=G.dtype))
    # R[u] = sum_i g_u y_i x~_i: gate 1 opens on samples 0 (y 1) and 2 (y 2): [1 + 6, 1 + 2]
    torch.testing.assert_close(R[1, :, 0], torch.tensor([7.0, 3.0], dtype=R.dtype))


@pytest.mark.parametrize("group_size", [None, 1, 2, 3, 50])
def test_group_sizes_give_the_same_gram(group_size: int | None) -> None:
    xt = torch.cat([torch.randn(300, 4, dtype=torch.float64), torch.ones(300, 1)], 1)
    gates = torch.rand(300, 7) > 0.4
    y, w = torch.randn(300, 2, dtype=torch.float64), torch.rand(300, dtype=torch.float64)
    G, R = pattern_gram(xt, gates, y, w, group_size=group_size)
    phi = (gates.double()[:, :, None] * xt[:, None]).flatten(1)  # [N, 7 * 5]
    torch.testing.assert_close(G.reshape(35, 35), phi.t() @ (phi * w[:, None]))
    torch.testing.assert_close(R.reshape(35, 2), phi.t() @ (y * w[:, None]))


def test_group_size_follows_the_cost_model() -> None:
    # few gates: one group (the pure pattern method); many gates on few samples: small groups
    assert best_group_size(n=80_000, m=7, patterns=64) == 7
    assert 1 < best_group_size(n=50_000, m=26, patterns=50_000) < 26


@pytest.mark.parametrize(("hidden", "weighted"), [((6,), False), ((4, 3), True), ((3, 3, 2), True)])
def test_group_gram_equals_the_explicit_products(hidden: tuple[int, ...], weighted: bool) -> None:
    # depth 2-4 (partial-bias paths from depth 3), in path_features' layout
    x = torch.randn(250, 5, dtype=torch.float64)
    model = freeze(MLP(5, hidden, 3).double(), x, prune_dead=False)
    gates = model.gates(x)
    y = torch.randn(250, 3, dtype=torch.float64)
    w = torch.rand(250, dtype=torch.float64) if weighted else None
    paths = (model.output == 1).nonzero().flatten()
    full, bias = paths[paths < model.num_full], paths[paths >= model.num_full]
    gram, cross = group_gram(x, gates, full, bias, y, w)
    phi = path_features(x, gates, full, bias)
    phi_w = phi if w is None else phi * w[:, None]
    torch.testing.assert_close(gram, phi.t() @ phi_w)
    torch.testing.assert_close(cross, phi_w.t() @ y)


def test_unflatten_inverts_flat_parameters() -> None:
    model = freeze(MLP(4, (3, 2), 2), torch.randn(50, 4), prune_dead=False)
    back = unflatten(model, flat_parameters(model))
    for name in ("theta", "beta", "beta0"):
        torch.testing.assert_close(back[name], getattr(model, name).detach())


def test_path_kernel_is_the_gram_of_the_features() -> None:
    x = torch.randn(40, 3, dtype=torch.float64)
    model = freeze(MLP(3, (4, 2), 2).double(), x, prune_dead=False)
    gates = model.gates(x)
    paths = (model.output == 1).nonzero().flatten()
    full, bias = paths[paths < model.num_full], paths[paths >= model.num_full]
    phi = path_features(x, gates, full, bias)
    torch.testing.assert_close(path_kernel(x, gates, full, bias), phi @ phi.t())
    torch.testing.assert_close(
        path_kernel(x[:5], gates[:5], full, bias, x[5:], gates[5:]), phi[:5] @ phi[5:].t()
    )
