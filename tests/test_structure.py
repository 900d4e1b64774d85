"""glai.structure: activation patterns, the path distance m_t, stop rules and the monitor."""

from __future__ import annotations

import math

import pytest
import torch

from glai.mlp import MLP
from glai.structure import (
    StopRule,
    StructureMonitor,
    activation_patterns,
    path_distance,
    relative_changes,
)


def _set(mlp: MLP, weights: list[list[list[float]]], biases: list[list[float]]) -> MLP:
    with torch.no_grad():
        for layer, w, b in zip(mlp.layers, weights, biases, strict=True):
            layer.weight.copy_(torch.tensor(w))
            layer.bias.copy_(torch.tensor(b))
    return mlp


def _b(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.bool)


# -- activation patterns ---------------------------------------------------------------------


def test_activation_patterns_by_hand() -> None:
    # z_1 = [x0 - x1, x1 - 1]; z_2 = [h0 + h1 - 1]  (A = [z > 0], strict)
    mlp = _set(
        MLP(2, [2, 1], 1, dtype=torch.float64),
        [[[1, -1], [0, 1]], [[1, 1]], [[1]]],
        [[0, -1], [-1], [0]],
    )
    x = torch.tensor([[3.0, 1.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64)
    # x=(3,1): z1=(2, 0)  -> A1=(1,0); h=(2,0); z2=1  -> A2=(1)
    # x=(0,2): z1=(-2, 1) -> A1=(0,1); h=(0,1); z2=0  -> A2=(0)  (z = 0 is off)
    # x=(1,1): z1=(0, 0)  -> A1=(0,0); h=(0,0); z2=-1 -> A2=(0)
    a1, a2 = activation_patterns(mlp, x)
    assert a1.dtype == torch.bool
    assert torch.equal(a1, _b([[1, 0], [0, 1], [0, 0]]))
    assert torch.equal(a2, _b([[1], [0], [0]]))


def test_activation_patterns_need_a_hidden_layer() -> None:
    with pytest.raises(ValueError, match="mlp has no hidden layer"):
        activation_patterns(MLP(3, [], 2), torch.randn(4, 3))


# -- path distance m_t -----------------------------------------------------------------------


def test_path_distance_is_the_fraction_of_changed_gates() -> None:
    # two probe inputs; layer 1 has 3 units (6 gates), layer 2 has 2 units (4 gates): 10 gates.
    a = [_b([[1, 0, 1], [0, 0, 1]]), _b([[1, 1], [0, 0]])]
    b = [_b([[1, 1, 1], [0, 0, 0]]), _b([[1, 1], [0, 1]])]
    # changed: layer 1 (0,1) and (1,2); layer 2 (1,1)  -> 3 / 10
    assert path_distance(a, b) == 3 / 10
    assert path_distance(b, a) == 3 / 10
    assert path_distance(a, a) == 0.0
    flipped = [~t for t in a]
    assert path_distance(a, flipped) == 1.0
    # one layer, 4 inputs x 2 units, one change: 1 / 8
    assert path_distance([_b([[1, 0]] * 4)], [_b([[1, 0]] * 3 + [[1, 1]])]) == 1 / 8


def test_path_distance_rejects_mismatched_patterns() -> None:
    a = [_b([[1, 0]])]
    with pytest.raises(ValueError, match="patterns_a has 1 layers but patterns_b has 2"):
        path_distance(a, a + a)
    with pytest.raises(ValueError, match="shapes differ"):
        path_distance(a, [_b([[1, 0, 1]])])
    with pytest.raises(ValueError, match="patterns_a is empty"):
        path_distance([], [])


def test_relative_changes() -> None:
    assert relative_changes([0.2, 0.1, 0.15]) == pytest.approx([0.5, 0.5])
    rel = relative_changes([0.0, 0.1])
    assert math.isnan(rel[0])
    assert relative_changes([0.3]) == []


# -- stop rules ------------------------------------------------------------------------------


def test_stop_rule_threshold() -> None:
    rule = StopRule("threshold", threshold=0.05, min_epochs=0)
    assert not rule.is_stable([])
    assert not rule.is_stable([0.1])
    assert rule.is_stable([0.1, 0.04])
    assert not rule.is_stable([0.04, 0.05])  # strictly below
    with_min = StopRule("threshold", threshold=0.05, min_epochs=3)
    assert not with_min.is_stable([0.1, 0.04])
    assert with_min.is_stable([0.1, 0.04, 0.01])


def test_stop_rule_relative() -> None:
    rule = StopRule("relative", tol=0.1, patience=2, min_epochs=0)
    # changes: |0.05-0.1|/0.1 = 0.5, |0.048-0.05|/0.05 = 0.04, |0.047-0.048|/0.048 = 0.0208
    assert not rule.is_stable([0.1, 0.05])
    assert not rule.is_stable([0.1, 0.05, 0.048])  # the last 2 changes: 0.5, 0.04
    assert rule.is_stable([0.1, 0.05, 0.048, 0.047])  # the last 2 changes: 0.04, 0.021
    # a change of exactly tol is not below tol: |0.09 - 0.1| / 0.1 = 0.1
    assert not StopRule("relative", tol=0.1, patience=1, min_epochs=0).is_stable([0.1, 0.09])
    # m = 0 twice in a row is stable; 0 -> positive is not
    assert rule.is_stable([0.3, 0.0, 0.0, 0.0])
    assert not rule.is_stable([0.3, 0.0, 0.0, 0.01])


def test_stop_rule_window() -> None:
    rule = StopRule("window", window=3, threshold=0.05, min_epochs=0)
    assert not rule.is_stable([0.01, 0.01])  # fewer checks than the window
    assert rule.is_stable([0.2, 0.01, 0.02, 0.03])
    assert not rule.is_stable([0.01, 0.06, 0.01, 0.01])
    assert rule.is_stable([0.01, 0.06, 0.01, 0.01, 0.01])


def test_stop_rule_epochs_and_bounds() -> None:
    rule = StopRule("epochs", epochs=4, min_epochs=0)
    assert not rule.is_stable([1.0] * 3)
    assert rule.is_stable([1.0] * 4)
    # max_epochs ends any rule; min_epochs holds any rule back
    never = StopRule("threshold", threshold=0.0, min_epochs=0, max_epochs=5)
    assert not never.is_stable([1.0] * 4)
    assert never.is_stable([1.0] * 5)
    late = StopRule("epochs", epochs=1, min_epochs=3)
    assert not late.is_stable([0.0, 0.0])
    assert late.is_stable([0.0, 0.0, 0.0])


def test_stop_rule_default_is_relative_with_a_minimum() -> None:
    rule = StopRule()
    assert rule.kind == "relative"
    assert rule.min_epochs >= 1
    assert not rule.is_stable([0.0] * (rule.min_epochs - 1))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"kind": "loss"}, "kind"),
        ({"patience": 0}, "patience"),
        ({"window": 0}, "window"),
        ({"epochs": -1}, "epochs"),
        ({"max_epochs": -1, "min_epochs": 0}, "max_epochs"),
        ({"min_epochs": 6, "max_epochs": 5}, "min_epochs"),
        ({"min_epochs": -1}, "min_epochs"),
    ],
)
def test_stop_rule_rejects_bad_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        StopRule(**kwargs)


