"""``GLAI``: the drop-in block for a ReLU MLP, in two phases.

Phase ``"structural"``: a narrow ReLU MLP (hidden widths divided by ``rho``, rounded up),
trained as usual. ``freeze_structure(probe_x)`` switches to phase ``"quantitative"``: a
:class:`~glai.path_model.PathModel` whose only parameters are the path weights. Training is
done by the caller (see :mod:`glai.training`), with a new optimiser after the switch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from numbers import Real
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import nn

from glai.mlp import MLP, BatchNormMLP, as_widths, check_features
from glai.path_model import PathModel, freeze
from glai.paths import check_budget, resolve_budget

__all__ = ["GLAI", "StructureNotFrozenError", "resolve_budget", "structural_widths"]

Phase = Literal["structural", "quantitative"]


def _mismatches(module: nn.Module, state_dict: dict[str, Any], prefix: str) -> list[str]:
    """torch's "size mismatch" messages for the tensors of ``state_dict`` under ``prefix``."""
    own = module.state_dict()
    return [
        f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} from "
        f"checkpoint, the shape in current model is {tuple(own[key[len(prefix) :]].shape)}."
        for key, value in state_dict.items()
        if key.startswith(prefix)
        and key[len(prefix) :] in own
        and tuple(value.shape) != tuple(own[key[len(prefix) :]].shape)
    ]


class StructureNotFrozenError(RuntimeError):
    """A GLAI in phase "structural" was asked for something only paths have."""


def structural_widths(
    in_features: int,
    hidden_features: int | Sequence[int],
    out_features: int,
    rho: float | str = "auto",
    budget: int | None = None,
) -> tuple[tuple[int, ...], float]:
    """Hidden widths of the structural network, ``ceil(n_l / rho)``, and the ``rho`` used.

    ``rho="auto"`` (choice) picks the smallest ``rho`` whose first hidden layer gives every
    output one path per unit within ``budget``: with one hidden layer every candidate path
    is kept (no pruning, so the path model starts exactly at the structural network), and
    the budget is spent almost entirely. Without a budget, ``"auto"`` means ``rho = 1``.
    """
    widths = as_widths(hidden_features)
    if rho == "auto":
        if budget is None:
            rho_value = 1.0
        else:
            check_budget(budget, in_features, out_features)
            per_output = (budget - out_features) // ((in_features + 1) * out_features)
            rho_value = max(1.0, widths[0] / per_output)
    elif isinstance(rho, (bool, np.bool_)) or not isinstance(rho, Real) or not rho >= 1:
        raise ValueError(f"rho must be 'auto' or a number >= 1, got {rho!r}")
    else:
        rho_value = float(rho)
    # The small epsilon keeps exact ratios (256 / 25.6 = 10) from rounding up to the next int.
    return tuple(max(1, math.ceil(w / rho_value - 1e-9)) for w in widths), rho_value


