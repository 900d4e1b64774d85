"""NT-Xent, SimCLR's contrastive loss (Chen et al., 2020, arXiv:2002.05709)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from glai import params

__all__ = ["nt_xent_loss"]

_TAU = params.PARAMS["temperature"].default


def _nt_xent_per_pair(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent of each pair ``[B]``: the mean of its two anchors' terms (unchecked inputs)."""
    b = z1.shape[0]
    u = F.normalize(torch.cat([z1, z2]), dim=1)  # [2B, d]
    sim = u @ u.t() / temperature  # [2B, 2B]
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=sim.device), -math.inf)
    positive = torch.cat([torch.arange(b, 2 * b), torch.arange(b)]).to(sim.device)
    per_anchor = F.cross_entropy(sim, positive, reduction="none")  # [2B]
    return (per_anchor[:b] + per_anchor[b:]) / 2


def nt_xent_loss(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float = _TAU
) -> torch.Tensor:
    """NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (arXiv:2002.05709).

    With ``u_1 .. u_{2B}`` the L2-normalised rows of ``[z1; z2]``, ``s_ij = u_i . u_j / tau``
    and ``pos(i)`` the other view of anchor ``i`` (``i +- B``)::

        l_i = -log( exp(s_{i,pos(i)}) / sum_{j != i} exp(s_ij) ),    loss = mean_i l_i

    Args:
        z1, z2: embeddings ``[B, d]`` of the two views; row ``i`` of each is the same image.
        temperature: ``tau > 0``.

    Returns:
        the scalar loss (a 0-d tensor).
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    for name, z in (("z1", z1), ("z2", z2)):
        if z.ndim != 2 or z.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty [B, d] tensor, got {tuple(z.shape)}")
        if not bool(torch.isfinite(z).all()):
            raise ValueError(f"{name} holds NaN or infinite values")
    if z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must hold the same images' views, shape [B, d] each: "
            f"got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    return _nt_xent_per_pair(z1, z2, float(temperature)).mean()
