"""SimCLR projection heads: GLAI's, and the MLP it replaces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from glai.block import GLAI
from glai.mlp import MLP, BatchNormMLP

__all__ = ["GLAIProjectionHead", "ProjectionHead"]


class GLAIProjectionHead(GLAI):
    """A :class:`~glai.block.GLAI` block as a SimCLR projection head.

    Replaces the head ``in_features -> hidden_features -> out_features``. With ``batch_norm``
    the structural network is a :class:`~glai.mlp.BatchNormMLP` (Linear-BatchNorm-ReLU, then
    Linear); :meth:`freeze_structure` folds BatchNorm's running statistics into the affine maps
    before the paths are built, so in eval mode the head computes the same embeddings just
    before and just after the switch. Everything else (``phase``, ``gates``, the state dict in
    either phase) is the block's.

    ``budget="match"`` is the parameter count of the MLP head it replaces, BatchNorm
    included (:func:`~glai.mlp.mlp_num_params` with ``batch_norm``).

    Shapes: ``x: [N, n_0] -> z: [N, n_L]``.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int | Sequence[int],
        out_features: int,
        *,
        batch_norm: bool = True,
        rho: float | str = "auto",
        budget: int | str | None = "match",
        prune_dead: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            in_features, hidden_features, out_features, rho=rho, budget=budget,
            prune_dead=prune_dead, batch_norm=batch_norm, device=device, dtype=dtype,
        )  # fmt: skip


def ProjectionHead(  # named as the class it builds; `kind` picks that class
    in_features: int,
    hidden_features: int | Sequence[int],
    out_features: int,
    *,
    kind: str = "glai",
    batch_norm: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    **glai_options: Any,
) -> MLP | GLAIProjectionHead:
    """A SimCLR projection head ``h: [N, in_features] -> z: [N, out_features]``.

    Args:
        in_features, hidden_features, out_features: the head's widths (``hidden_features``: an
            int or a sequence of ints, one per hidden layer).
        kind: ``"mlp"``: a :class:`~glai.mlp.BatchNormMLP` (lightly's SimCLR head:
            Linear-BatchNorm-ReLU, then Linear) or, with ``batch_norm=False``, a plain
            :class:`~glai.mlp.MLP` (solo-learn's Linear-ReLU-Linear). ``"glai"``: a
            :class:`GLAIProjectionHead` replacing that MLP at the same parameter count.
        batch_norm: BatchNorm before each hidden ReLU.
        **glai_options: the further arguments of :class:`GLAIProjectionHead` (``rho``,
            ``budget``, ``prune_dead``; its defaults where not given), ``kind="glai"`` only.
    """
    if kind == "mlp":
        if glai_options:
            raise ValueError(
                f"{', '.join(glai_options)}: kind='mlp' takes batch_norm, device and dtype; "
                "the GLAI head's arguments (rho, budget, prune_dead) apply to kind='glai' only"
            )
        mlp = BatchNormMLP if batch_norm else MLP
        return mlp(in_features, hidden_features, out_features, device=device, dtype=dtype)
    if kind == "glai":
        return GLAIProjectionHead(
            in_features, hidden_features, out_features, batch_norm=batch_norm, device=device,
            dtype=dtype, **glai_options,
        )  # fmt: skip
    raise ValueError(f"kind must be 'glai' or 'mlp', got {kind!r}")
