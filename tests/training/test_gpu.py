"""device="cuda" in every path: the loop, both GLAI phases, each solver, the estimators.

Marked ``gpu``: skipped (with the reason) where CUDA is absent; run on a GPU machine with
``pytest -m gpu``. Each run is compared with the same run on the CPU.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from glai import GLAIClassifier
from glai.run import RunConfig, fit_head

pytestmark = pytest.mark.gpu

RUN = RunConfig(
    model="glai", hidden=(16,), batch_size=32, max_epochs=6, patience=3, lr=1e-2,
    quant_optimizer="adam",
)  # fmt: skip


def _data(device: str) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, 12, generator=gen)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return [t.to(device) for t in (x[:300], y[:300], x[300:], y[300:])]


@pytest.mark.parametrize(
    "run",
    [
        replace(RUN, model="mlp"),
        RUN,
        replace(RUN, quant_optimizer="ridge"),
        replace(RUN, quant_optimizer="lbfgs", max_epochs=2),
    ],
    ids=["mlp", "glai-adam", "glai-ridge", "glai-lbfgs"],
)
def test_cuda_run_stays_on_the_device_and_matches_the_cpu(run: RunConfig) -> None:
    model, history = fit_head(run, *_data("cuda"))
    assert all(t.is_cuda for t in model.state_dict().values())
    cpu_model, cpu_history = fit_head(run, *_data("cpu"))
    assert [r.phase for r in history.records] == [r.phase for r in cpu_history.records]
    # Same seeds, same minibatches: the first epoch's loss agrees to float rounding.
    assert history.records[0].train_loss == pytest.approx(
        cpu_history.records[0].train_loss, rel=1e-3
    )


def test_estimator_on_cuda_predicts_like_on_the_cpu() -> None:
    x, y, _, _ = (t.cpu().numpy() for t in _data("cpu"))
    kw = dict(hidden_layer_sizes=16, max_iter=5, random_state=0, quant_optimizer="ridge")
    gpu = GLAIClassifier(device="cuda", **kw).fit(x, y)
    cpu = GLAIClassifier(device="cpu", **kw).fit(x, y)
    assert next(gpu.model_.parameters()).is_cuda
    assert np.mean(gpu.predict(x) == cpu.predict(x)) > 0.95
