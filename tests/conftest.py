"""Shared test set-up: fixed seeds for every test, and the ``gpu`` marker's skip."""

from __future__ import annotations

import random

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``@pytest.mark.gpu`` are skipped, with the reason, where CUDA is absent."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