class GLAI(nn.Module):
    """GLAI block replacing the MLP ``in_features -> hidden_features -> out_features``.

    GreenLightningAI (Mestre et al., 2025, arXiv:2510.00883). Shapes: ``x: [N, n_0] ->
    [N, n_L]`` in both phases.

    Args:
        in_features, hidden_features, out_features: the MLP being replaced.
        rho: reduction factor of the structural widths, or ``"auto"`` (see
            :func:`structural_widths`).
        budget: trainable parameters allowed to the paths: ``"match"`` (the replaced MLP's
            count, BatchNorm included with ``batch_norm``), an int, or None (every candidate
            path).
        prune_dead: at freeze time, drop paths whose gate never opens on the probe.
        batch_norm: the structural network is a :class:`~glai.mlp.BatchNormMLP`
            (Linear-BatchNorm-ReLU, then Linear: the SimCLR projection head's shape);
            :meth:`freeze_structure` folds BatchNorm's running statistics into the paths.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int | Sequence[int],
        out_features: int,
        *,
        rho: float | str = "auto",
        budget: int | str | None = "match",
        prune_dead: bool = True,
        batch_norm: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(batch_norm, (bool, np.bool_)):
            raise TypeError(f"batch_norm must be a bool, got {batch_norm!r}")
        self.batch_norm = bool(batch_norm)
        self.in_features = check_features("in_features", in_features)
        self.hidden_features = as_widths(hidden_features)
        if not self.hidden_features:
            raise ValueError(
                "hidden_features must hold at least one hidden width: GLAI's gates are the "
                "ReLUs of the hidden layers, got ()"
            )
        self.out_features = check_features("out_features", out_features)
        self.budget = resolve_budget(
            budget, in_features, hidden_features, out_features, batch_norm=self.batch_norm
        )
        self.structural_features, self.rho = structural_widths(
            in_features, self.hidden_features, out_features, rho, self.budget
        )
        self.prune_dead = prune_dead
        self.structure: MLP | None = self._new_structure(device=device, dtype=dtype)
        self.path_model: PathModel | None = None

    def _new_structure(
        self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> MLP:
        """A fresh structural network: a :class:`~glai.mlp.BatchNormMLP` with ``batch_norm``,
        else a plain :class:`~glai.mlp.MLP`."""
        kind = BatchNormMLP if self.batch_norm else MLP
        return kind(
            self.in_features, self.structural_features, self.out_features,
            device=device, dtype=dtype,
        )  # fmt: skip

    @property
    def phase(self) -> Phase:
        return "structural" if self.path_model is None else "quantitative"

    @property
    def num_paths(self) -> int:
        """Number of paths (full and partial-bias); raises before the structure is frozen."""
        return self._frozen().num_paths

    def _frozen(self) -> PathModel:
        if self.path_model is None:
            raise StructureNotFrozenError(
                "this GLAI is in phase 'structural': call freeze_structure(probe_x) first"
            )
        return self.path_model

    def freeze_structure(self, probe_x: torch.Tensor) -> GLAI:
        """Switch to phase "quantitative": build and initialise the paths from the structure.

        Args:
            probe_x: probe inputs ``[N, n_0]`` (training inputs) for dead-path removal.

        The paths start from the structure in eval mode (BatchNorm, if any, folded in with
        its running statistics), so the block computes the same function after the switch.

        Returns:
            ``self``. Its parameters change: make a new optimiser.
        """
        if self.structure is None:
            raise RuntimeError("the structure is already frozen")
        self.path_model = freeze(
            self.structure, probe_x, budget=self.budget, prune_dead=self.prune_dead
        )
        self.structure = None
        return self

    def set_path_model(self, path_model: PathModel) -> GLAI:
        """Replace the frozen paths by ``path_model`` on the same gating network, e.g. with
        outputs appended (:func:`glai.training.fit_new_outputs`); ``out_features`` follows.

        Returns ``self``. Its parameters change: make a new optimiser.
        """
        current = self._frozen()
        same = path_model.in_features == current.in_features and all(
            torch.equal(buf, getattr(path_model, name))
            for name, buf in current.named_buffers()
            if name.startswith("gate_")
        )
        if not same:
            raise ValueError("set_path_model needs paths on this GLAI's frozen gating network")
        self.path_model = path_model
        self.out_features = path_model.out_features
        return self

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """Path gates ``[N, num_paths]`` (phase "quantitative" only)."""
        return self._frozen().gates(x)

    def forward(self, x: torch.Tensor, gates: torch.Tensor | None = None) -> torch.Tensor:
        if self.path_model is not None:
            return self.path_model(x, gates)
        if gates is not None:
            raise StructureNotFrozenError("gates were given but this GLAI has no paths yet")
        assert self.structure is not None
        return self.structure(x)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # The saved phase decides the submodule. torch loads a parent before its children, so
        # here the right submodule is built with the saved shapes, checked against every saved
        # tensor, and only then swapped in. On a mismatch the block keeps its submodule and
        # none of its tensors: the saved ones are taken out of ``state_dict`` before the
        # children would load them, and torch raises with the message appended here.
        name, candidate = self._submodule_for(state_dict, prefix, strict, error_msgs)
        if candidate is None:
            return
        problems = _mismatches(candidate, state_dict, f"{prefix}{name}.")
        if problems:
            error_msgs.extend(problems)
            for key in [k for k in state_dict if k.startswith(f"{prefix}{name}.")]:
                del state_dict[key]
            return
        if name == "path_model":
            self.path_model, self.structure = cast(PathModel, candidate), None
        else:
            self.structure, self.path_model = cast(MLP, candidate), None
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _submodule_for(
        self, state_dict: dict[str, Any], prefix: str, strict: bool, error_msgs: list[str]
    ) -> tuple[str, nn.Module | None]:
        """The submodule that ``state_dict`` describes: the current one when its phase matches
        (a structure), else a new one of the saved shapes; None (and an error) if impossible."""
        ref = next(itertools.chain(self.parameters(), self.buffers()), None)
        device = None if ref is None else ref.device
        dtype = None if ref is None else ref.dtype
        theta = state_dict.get(prefix + "path_model.theta")
        if theta is None:
            if self.structure is None and prefix + "structure.layers.0.weight" in state_dict:
                return "structure", self._new_structure(device=device, dtype=dtype)
            return ("structure", self.structure) if self.structure is not None else (
                "path_model", self.path_model
            )  # fmt: skip
        if theta.ndim != 2 or theta.shape[1] != self.in_features:
            error_msgs.append(
                f"saved GLAI paths take {tuple(theta.shape)[1:]} inputs, this GLAI takes "
                f"{self.in_features}"
            )
            return "path_model", None
        beta = state_dict.get(prefix + "path_model.beta")
        if beta is not None:
            num_bias = beta.shape[0] - theta.shape[0]
        elif self.path_model is not None and not strict:
            num_bias = self.path_model.num_bias  # a partial state dict: keep what is not given
        else:
            num_bias = 0  # strict: torch reports the missing beta
        model = PathModel(
            self.in_features, self.structural_features, self.out_features, theta.shape[0],
            num_bias, device=device, dtype=dtype,
        )  # fmt: skip
        if self.path_model is not None and not strict:
            # Tensors a partial state dict leaves out keep their current values where they fit.
            current = self.path_model.state_dict()
            for key, value in model.state_dict().items():
                if key in current and current[key].shape == value.shape:
                    value.copy_(current[key])
        return "path_model", model

    def extra_repr(self) -> str:
        return (
            f"replaces {self.in_features} -> {list(self.hidden_features)} -> {self.out_features}, "
            f"rho={self.rho:.3g}, structure={list(self.structural_features)}, "
            f"budget={self.budget}, phase={self.phase!r}"
            + (", batch_norm=True" if self.batch_norm else "")
        )
