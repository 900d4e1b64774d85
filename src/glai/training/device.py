"""Where training runs: the device from a user's string, and honest clocks on CUDA."""

from __future__ import annotations

import torch

__all__ = ["resolve_device", "synchronize"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None: CUDA when available, else CPU; otherwise ``torch.device(device)``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available")
    return dev


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so that a wall-clock reading includes it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
