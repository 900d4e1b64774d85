"""Structural knowledge: activation patterns, the path distance ``m_t`` and stop rules.

GLAI (Mestre et al., 2025, arXiv:2510.00883) learns *which* ReLUs fire first. The
activation pattern of hidden layer ``l`` is ``A_l(x) = [z_l(x) > 0]``. The structure is
frozen once the patterns stop moving, measured on a fixed probe set of training inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from glai.mlp import MLP

__all__ = [
    "activation_patterns",
    "check_probe_finite",
    "path_distance",
    "StopRule",
    "StructureMonitor",
]


@torch.no_grad()
def activation_patterns(mlp: MLP, x: torch.Tensor) -> list[torch.Tensor]:
    """Activation patterns ``A_l(x) = [z_l(x) > 0]`` of every hidden layer.

    Args:
        mlp: the ReLU network.
        x: inputs ``[N, n_0]``.

    Returns:
        one BoolTensor ``[N, n_l]`` per hidden layer ``l = 1 .. L-1``, computed in eval mode
        (the network's own mode is restored afterwards).
    """
    if mlp.depth < 2:
        raise ValueError("mlp has no hidden layer, so it has no activation pattern")
    was_training = mlp.training
    mlp.eval()
    try:
        return [z > 0 for z in mlp.pre_activations(x)]
    finally:
        mlp.train(was_training)


def check_probe_finite(probe_x: torch.Tensor) -> None:
    """A ValueError unless every value of the probe ``[N, n_0]`` is finite.

    On NaN no ReLU opens (``NaN > 0`` is false) and on inf the gates no longer depend on the
    network, so the patterns, ``m_t`` and the paths that stay alive would be computed on
    nothing: an all-NaN probe would freeze into a model of no paths.
    """
    finite = torch.isfinite(probe_x)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(
            f"probe_x holds {bad} NaN or infinite value(s) of {probe_x.numel()}: the gates "
            "must be measured on finite inputs (drop or impute those rows)"
        )


def path_distance(patterns_a: Sequence[torch.Tensor], patterns_b: Sequence[torch.Tensor]) -> float:
    """Fraction of gates that differ between two activation patterns.

    ``m = sum_l |A_l != B_l| / sum_l numel(A_l)`` over probe inputs and hidden units
    (our (choice) of distance; GLAI-METHOD.md section 5).
    """
    if len(patterns_a) != len(patterns_b):
        raise ValueError(
            f"patterns_a has {len(patterns_a)} layers but patterns_b has {len(patterns_b)}"
        )
    if not patterns_a:
        raise ValueError("patterns_a is empty: expected one pattern per hidden layer")
    changed = 0
    total = 0
    for a, b in zip(patterns_a, patterns_b):
        if a.shape != b.shape:
            raise ValueError(f"pattern shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
        changed += int((a != b).sum())
        total += a.numel()
    return changed / total if total else 0.0


@dataclass(frozen=True)
class StopRule:
    """When the structure counts as stable, from the history ``m_1 .. m_t``.

    kind:
        ``"threshold"``: ``m_t < threshold``.
        ``"relative"``: ``|m_t - m_{t-1}| / m_{t-1} < tol`` for ``patience`` checks in a row.
        ``"window"``: all of the last ``window`` distances below ``threshold`` (Early-Bird style).
        ``"epochs"``: a fixed number of checks, ``epochs``.

    min_epochs / max_epochs bound every rule (counted in checks, one per epoch by default);
    ``max_epochs=0`` freezes the structure at initialisation (the untrained-gates control).

    The default is ``"relative"`` with ``tol=0.1, patience=3, min_epochs=5``: a threshold on
    ``m_t`` alone fired after one epoch, because ``m_t`` drops to a noise floor of 1-3% while the
    loss still falls (GLAI-METHOD.md section 9); waiting until ``m_t`` stops *changing* and for a
    few epochs at least is cheap, since the structural network is narrow.
    """

    kind: str = "relative"
    threshold: float = 0.02
    tol: float = 0.1
    patience: int = 3
    window: int = 3
    epochs: int = 10
    min_epochs: int = 5
    max_epochs: int = 50

    def __post_init__(self) -> None:
        if self.kind not in ("threshold", "relative", "window", "epochs"):
            raise ValueError(
                "rule kind must be 'threshold', 'relative', 'window' or 'epochs', "
                f"got {self.kind!r}"
            )
        for name, low in (("patience", 1), ("window", 1), ("epochs", 0), ("max_epochs", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)}")
        if self.min_epochs < 0 or self.min_epochs > self.max_epochs:
            raise ValueError(
                f"min_epochs must be in [0, max_epochs={self.max_epochs}], got {self.min_epochs}"
            )

    def is_stable(self, history: Sequence[float]) -> bool:
        """Whether the structure is stable after ``len(history)`` checks."""
        t = len(history)
        if t >= self.max_epochs:
            return True
        if t < max(self.min_epochs, 1):
            return False
        if self.kind == "epochs":
            return t >= self.epochs
        if self.kind == "threshold":
            return history[-1] < self.threshold
        if self.kind == "window":
            return t >= self.window and all(m < self.threshold for m in history[-self.window :])
        # relative: the last `patience` relative changes all below tol
        if t < self.patience + 1:
            return False
        recent = history[-(self.patience + 1) :]
        for prev, cur in zip(recent[:-1], recent[1:]):
            if prev == 0.0:
                if cur != 0.0:
                    return False
            elif abs(cur - prev) / prev >= self.tol:
                return False
        return True


def relative_changes(history: Sequence[float]) -> list[float]:
    """``|m_t - m_{t-1}| / m_{t-1}`` for t = 2..T (nan where ``m_{t-1} = 0``)."""
    return [abs(b - a) / a if a > 0 else math.nan for a, b in zip(history[:-1], history[1:])]


class StructureMonitor:
    """Tracks the path distance ``m_t`` of a network on a fixed probe set.

    The first :meth:`update` stores the reference patterns (call it once before training);
    every later one appends ``m_t = path_distance(A^{(t-1)}, A^{(t)})`` to :attr:`history` and
    returns True once ``rule`` deems the structure stable.

    Args:
        probe_x: probe inputs ``[N_probe, n_0]`` (a fixed subset of the training inputs).
        rule: a :class:`StopRule`, or one of its kinds as a string (other fields default).
        check_every: optimiser steps between two checks, or None for one check at the end of
            every epoch (GLAI-METHOD.md section 5). With a step interval the training loop
            checks after every ``check_every``-th minibatch step and the rule may stop the
            structural phase in the middle of an epoch; the rule's ``min_epochs`` /
            ``max_epochs`` then count checks, not epochs. **(beyond the paper)**: the paper
            checks per epoch; the authors' later work tracks activation patterns per iteration,
            and ``m_t`` settles within the first epoch on frozen features (BENCHMARKS.md).

    Attributes:
        history: ``m_1 .. m_t``, one per check after the reference.
        steps: the optimiser step (counted from the start of training) at which each
            ``m_t`` was measured, aligned with ``history`` when the caller passes ``step``.
    """

    def __init__(
        self,
        probe_x: torch.Tensor,
        rule: StopRule | str = "relative",
        *,
        check_every: int | None = None,
    ) -> None:
        if probe_x.ndim != 2 or probe_x.shape[0] == 0:
            raise ValueError(
                f"probe_x must be a non-empty [N, n_0] tensor, got {tuple(probe_x.shape)}"
            )
        check_probe_finite(probe_x)
        if check_every is not None and (
            isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1
        ):
            raise ValueError(
                f"check_every must be a positive number of optimiser steps or None (once per "
                f"epoch), got {check_every!r}"
            )
        self.probe_x = probe_x
        self.rule = StopRule(kind=rule) if isinstance(rule, str) else rule
        self.check_every = check_every
        self.history: list[float] = []
        self.steps: list[int] = []
        self._last: list[torch.Tensor] | None = None

    def update(self, mlp: MLP, step: int | None = None) -> bool:
        """Record the patterns of ``mlp`` now (after optimiser step ``step``, if known); True
        once the structure is stable."""
        patterns = activation_patterns(mlp, self.probe_x.to(mlp.linears[0].weight))
        if self._last is None:
            self._last = patterns
            return False
        self.history.append(path_distance(self._last, patterns))
        if step is not None:
            self.steps.append(step)
        self._last = patterns
        return self.rule.is_stable(self.history)

    def state_dict(self) -> dict[str, Any]:
        """The ``m_t`` history, the steps of its checks and the last patterns (what a
        checkpoint keeps)."""
        return {"history": list(self.history), "steps": list(self.steps), "last": self._last}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (the probe is the constructor's)."""
        self.history = [float(m) for m in state["history"]]
        self.steps = [int(k) for k in state.get("steps", [])]
        last = state["last"]
        self._last = None if last is None else [p.to(self.probe_x.device) for p in last]

    @property
    def relative_changes(self) -> list[float]:
        """``|m_t - m_{t-1}| / m_{t-1}`` along :attr:`history`."""
        return relative_changes(self.history)
