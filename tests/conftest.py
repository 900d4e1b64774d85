"""Shared test set-up: fixed seeds for every test, the ``gpu`` marker's skip, and a run killed
right after one of its checkpoints (``kill_after_checkpoint``)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

SEED = 0


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Seed torch, numpy and random before every test, so each test runs alone or in any order
    with the same numbers."""
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)


class _Killed(Exception):
    """A run stopped by :func:`kill_after_checkpoint`."""


@pytest.fixture
def kill_after_checkpoint(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, int], type[Exception]]:
    """``kill_after_checkpoint(phase, at)`` patches ``Checkpoint.save`` to write as usual and
    then raise, right after the checkpoint of check ``at`` of ``phase`` (a run killed there);
    it returns the exception to expect. ``monkeypatch.undo()`` restores ``save``."""
    from glai.training.checkpoint import Checkpoint

    save = Checkpoint.save

    def arm(phase: str, at: int) -> type[Exception]:
        def save_then_die(self: Checkpoint, ph: str, loop: dict[str, Any], history: Any) -> None:
            save(self, ph, loop, history)
            if ph == phase and loop["epochs"] == at:
                raise _Killed

        monkeypatch.setattr(Checkpoint, "save", save_then_die)
        return _Killed

    return arm


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``@pytest.mark.gpu`` are skipped, with the reason, where CUDA is absent."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
