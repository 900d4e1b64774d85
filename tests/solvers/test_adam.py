"""glai.solvers.adam: the fused Adam step is Adam's update."""

from __future__ import annotations

import torch

from glai.solvers import adam
from glai.training import TrainConfig


def test_adam_is_fused_on_the_cpu_and_takes_adams_steps() -> None:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(7, 5))
    ref = torch.nn.Parameter(w.detach().clone())
    opt = adam.make_optimizer([w], TrainConfig(lr=1e-2, weight_decay=1e-3))
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["fused"] is True
    plain = torch.optim.Adam([ref], lr=1e-2, weight_decay=1e-3, foreach=False)
    x = torch.randn(11, 7)
    for _ in range(5):
        for p, o in ((w, opt), (ref, plain)):
            o.zero_grad()
            (x @ p).square().mean().backward()
            o.step()
    torch.testing.assert_close(w.detach(), ref.detach())
    assert not torch.equal(w.detach(), torch.zeros_like(w))


def test_adam_is_fused_for_double_parameters_too() -> None:
    opt = adam.make_optimizer([torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))],
                              TrainConfig())  # fmt: skip
    assert opt.defaults["fused"] is True
