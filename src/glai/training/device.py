"""Where training runs: re-exported from :mod:`glai.device` (its home since the re-layout, so
that :mod:`glai.params` below :mod:`glai.training` can check device arguments)."""

from glai.device import is_device, resolve_device, synchronize

__all__ = ["is_device", "resolve_device", "synchronize"]
