"""The plain ReLU MLP: GLAI's structural network and the baseline it replaces."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from numbers import Integral
from typing import cast

import numpy as np
import torch
from torch import nn

__all__ = [
    "MLP",
    "BatchNormMLP",
    "as_widths",
    "check_features",
    "gating_forward",
    "mlp_num_params",
]

HiddenMap = Callable[[torch.Tensor], torch.Tensor]  # h_{l-1} [N, n_{l-1}] -> z_l [N, n_l]


def gating_forward(
    x: torch.Tensor, hidden_maps: Sequence[HiddenMap]
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The hidden layers of a ReLU network: ``h_0 = x``, ``z_l = a_l(h_{l-1})``,
    ``h_l = relu(z_l)`` for ``l = 1 .. L-1``.

    The one place this recursion is written: :class:`MLP` (its forward pass and its
    pre-activations), :class:`BatchNormMLP` and the frozen gating network of
    :class:`~glai.path_model.PathModel` all run it.

    Args:
        x: inputs ``[N, n_0]``.
        hidden_maps: ``a_1 .. a_{L-1}``, e.g. ``a_l(h) = W_l h + b_l``.

    Returns:
        ``([z_1, ..., z_{L-1}], h_{L-1})``; with no hidden layer, ``([], x)``.
    """
    pre_activations = []
    h = x
    for hidden_map in hidden_maps:
        z = hidden_map(h)
        pre_activations.append(z)
        h = torch.relu(z)
    return pre_activations, h


