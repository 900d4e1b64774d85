"""glai.fewshot.head: the few-shot head's checkpoints (a resumed fit is the uninterrupted one,
bit for bit), its quantitative solver (iterative ones only) and a registered toy solver."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from glai.fewshot import FewShotHead
from glai.solvers import SOLVERS, Solver
from glai.training.checkpoint import read_checkpoint


def _data(n_classes: int = 8, per: int = 30, dim: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n_classes, dim)) * 2
    y = np.repeat(np.arange(n_classes), per)
    return (centres[y] + rng.normal(size=(len(y), dim))).astype(np.float32), y


def _head(**kwargs: Any) -> FewShotHead:
    settings: dict[str, Any] = {
        "kind": "glai", "n_way": 3, "k_shot": 2, "n_query": 3, "episodes": 60,
        "check_every": 10, "val_tasks": 20, "probe_size": 64, "random_state": 0, **kwargs,
    }  # fmt: skip
    return FewShotHead((16,), 6, **settings)


def _killed_then_resumed(
    monkeypatch: pytest.MonkeyPatch, kill: Callable[[str, int], type[Exception]], path: Path,
    phase: str, at: int, **kwargs: Any,
) -> FewShotHead:
    """A fit interrupted right after the checkpoint of check ``at`` of ``phase``, then a fresh
    head of the same settings fitted again (resuming)."""
    X, y = _data()
    with pytest.raises(kill(phase, at)):
        _head(checkpoint=path, **kwargs).fit(X, y)
    monkeypatch.undo()
    saved = read_checkpoint(path)
    assert saved["phase"] == phase and saved["loop"]["epochs"] == at
    return _head(checkpoint=path, **kwargs).fit(X, y)


@pytest.mark.parametrize(
    ("kind", "phase", "at"),
    [("mlp", "mlp", 2), ("glai", "structural", 3), ("glai", "quantitative", 2)],
)
def test_a_resumed_fit_is_the_uninterrupted_one_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, kill_after_checkpoint: Callable[[str, int], type[Exception]],
    tmp_path: Path, kind: str, phase: str, at: int,
) -> None:
    X, y = _data()
    whole = _head(kind=kind, residual=False).fit(X, y)
    phases = [r.phase for r in whole.history_.records]
    assert phases.count(phase) > at  # the kill falls inside the phase
    resumed = _killed_then_resumed(monkeypatch, kill_after_checkpoint, tmp_path / "head.ckpt",
                                   phase, at, kind=kind, residual=False)  # fmt: skip
    assert np.array_equal(resumed.transform(X), whole.transform(X))
    assert [(r.phase, r.train_loss, r.val_loss, r.val_score) for r in resumed.history_.records] == [
        (r.phase, r.train_loss, r.val_loss, r.val_score) for r in whole.history_.records
    ]
    if kind == "glai":
        assert resumed.path_distance_ == whole.path_distance_
        assert resumed.structure_frozen_epoch_ == whole.structure_frozen_epoch_


def test_a_checkpoint_makes_no_difference_and_a_finished_one_is_the_fit(tmp_path: Path) -> None:
    X, y = _data()
    plain = _head().fit(X, y).transform(X)
    path = tmp_path / "head.ckpt"
    assert np.array_equal(_head(checkpoint=path).fit(X, y).transform(X), plain)
    assert np.array_equal(_head(checkpoint=path).fit(X, y).transform(X), plain)  # resumed at end


def test_a_checkpoint_of_other_settings_or_data_is_refused(tmp_path: Path) -> None:
    X, y = _data()
    path = tmp_path / "head.ckpt"
    _head(checkpoint=path, episodes=20).fit(X, y)
    with pytest.raises(ValueError, match="another configuration.*episodes"):
        _head(checkpoint=path, episodes=30).fit(X, y)
    with pytest.raises(ValueError, match="the training data's content differs"):
        _head(checkpoint=path, episodes=20).fit(X + 1, y)


def test_checkpoint_needs_an_int_random_state(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"checkpoint needs random_state \(an int\), got None"):
        _head(checkpoint=tmp_path / "c", random_state=None).fit(*_data())


def test_candidate_scales_checkpoint_one_file_each(tmp_path: Path) -> None:
    X, y = _data()
    path = tmp_path / "head.ckpt"
    head = _head(checkpoint=path, scale=[5.0, 20.0], episodes=20).fit(X, y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.ckpt.scale0", "head.ckpt.scale1"]
    again = _head(checkpoint=path, scale=[5.0, 20.0], episodes=20).fit(X, y)
    assert again.scale_ == head.scale_
    assert np.array_equal(again.transform(X), head.transform(X))


@pytest.mark.parametrize("name", ["ridge", "ridge-ce", "auto"])
def test_closed_form_solvers_and_auto_are_refused_by_name(name: str) -> None:
    match = f"quant_optimizer={name!r} does not apply to FewShotHead: the prototype loss is not"
    with pytest.raises(ValueError, match=match):
        _head(quant_optimizer=name).fit(*_data())


def test_an_unknown_solver_is_refused_by_the_parameter_check() -> None:
    with pytest.raises(ValueError, match="quant_optimizer"):
        _head(quant_optimizer="newton").fit(*_data())


def test_lbfgs_trains_the_quantitative_phase() -> None:
    X, y = _data()
    head = _head(quant_optimizer="lbfgs", episodes=30, residual=False).fit(X, y)
    quant = [r for r in head.history_.records if r.phase == "quantitative"]
    assert quant and all(np.isfinite(r.train_loss) for r in quant)
    assert head.get_params()["quant_optimizer"] == "lbfgs"
    assert np.isfinite(head.transform(X)).all()


def test_a_registered_toy_solver_trains_the_few_shot_head(monkeypatch: pytest.MonkeyPatch) -> None:
    # one line registers a minibatch solver (plain SGD); the head takes it by name
    def sgd(params: Any, config: Any) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=config.lr)

    monkeypatch.setitem(SOLVERS, "toy-sgd", Solver("toy-sgd", "minibatch", "plain SGD", sgd))
    X, y = _data()
    head = _head(quant_optimizer="toy-sgd", episodes=30, residual=False).fit(X, y)
    before = _head(episodes=30, residual=False).fit(X, y)  # Adam in the quantitative phase
    phases = [r.phase for r in head.history_.records]
    assert "quantitative" in phases
    assert not np.array_equal(head.transform(X), before.transform(X))
