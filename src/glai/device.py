"""Where training runs: the device from a user's string, and honest clocks on CUDA."""

from __future__ import annotations

import torch

__all__ = ["is_device", "resolve_device", "synchronize"]


def is_device(device: object) -> bool:
    """Whether ``device`` names a device: None, ``"auto"``, a ``torch.device`` or a string
    torch parses (``"cpu"``, ``"cuda:1"``). Whether it is there is :func:`resolve_device`'s
    question."""
    if device is None or device == "auto" or isinstance(device, torch.device):
        return True
    if not isinstance(device, str):
        return False
    try:
        torch.device(device)
    except (RuntimeError, ValueError):
        return False
    return True


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None: CUDA when available, else CPU; otherwise ``torch.device(device)``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not is_device(device):
        raise ValueError(
            f"device must be 'auto', None, a torch.device or a device string such as 'cpu' or "
            f"'cuda:0', got {device!r}"
        )
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available")
    return dev


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so that a wall-clock reading includes it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