def check_features(name: str, value: object) -> int:
    """``value`` if it is a positive int (not a bool), else a ValueError naming ``name``."""
    if not _is_int(value) or value < 1:  # type: ignore[operator]
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def _is_int(value: object) -> bool:
    """An integer (Python or numpy, as scikit-learn's validation accepts), not a bool."""
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def as_widths(
    hidden_features: int | Sequence[int], name: str = "hidden_features"
) -> tuple[int, ...]:
    """Normalise ``hidden_features`` (an int, a sequence of ints or a 1-d integer array; numpy
    integers included) to a tuple of Python ints."""
    if isinstance(hidden_features, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int or a sequence of ints, got a bool")
    if _is_int(hidden_features):
        items: tuple[object, ...] = (hidden_features,)
    elif isinstance(hidden_features, np.ndarray) and hidden_features.ndim == 1:
        items = tuple(hidden_features.tolist())
    elif isinstance(hidden_features, Sequence) and not isinstance(hidden_features, str):
        items = tuple(hidden_features)
    else:
        raise TypeError(
            f"{name} must be an int or a sequence of ints, got {type(hidden_features).__name__}"
        )
    for w in items:
        if not _is_int(w) or w < 1:  # type: ignore[operator]
            raise ValueError(f"{name} must hold positive ints, got {items!r}")
    return tuple(int(w) for w in items)  # type: ignore[call-overload]


def mlp_num_params(
    in_features: int,
    hidden_features: int | Sequence[int],
    out_features: int,
    *,
    batch_norm: bool = False,
) -> int:
    """Weights and biases of the MLP ``in_features -> hidden_features -> out_features``.

    With ``batch_norm`` (a :class:`BatchNormMLP`) each hidden layer has no bias but a
    BatchNorm scale and shift: ``n_l`` more parameters per hidden layer.
    """
    widths = as_widths(hidden_features)
    sizes = (in_features, *widths, out_features)
    plain = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    return plain + (sum(widths) if batch_norm else 0)


class MLP(nn.Module):
    """ReLU MLP ``f(x) = W_L relu(... relu(W_1 x + b_1) ...) + b_L``.

    Args:
        in_features: input width ``n_0``.
        hidden_features: hidden widths ``n_1 .. n_{L-1}`` (an int for one hidden layer).
        out_features: output width ``n_L``.
        device, dtype: where and in what the parameters live. They are initialised on the
            CPU whatever ``device`` is (``nn.Linear``'s default init, drawn from torch's CPU
            generator), so one seed gives the same network on every device.

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
        # Initialised on the CPU, from torch's CPU generator, then moved to ``device``: the
        # seed alone decides the initial weights, the same on a GPU as on the CPU (built on a
        # GPU they would come from that GPU's generator, another stream of numbers).
        self.layers = nn.ModuleList(
            nn.Linear(a, b, dtype=dtype).to(device) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self._add_layers(device, dtype)

    def _add_layers(self, device: torch.device | str | None, dtype: torch.dtype | None) -> None:
        """Where a subclass adds its own layers, after the linear ones (same arguments, so the
        subclass needs no ``__init__`` of its own): none here; see :class:`BatchNormMLP`."""

    @property
    def linears(self) -> list[nn.Linear]:
        """``[layer 1, ..., layer L]`` as ``nn.Linear`` (:attr:`layers`, typed)."""
        return [cast(nn.Linear, layer) for layer in self.layers]

    @property
    def depth(self) -> int:
        """Number of linear layers ``L``."""
        return len(self.layers)

    def hidden_maps(self) -> list[HiddenMap]:
        """``a_l(h) = W_l h + b_l`` of the hidden layers (see :func:`gating_forward`)."""
        return list(self.layers[:-1])

    def pre_activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[z_1, ..., z_{L-1}]``, each ``[N, n_l]``: the inputs of the hidden ReLUs."""
        return gating_forward(x, self.hidden_maps())[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[-1](gating_forward(x, self.hidden_maps())[1])

    def folded(self) -> MLP:
        """The plain :class:`MLP` computing what this network computes in eval mode: itself.

        :func:`glai.freeze` reads the affine maps of the folded network, so subclasses with
        normalisation layers override this (see :class:`BatchNormMLP`).
        """
        return self

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {list(self.hidden_features)} -> {self.out_features}"


def _normalised(linear: nn.Module, norm: nn.Module, h: torch.Tensor) -> torch.Tensor:
    return norm(linear(h))


class BatchNormMLP(MLP):
    """ReLU MLP with BatchNorm before each hidden ReLU (the SimCLR projection head's shape).

    ``z_l = BN_l(W_l h_{l-1})``, ``h_l = relu(z_l)`` for ``l < L``; ``f(x) = W_L h_{L-1} + b_L``.
    Hidden linear layers have no bias: BatchNorm's shift ``beta_l`` takes its place (as in
    lightly's ``SimCLRProjectionHead``). ``BN_l(u) = gamma_l (u - mu_l) / sqrt(var_l + eps)
    + beta_l`` with batch statistics in training mode and running ones in eval mode.

    Shapes: ``x: [N, n_0] -> [N, n_L]``. ``self.norms[l - 1]`` is hidden layer ``l``'s BatchNorm.
    """

    def _add_layers(self, device: torch.device | str | None, dtype: torch.dtype | None) -> None:
        """No bias in the hidden linear layers; one BatchNorm per hidden layer."""
        for layer in self.linears[:-1]:
            layer.bias = None  # type: ignore[assignment]
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(w, device=device, dtype=dtype) for w in self.hidden_features
        )

    @property
    def batch_norms(self) -> list[nn.BatchNorm1d]:
        """``[BN_1, ..., BN_{L-1}]`` (:attr:`norms`, typed)."""
        return [cast(nn.BatchNorm1d, norm) for norm in self.norms]

    def hidden_maps(self) -> list[HiddenMap]:
        """``a_l(h) = BN_l(W_l h)`` of the hidden layers (see :func:`gating_forward`)."""
        return [
            partial(_normalised, layer, norm) for layer, norm in zip(self.layers[:-1], self.norms)
        ]

    @torch.no_grad()
    def folded(self) -> MLP:
        """A new plain :class:`MLP` equal to this network in eval mode (BatchNorm folded in).

        With ``s_l = gamma_l / sqrt(var_l + eps)`` (running statistics),
        ``BN_l(W_l h) = (s_l * W_l) h + (beta_l - s_l * mu_l)``, so layer ``l`` of the plain MLP
        has weight ``diag(s_l) W_l`` and bias ``beta_l - s_l mu_l``.
        """
        ref = self.linears[0].weight
        mlp = MLP(
            self.in_features, self.hidden_features, self.out_features,
            device=ref.device, dtype=ref.dtype,
        )  # fmt: skip
        for src, norm, dst in zip(self.linears[:-1], self.batch_norms, mlp.linears[:-1]):
            if norm.running_mean is None or norm.running_var is None:
                raise ValueError("BatchNorm without running statistics cannot be folded")
            scale = torch.rsqrt(norm.running_var + norm.eps)
            shift = -norm.running_mean * scale
            if norm.affine:
                scale, shift = scale * norm.weight, shift * norm.weight + norm.bias
            dst.weight.copy_(scale[:, None] * src.weight)
            dst.bias.copy_(shift)
        mlp.linears[-1].load_state_dict(self.linears[-1].state_dict())
        return mlp
