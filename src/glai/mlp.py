"""The plain ReLU MLP: GLAI's structural network and the baseline it replaces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

__all__ = ["MLP", "as_widths", "check_features", "mlp_num_params"]


def check_features(name: str, value: object) -> int:
    """``value`` if it is a positive int (not a bool), else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def as_widths(
    hidden_features: int | Sequence[int], name: str = "hidden_features"
) -> tuple[int, ...]:
    """Normalise ``hidden_features`` (an int or a sequence of ints) to a tuple of widths."""
    if isinstance(hidden_features, bool):
        raise TypeError(f"{name} must be an int or a sequence of ints, got a bool")
    if isinstance(hidden_features, int):
        widths: tuple[int, ...] = (hidden_features,)
    elif isinstance(hidden_features, Sequence) and not isinstance(hidden_features, str):
        widths = tuple(hidden_features)
    else:
        raise TypeError(
            f"{name} must be an int or a sequence of ints, got {type(hidden_features).__name__}"
        )
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ValueError(f"{name} must hold positive ints, got {widths!r}")
    return widths


def mlp_num_params(
    in_features: int, hidden_features: int | Sequence[int], out_features: int
) -> int:
    """Weights and biases of the MLP ``in_features -> hidden_features -> out_features``."""
    sizes = (in_features, *as_widths(hidden_features), out_features)
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


class MLP(nn.Module):
    """ReLU MLP ``f(x) = W_L relu(... relu(W_1 x + b_1) ...) + b_L``.

    Args:
        in_features: input width ``n_0``.
        hidden_features: hidden widths ``n_1 .. n_{L-1}`` (an int for one hidden layer).
        out_features: output width ``n_L``.

    Shapes: ``x: [N, n_0] -> [N, n_L]``. Layer ``l`` is ``self.layers[l - 1]`` (an ``nn.Linear``).
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int | Sequence[int],
        out_features: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_features("in_features", in_features)
        check_features("out_features", out_features)
        self.in_features = in_features
        self.hidden_features = as_widths(hidden_features)
        self.out_features = out_features
        sizes = (in_features, *self.hidden_features, out_features)
        self.layers = nn.ModuleList(
            nn.Linear(a, b, device=device, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:])
        )

    @property
    def linears(self) -> list[nn.Linear]:
        """``[layer 1, ..., layer L]`` as ``nn.Linear`` (:attr:`layers`, typed)."""
        return [cast(nn.Linear, layer) for layer in self.layers]

    @property
    def depth(self) -> int:
        """Number of linear layers ``L``."""
        return len(self.layers)

    def pre_activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[z_1, ..., z_{L-1}]``, each ``[N, n_l]``: the inputs of the hidden ReLUs."""
        zs = []
        h = x
        for layer in self.layers[:-1]:
            z = layer(h)
            zs.append(z)
            h = torch.relu(z)
        return zs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
        return self.layers[-1](h)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {list(self.hidden_features)} -> {self.out_features}"
