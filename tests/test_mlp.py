"""glai.mlp: the plain ReLU MLP, its widths and its parameter count."""

from __future__ import annotations

import pytest
import torch

from glai.mlp import MLP, as_widths, check_features, gating_forward, mlp_num_params


def test_as_widths_normalises_int_and_sequences() -> None:
    assert as_widths(5) == (5,)
    assert as_widths([4, 3]) == (4, 3)
    assert as_widths((2, 2, 1)) == (2, 2, 1)
    assert as_widths([]) == ()  # a linear model: allowed for MLP, refused by GLAI and freeze


@pytest.mark.parametrize("bad", [True, "16", 2.5, None])
def test_as_widths_rejects_non_int_types(bad: object) -> None:
    with pytest.raises(TypeError, match="hidden_features"):
        as_widths(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -3, [4, 0], [4, 2.0], [True]])
def test_as_widths_rejects_non_positive_widths(bad: object) -> None:
    with pytest.raises(ValueError, match="hidden_features"):
        as_widths(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "4"])
def test_check_features_names_the_argument(bad: object) -> None:
    with pytest.raises(ValueError, match="in_features"):
        check_features("in_features", bad)


def test_mlp_num_params_by_hand() -> None:
    # 4 -> 2 -> 3: (4*2 + 2) + (2*3 + 3) = 10 + 9 = 19
    assert mlp_num_params(4, 2, 3) == 19
    # 5 -> [3, 2] -> 1: (15 + 3) + (6 + 2) + (2 + 1) = 29
    assert mlp_num_params(5, [3, 2], 1) == 29
    mlp = MLP(5, [3, 2], 1)
    assert sum(p.numel() for p in mlp.parameters()) == 29


def test_mlp_forward_is_the_relu_recursion() -> None:
    mlp = MLP(3, [4, 2], 2, dtype=torch.float64)
    x = torch.randn(7, 3, dtype=torch.float64)
    w = [layer.weight for layer in mlp.layers]
    b = [layer.bias for layer in mlp.layers]
    z1 = x @ w[0].T + b[0]
    z2 = torch.relu(z1) @ w[1].T + b[1]
    out = torch.relu(z2) @ w[2].T + b[2]
    torch.testing.assert_close(mlp(x), out, rtol=0, atol=1e-14)
    zs = mlp.pre_activations(x)
    assert len(zs) == 2
    torch.testing.assert_close(zs[0], z1, rtol=0, atol=1e-14)
    torch.testing.assert_close(zs[1], z2, rtol=0, atol=1e-14)
    assert mlp.depth == 3


def test_mlp_takes_dtype_and_reports_its_shape() -> None:
    mlp = MLP(3, 4, 2, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in mlp.parameters())
    assert mlp.hidden_features == (4,)
    assert "3 -> [4] -> 2" in repr(mlp)


def test_mlp_without_hidden_layer_is_linear() -> None:
    mlp = MLP(4, [], 3)
    assert mlp.depth == 1
    assert mlp.pre_activations(torch.randn(2, 4)) == []


@pytest.mark.parametrize(
    ("args", "name"),
    [((0, 4, 3), "in_features"), ((4, 4, 0), "out_features"), ((4.0, 4, 3), "in_features")],
)
def test_mlp_rejects_bad_sizes(args: tuple, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        MLP(*args)


def test_gating_forward_by_hand() -> None:
    # a_1(h) = h - 1, a_2(h) = -h on x = (0, 2):
    # z_1 = (-1, 1), h_1 = (0, 1); z_2 = (0, -1), h_2 = (0, 0)
    x = torch.tensor([[0.0, 2.0]])
    zs, h = gating_forward(x, [lambda h: h - 1, lambda h: -h])
    torch.testing.assert_close(zs[0], torch.tensor([[-1.0, 1.0]]))
    torch.testing.assert_close(zs[1], torch.tensor([[0.0, -1.0]]))
    torch.testing.assert_close(h, torch.tensor([[0.0, 0.0]]))
    zs, h = gating_forward(x, [])
    assert zs == [] and h is x


def test_mlp_forward_and_pre_activations_share_the_gating_pass() -> None:
    mlp = MLP(3, (4, 5), 2)
    x = torch.randn(7, 3)
    zs, h = gating_forward(x, mlp.hidden_maps())
    assert [z.shape for z in mlp.pre_activations(x)] == [(7, 4), (7, 5)]
    assert all(torch.equal(a, b) for a, b in zip(zs, mlp.pre_activations(x)))
    torch.testing.assert_close(mlp(x), mlp.linears[-1](h), rtol=0, atol=0)


@pytest.mark.parametrize("device", ["meta", torch.device("meta")])
def test_initial_weights_come_from_the_cpu_generator_whatever_the_device(device: object) -> None:
    # Built directly on a device, an MLP drew its weights from that device's generator (on a
    # GPU another stream than the CPU's): one seed gave other initial weights there. "meta"
    # stands for such a device here: built on it, the CPU generator was never touched.
    torch.manual_seed(3)
    on_cpu = MLP(5, [7, 6], 4)
    after_cpu = torch.rand(3)
    torch.manual_seed(3)
    elsewhere = MLP(5, [7, 6], 4, device=device)
    assert torch.equal(torch.rand(3), after_cpu)  # the same draws were taken from the CPU
    assert all(p.device.type == "meta" for p in elsewhere.parameters())
    torch.manual_seed(3)
    moved = MLP(5, [7, 6], 4).to("meta")
    assert [p.shape for p in moved.parameters()] == [p.shape for p in elsewhere.parameters()]
    del on_cpu


def test_glai_and_projection_heads_draw_their_structure_on_the_cpu() -> None:
    from glai import GLAI
    from glai.ssl import ProjectionHead

    for make in (lambda d: GLAI(5, 8, 3, device=d), lambda d: ProjectionHead(5, 8, 3, device=d),
                 lambda d: ProjectionHead(5, 8, 3, kind="mlp", device=d)):  # fmt: skip
        torch.manual_seed(1)
        make(None)
        expected = torch.rand(2)
        torch.manual_seed(1)
        make("meta")
        assert torch.equal(torch.rand(2), expected)
