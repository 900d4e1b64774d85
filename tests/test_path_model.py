"""glai.path_model: the paper's Figure 1 by hand, freeze == network, linearity in the
parameters, gradients, and bad input."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call
from weights import set_weights as _set

from glai.mlp import MLP
from glai.path_model import PathModel, freeze
from glai.paths import path_model_num_params

F64 = torch.float64


# -- Figure 1 of the paper, by hand ----------------------------------------------------------
#
# x in R^4, one hidden layer of 2 units, 3 outputs:
#
#   W_1 = [[1, 0, -1,  2],     b_1 = [ 1, -2]
#          [0, 1,  1, -1]]
#   W_2 = [[ 2, -1],           b_2 = [ 1,  0, -2]
#          [ 1,  3],
#          [-1,  1]]
#
# Paths p = (j, k), grouped by output: (0,0) (1,0) (0,1) (1,1) (0,2) (1,2), 6 paths of 4 + 1
# parameters; with one hidden layer c_p = W_2[k, j]:
#
#   c      = [ 2, -1,  1,  3, -1,  1]
#   theta  = c_p W_1[j]:  [2, 0, -2, 4]  [0, -1, -1, 1]  [1, 0, -1, 2]
#                         [0, 3, 3, -3]  [-1, 0, 1, -2]  [0, 1, 1, -1]
#   beta   = c_p b_1[j]:  [2, 2, 1, -6, -1, -2]
#   beta0  = b_2 = [1, 0, -2]
#
# Inputs, z_1 = W_1 x + b_1, gates A = [z_1 > 0], f = W_2 relu(z_1) + b_2:
#
#   x_a = ( 1, 2, 0, 1): z_1 = ( 1+2+1, 2-1-2) = ( 4, -1)  A = (1, 0)  f = ( 9,  4, -6)
#   x_b = ( 0, 3, 1, 0): z_1 = (-1+1,   3+1-2) = ( 0,  2)  A = (0, 1)  f = (-1,  6,  0)
#         (z = 0 is off: the gate is strict)
#   x_c = ( 2, 2, 1, 0): z_1 = ( 2-1+1, 2+1-2) = ( 2,  1)  A = (1, 1)  f = ( 4,  5, -3)
#   x_d = (-1, 0, 1, 0): z_1 = (-1-1+1, 1-2)   = (-1, -1)  A = (0, 0)  f = ( 1,  0, -2)
#
# Path view, e.g. x_a, output 0: beta0_0 + g_(0,0) (theta . x_a + beta) = 1 + (2 + 4 + 2) = 9.

FIG1_W1 = [[1, 0, -1, 2], [0, 1, 1, -1]]
FIG1_B1 = [1, -2]
FIG1_W2 = [[2, -1], [1, 3], [-1, 1]]
FIG1_B2 = [1, 0, -2]
FIG1_X = [[1, 2, 0, 1], [0, 3, 1, 0], [2, 2, 1, 0], [-1, 0, 1, 0]]
FIG1_F = [[9, 4, -6], [-1, 6, 0], [4, 5, -3], [1, 0, -2]]


def _figure1() -> tuple[MLP, PathModel, torch.Tensor]:
    mlp = _set(MLP(4, 2, 3, dtype=F64), [FIG1_W1, FIG1_W2], [FIG1_B1, FIG1_B2])
    return mlp, freeze(mlp, budget=None, prune_dead=False), torch.tensor(FIG1_X, dtype=F64)


def test_figure1_paths_and_initialisation() -> None:
    _, model, _ = _figure1()
    assert model.num_full == 6 and model.num_bias == 0 and model.num_paths == 6
    assert model.theta.shape == (6, 4)  # 6 paths of 4 + 1 parameters
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 6 * (4 + 1) + 3 == path_model_num_params(4, 3, 6)
    assert model.units[:, 0].tolist() == [0, 1, 0, 1, 0, 1]
    assert model.output.tolist() == [0, 0, 1, 1, 2, 2]
    expected_theta = [
        [2, 0, -2, 4], [0, -1, -1, 1], [1, 0, -1, 2],
        [0, 3, 3, -3], [-1, 0, 1, -2], [0, 1, 1, -1],
    ]  # fmt: skip
    assert model.theta.tolist() == expected_theta
    assert model.beta.tolist() == [2, 2, 1, -6, -1, -2]
    assert model.beta0.tolist() == [1, 0, -2]


def test_figure1_gates_and_outputs() -> None:
    mlp, model, x = _figure1()
    # g_p = A_j for p = (j, k): columns follow the path order (0,0) (1,0) (0,1) (1,1) ...
    expected_gates = [
        [1, 0, 1, 0, 1, 0],  # A = (1, 0)
        [0, 1, 0, 1, 0, 1],  # A = (0, 1)
        [1, 1, 1, 1, 1, 1],  # A = (1, 1)
        [0, 0, 0, 0, 0, 0],  # A = (0, 0)
    ]
    assert model.gates(x).tolist() == [[bool(g) for g in row] for row in expected_gates]
    assert model(x).tolist() == FIG1_F
    assert mlp(x).tolist() == FIG1_F


def test_figure1_untied_parameters_act_only_on_their_path() -> None:
    _, model, x = _figure1()
    with torch.no_grad():  # zero path (j=1, k=1): theta = [0, 3, 3, -3], beta = -6
        model.theta[3] = 0.0
        model.beta[3] = 0.0
    out = model(x)
    # x_b: output 1 was beta0_1 + (theta . x_b + beta) = 0 + (9 + 3 - 6) = 6 through (1,1)
    # alone; now only beta0_1 = 0 is left
    # x_c: output 1 keeps path (0,1): theta . x_c + beta = (2 - 1) + 1 = 2, plus beta0_1 = 0
    assert out[:, 1].tolist() == [4, 0, 2, 0]
    assert out[:, [0, 2]].tolist() == [[f[0], f[2]] for f in FIG1_F]


# -- freeze right after training equals the network ------------------------------------------


def _train(mlp: MLP, x: torch.Tensor, steps: int = 30) -> None:
    """A few Adam steps on a regression target, so the weights are no longer the init's."""
    target = torch.sin(x[:, :3] * 2) + x[:, 3:4] * x[:, 4:5]
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(mlp(x), target).backward()
        opt.step()


