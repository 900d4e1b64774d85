"""glai.training.config: TrainConfig refuses bad values, naming the field."""

from __future__ import annotations

import pytest

from glai.training import TrainConfig


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"optimizer": "sgd"}, "optimizer"),
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_epochs": -1}, "max_epochs"),
    ],
)
def test_train_config_rejects_bad_values(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kwargs)