# -- the monitor -----------------------------------------------------------------------------


def _one_unit_mlp(bias: float) -> MLP:
    """1 -> [1] -> 1 with z = x + bias: on the probe x = (-1, 0, 1, 2) the gate is x > -bias."""
    return _set(MLP(1, [1], 1), [[[1.0]], [[1.0]]], [[bias], [0.0]])


def test_monitor_first_update_stores_the_reference() -> None:
    probe = torch.tensor([[-1.0], [0.0], [1.0], [2.0]])
    monitor = StructureMonitor(probe, rule=StopRule("threshold", threshold=0.3, min_epochs=0))
    assert monitor.update(_one_unit_mlp(0.5)) is False  # gates (0, 1, 1, 1); reference only
    assert monitor.history == []
    # bias -0.5: gates (0, 0, 1, 1): 1 of 4 changed
    assert monitor.update(_one_unit_mlp(-0.5)) is True  # m = 0.25 < 0.3
    assert monitor.history == [0.25]
    # bias -1.5: gates (0, 0, 0, 1): 1 of 4 changed since the *previous* check, not the first
    monitor.update(_one_unit_mlp(-1.5))
    assert monitor.history == [0.25, 0.25]
    # bias 1.5: gates (1, 1, 1, 1): 3 of 4 changed
    assert monitor.update(_one_unit_mlp(1.5)) is False
    assert monitor.history == [0.25, 0.25, 0.75]
    assert monitor.relative_changes == pytest.approx([0.0, 2.0])


def test_monitor_keeps_the_training_mode_and_takes_a_rule_name() -> None:
    mlp = MLP(3, 4, 2)
    mlp.train()
    monitor = StructureMonitor(torch.randn(5, 3), rule="window")
    assert monitor.rule == StopRule("window")
    monitor.update(mlp)
    assert mlp.training
    assert monitor.update(mlp) is False  # m = 0, but the default min_epochs holds
    assert monitor.history == [0.0]


@pytest.mark.parametrize("shape", [(0, 3), (3,), (2, 3, 1)])
def test_monitor_rejects_a_bad_probe(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="probe_x"):
        StructureMonitor(torch.zeros(shape))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_monitor_rejects_a_non_finite_probe(bad: float) -> None:
    probe = torch.zeros(4, 3)
    probe[1, 1] = bad
    with pytest.raises(ValueError, match=r"probe_x holds 1 NaN or infinite value\(s\) of 12"):
        StructureMonitor(probe)