@pytest.mark.parametrize("widths", [(6,), (5, 4), (4, 3, 3)], ids=["depth1", "depth2", "depth3"])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_freeze_equals_the_network(widths: tuple[int, ...], dtype: torch.dtype, tol: float) -> None:
    mlp = MLP(5, widths, 3, dtype=dtype)
    x = torch.randn(300, 5, dtype=dtype)
    _train(mlp, x)
    model = freeze(mlp, x, budget=None, prune_dead=False)
    assert model.theta.dtype == dtype
    patterns = [z > 0 for z in mlp.pre_activations(x)]
    assert all(0 < float(p.float().mean()) < 1 for p in patterns)  # gates both on and off
    torch.testing.assert_close(model(x), mlp(x), rtol=0, atol=tol)
    x_new = 3 * torch.randn(100, 5, dtype=dtype)  # away from the probe too
    torch.testing.assert_close(model(x_new), mlp(x_new), rtol=0, atol=tol * 10)


def test_freeze_with_dead_path_removal_still_equals_the_network_on_the_probe() -> None:
    mlp = MLP(5, (8, 8), 3, dtype=F64)
    with torch.no_grad():
        mlp.layers[0].bias[:3] = -50.0  # three units never fire
    x = torch.randn(200, 5, dtype=F64)
    model = freeze(mlp, x, budget=None, prune_dead=True)
    everything = freeze(mlp, x, budget=None, prune_dead=False)
    assert model.num_paths < everything.num_paths
    torch.testing.assert_close(model(x), mlp(x), rtol=0, atol=1e-12)


def test_freeze_leaves_the_network_untouched_and_holds_only_path_parameters() -> None:
    mlp = MLP(4, (5, 3), 2)
    mlp.train()
    before = {k: v.clone() for k, v in mlp.state_dict().items()}
    x = torch.randn(50, 4)
    model = freeze(mlp, x)
    assert mlp.training
    assert all(torch.equal(before[k], v) for k, v in mlp.state_dict().items())
    assert [name for name, _ in model.named_parameters()] == ["theta", "beta", "beta0"]
    buffers = {name for name, _ in model.named_buffers()}
    assert buffers == {
        "gate_weight_1", "gate_bias_1", "gate_weight_2", "gate_bias_2", "units", "output",
    }  # fmt: skip
    # the gating network is a copy, not a view of the MLP's weights
    with torch.no_grad():
        mlp.layers[0].weight.add_(1.0)
    assert not torch.equal(model.gate_weight_1, mlp.layers[0].weight)


def test_gates_cached_or_not_give_the_same_output() -> None:
    mlp = MLP(4, (6, 5), 3, dtype=F64)
    x = torch.randn(40, 4, dtype=F64)
    model = freeze(mlp, x)
    gates = model.gates(x)
    assert gates.dtype == torch.bool and gates.shape == (40, model.num_paths)
    assert torch.equal(model(x, gates), model(x))


# -- linear in the trainable parameters ------------------------------------------------------


def _random_params(model: PathModel) -> dict[str, torch.Tensor]:
    return {name: torch.randn_like(p) for name, p in model.named_parameters()}


def test_output_is_linear_in_theta_beta_beta0() -> None:
    # With x and the gates fixed, f(P) = beta0 + sum_p g_p (theta_p . x + beta_p) is linear
    # (not only affine) in P = (theta, beta, beta0) jointly:
    #   f(0) = 0   and   f(a P1 + b P2) = a f(P1) + b f(P2)   for all a, b.
    # (So the affine identity f(a P1 + b P2) = a f(P1) + b f(P2) - (a + b - 1) f(0) holds too.)
    mlp = MLP(5, (6, 4), 3, dtype=F64)
    x = torch.randn(30, 5, dtype=F64)
    model = freeze(mlp, x, budget=None, prune_dead=False)
    gates = model.gates(x)

    def f(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(model, params, (x, gates))

    p1, p2 = _random_params(model), _random_params(model)
    zero = {k: torch.zeros_like(v) for k, v in p1.items()}
    assert torch.equal(f(zero), torch.zeros(30, 3, dtype=F64))
    for a, b in [(2.0, -0.5), (0.3, 0.7), (-1.25, 3.0)]:
        mix = {k: a * p1[k] + b * p2[k] for k in p1}
        torch.testing.assert_close(f(mix), a * f(p1) + b * f(p2), rtol=0, atol=1e-12)
        torch.testing.assert_close(
            f(mix), a * f(p1) + b * f(p2) - (a + b - 1) * f(zero), rtol=0, atol=1e-12
        )


def test_jacobian_in_the_parameters_does_not_depend_on_them() -> None:
    # Linear in P: the Jacobian d f / d P is the same at any P (it is the gated features).
    mlp = MLP(3, (4, 3), 2, dtype=F64)
    x = torch.randn(10, 3, dtype=F64)
    model = freeze(mlp, x, budget=None, prune_dead=False)
    gates = model.gates(x)

    def jac(params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        names = list(params)

        def g(*values: torch.Tensor) -> torch.Tensor:
            return functional_call(model, dict(zip(names, values, strict=True)), (x, gates))

        return torch.autograd.functional.jacobian(g, tuple(params.values()))

    j1, j2 = jac(_random_params(model)), jac(_random_params(model))
    for a, b in zip(j1, j2, strict=True):
        assert torch.equal(a, b)
    # d f_k / d beta0_k' = [k = k']
    d_beta0 = j1[2]  # [N, n_out, n_out]
    assert torch.equal(d_beta0, torch.eye(2, dtype=F64).expand(10, 2, 2))


def test_gradcheck_in_float64() -> None:
    mlp = MLP(3, (4, 3), 2, dtype=F64)
    x = torch.randn(8, 3, dtype=F64)
    model = freeze(mlp, x, budget=None, prune_dead=False)
    gates = model.gates(x)
    theta = model.theta.detach().clone().requires_grad_()
    beta = model.beta.detach().clone().requires_grad_()
    beta0 = model.beta0.detach().clone().requires_grad_()
    x_in = x.clone().requires_grad_()

    def f(th: torch.Tensor, be: torch.Tensor, b0: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        params = {"theta": th, "beta": be, "beta0": b0}
        return functional_call(model, params, (xx, gates))

    # gradients w.r.t. the path weights and, for GLAI as a block, w.r.t. its input
    assert torch.autograd.gradcheck(f, (theta, beta, beta0, x_in))
    assert torch.autograd.gradgradcheck(f, (theta, beta, beta0, x_in))


# -- bad input -------------------------------------------------------------------------------


def test_forward_rejects_x_of_the_wrong_width_and_gates_of_the_wrong_shape() -> None:
    model = freeze(MLP(4, 5, 3), torch.randn(20, 4))
    with pytest.raises(ValueError, match=r"x must have shape \[N, 4\], got \(2, 5\)"):
        model(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"x must have shape"):
        model(torch.randn(4))
    with pytest.raises(ValueError, match=r"x must have shape"):
        model.gates(torch.randn(2, 3))
    x = torch.randn(6, 4)
    gates = model.gates(x)
    with pytest.raises(ValueError, match=r"gates must have shape \[6, "):
        model(x, gates[:, :-1])
    with pytest.raises(ValueError, match=r"gates must have shape \[5, "):
        model(x[:5], gates)


def test_freeze_rejects_a_network_without_hidden_layer() -> None:
    mlp = MLP(4, [], 3)  # a linear model is a valid MLP, but has no gates
    with pytest.raises(ValueError, match="mlp has no hidden layer"):
        freeze(mlp, torch.randn(5, 4))


def test_freeze_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="mlp must be a glai.MLP"):
        freeze(torch.nn.Linear(4, 3))  # type: ignore[arg-type]
    mlp = MLP(4, 2, 3)
    with pytest.raises(ValueError, match=r"probe_x must have shape \[N, 4\]"):
        freeze(mlp, torch.randn(5, 3))
    with pytest.raises(ValueError, match="probe_x"):
        freeze(mlp, None, prune_dead=True)
    # one path per output needs 3 x (4 + 1) + 3 = 18 parameters
    with pytest.raises(ValueError, match="budget 10 cannot hold one path per output"):
        freeze(mlp, torch.randn(5, 4), budget=10)


@pytest.mark.gpu
def test_freeze_on_cuda_equals_the_network() -> None:
    mlp = MLP(5, (6, 4), 3, device="cuda", dtype=F64)
    x = torch.randn(100, 5, dtype=F64, device="cuda")
    model = freeze(mlp, x, budget=None, prune_dead=False)
    assert model.theta.device.type == "cuda" and model.units.device.type == "cuda"
    torch.testing.assert_close(model(x), mlp(x), rtol=0, atol=1e-12)
    small = freeze(mlp, x, budget=150)  # k-best selection runs on a CPU copy
    assert sum(p.numel() for p in small.parameters()) <= 150
    assert small.gates(x).device.type == "cuda"


# -- outputs added later (new classes) -------------------------------------------------------


@pytest.mark.parametrize("hidden", [(6,), (5, 4), (4, 3, 3)])
def test_added_outputs_leave_the_old_outputs_bit_identical(hidden: tuple[int, ...]) -> None:
    from glai.path_model import add_outputs

    x = torch.randn(64, 7)
    model = freeze(MLP(7, hidden, 3), x, budget=None, prune_dead=False)
    joined = add_outputs(model, 2)
    with torch.no_grad():  # whatever the new outputs learn
        joined.theta[model.num_full :].normal_()
        joined.beta.normal_()
        joined.beta[: model.num_full] = model.beta[: model.num_full]
        joined.beta[joined.num_full : joined.num_full + model.num_bias] = model.beta[
            model.num_full :
        ]
    assert torch.equal(joined(x)[:, :3], model(x))
    assert joined.out_features == 5
    # each new output owns a copy of the chains of the old outputs' (shared) path set
    for k in (3, 4):
        assert torch.equal(joined.units[joined.output == k], model.units[model.output == 0])


def test_new_outputs_start_at_zero_on_the_frozen_gates() -> None:
    from glai.path_model import new_outputs

    x = torch.randn(20, 4)
    model = freeze(MLP(4, 3, 2), x, prune_dead=False)
    new = new_outputs(model, 3)
    assert new.out_features == 3 and new.num_full == 3 * 3
    assert torch.equal(new(x), torch.zeros(20, 3))
    assert torch.equal(new.gate_weight_1, model.gate_weight_1)
    with pytest.raises(ValueError, match="n_new"):
        new_outputs(model, 0)


def test_join_outputs_refuses_another_gating_network() -> None:
    from glai.path_model import join_outputs

    x = torch.randn(20, 4)
    a = freeze(MLP(4, 3, 2), x, prune_dead=False)
    b = freeze(MLP(4, 3, 2), x, prune_dead=False)
    with pytest.raises(ValueError, match="same gating network"):
        join_outputs(a, b)
