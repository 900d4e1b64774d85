"""glai.params: one home for every default; the estimators, TrainConfig, RunConfig, the CLI
and the heads all read it, and the docstrings are drawn from it."""

from __future__ import annotations

import inspect
from dataclasses import fields
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import make_constraint

from glai import (
    GLAI,
    GLAIClassifier,
    GLAIRegressor,
    MLPHeadClassifier,
    MLPHeadRegressor,
    fit_projection_head,
    params,
)
from glai.cli import build_parser
from glai.fewshot import FewShotHead
from glai.run import RunConfig, fit_head
from glai.training import TrainConfig

ESTIMATORS = [GLAIClassifier, GLAIRegressor, MLPHeadClassifier, MLPHeadRegressor]


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_estimator_defaults_constraints_and_docs_are_the_params_entries(cls: type) -> None:
    # the heads' entries: scikit-learn's names (params.head_spec), then the deprecated old
    # names, whose default is the marker DEPRECATED
    est = cls()
    doc = cls.__doc__ or ""
    for name, value in est.get_params().items():
        constraints = cls._parameter_constraints[name]
        if name in ("max_epochs", "patience"):  # aliases of max_iter, n_iter_no_change
            assert value == params.DEPRECATED, name
            assert any(make_constraint(c).is_satisfied_by(value) for c in constraints), name
            assert f"    {name} : " in doc and "default='deprecated'" in doc, name
            continue
        entry = params.head_spec(name)
        assert value == entry.default, name
        # learning_rate also takes a float (hidden): the deprecated learning_rate_init
        assert constraints[: len(entry.constraints)] == list(entry.constraints), name
        # numpydoc: "name : type, default=..." then the entry's paragraph
        assert f"    {name} : {entry.type}, default=" in doc, name
    assert "Parameters\n    ----------" in doc


def test_the_fewshot_head_reads_params_with_its_own_meanings() -> None:
    got = FewShotHead().get_params()
    for name, value in got.items():
        expected = params.fewshot_spec(name).default
        assert value == expected, name
    assert got["patience"] == 5 and got["validation_fraction"] == 0.2  # checks; of classes
    assert got["out_features"] is None  # the input width (issue 17: residual start)
    assert got["probe_size"] == params.PARAMS["probe_size"].default
    assert "patience : int or None, default=5" in (FewShotHead.__doc__ or "")


def test_train_config_and_run_config_defaults_come_from_params() -> None:
    d = params.defaults()
    config = TrainConfig()
    assert (config.optimizer, config.lr, config.max_epochs, config.patience) == (
        d["optimizer"], d["learning_rate"], d["max_epochs"], d["patience"]
    )  # fmt: skip
    assert config.batch_size == params.AUTO_BATCH_SIZE and config.alphas == d["alphas"]
    run = RunConfig()
    assert run.quant_optimizer == "auto" == d["quant_optimizer"]  # was "adam" before the fix
    assert run.batch_size == "auto" and run.probe_size == d["probe_size"] == 2048
    assert run.train_config(100).batch_size == 100  # auto: min(256, n)
    assert run.train_config(10_000).batch_size == 256


def test_the_ssl_head_and_the_block_use_the_same_defaults() -> None:
    sig = inspect.signature(fit_projection_head).parameters
    assert sig["probe_size"].default == params.PARAMS["probe_size"].default  # was 1024
    assert sig["temperature"].default == params.PARAMS["temperature"].default
    block = inspect.signature(GLAI).parameters
    for name in ("rho", "budget", "prune_dead"):
        assert block[name].default == params.PARAMS[name].default, name


def test_the_cli_offers_every_library_default_auto_included() -> None:
    args = build_parser().parse_args(["train", "data.npz"])
    d = params.defaults()
    assert args.quant_optimizer == "auto" and args.batch_size == "auto"
    assert args.val_fraction == "auto" and args.rho == "auto"
    assert (args.lr, args.epochs, args.patience, args.tol, args.probe_size) == (
        d["learning_rate"], d["max_epochs"], d["patience"], d["tol"], d["probe_size"]
    )  # fmt: skip
    assert args.hidden == list(d["hidden_layer_sizes"])
    args = build_parser().parse_args(["train", "d", "--batch-size", "32", "--val-fraction", "0.2"])
    assert args.batch_size == 32 and args.val_fraction == 0.2
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "d", "--batch-size", "big"])


def test_the_auto_rules() -> None:
    assert params.resolve_batch_size("auto", 90) == 90
    assert params.resolve_batch_size("auto", 5000) == params.AUTO_BATCH_SIZE
    assert params.resolve_batch_size(64, 10) == 64
    assert params.holdout_fraction("auto", 1999) == 0.0
    assert params.holdout_fraction("auto", 2000) == params.AUTO_VALIDATION_FRACTION
    assert params.holdout_fraction(0.3, 10) == 0.3
    assert params.quant_learning_rate(3e-3, None) == pytest.approx(1e-3)
    assert params.quant_learning_rate(3e-3, 5e-4) == 5e-4
    assert params.check_every("auto", 101 * 256, 256) == params.AUTO_CHECK_STEPS
    assert params.check_every("auto", 100 * 256, 256) is None
    assert params.check_every(7, 10, 1) == 7


class _Renamed(BaseEstimator):
    """A toy estimator with a renamed parameter: the new name, and the old one deprecated."""

    _parameter_constraints: dict[str, list[Any]] = {}

    def __init__(self, new_rate: float = 1e-3, old_rate: Any = params.DEPRECATED) -> None:
        self.new_rate = new_rate
        self.old_rate = old_rate


def test_a_renamed_parameter_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = params.Param(
        "new_rate", 1e-3, tuple(params.PARAMS["learning_rate"].constraints), "float",
        "A rate.", aliases=("old_rate",),
    )  # fmt: skip
    monkeypatch.setitem(params.PARAMS, "new_rate", entry)
    c = params.constraints("new_rate")
    assert set(c) == {"new_rate", "old_rate"}
    doc = params.numpydoc("new_rate")
    assert "old_rate : float, default='deprecated'" in doc and "old name of ``new_rate``" in doc
    assert "Deprecated in glai 0.2, removed in 0.3" in doc
    assert params.resolve_aliases(_Renamed(new_rate=0.5)) == {"new_rate": 0.5}
    with pytest.warns(FutureWarning, match="old_rate is deprecated.*use new_rate=0.25"):
        assert params.resolve_aliases(_Renamed(old_rate=0.25)) == {"new_rate": 0.25}
    with pytest.raises(ValueError, match="both set"):
        params.resolve_aliases(_Renamed(new_rate=0.5, old_rate=0.25))
    # an alias may convert the old value (patience=p is n_iter_no_change=p - 1)
    halved = params.Param(
        "new_rate", 1e-3, tuple(params.PARAMS["learning_rate"].constraints), "float",
        "A rate.", aliases=(params.Alias("old_rate", lambda v: v / 2),),
    )  # fmt: skip
    monkeypatch.setitem(params.PARAMS, "new_rate", halved)
    with pytest.warns(FutureWarning, match="use new_rate=0.125"):
        assert params.resolve_aliases(_Renamed(old_rate=0.25)) == {"new_rate": 0.125}


def test_fit_head_without_validation_data_holds_nothing_out() -> None:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(120, 4, generator=gen)
    y = (X[:, 0] > 0).long()
    config = RunConfig(model="glai", hidden=(8,), max_epochs=5, probe_size=64)
    model, history = fit_head(config, X, y)
    # "auto" means Adam with nothing held out; the score is minus the training loss
    assert history.choices.get("quant_optimizer") is None
    assert {r.phase for r in history.records} == {"structural", "quantitative"}
    assert all(r.val_score == pytest.approx(-r.val_loss) for r in history.records)
    with pytest.raises(ValueError, match="X_val was given without y_val"):
        fit_head(config, X, y, X_val=X)


def test_cli_auto_val_fraction_holds_out_nothing_below_2000_rows(tmp_path: Any) -> None:
    from glai.cli import load_features

    X = np.random.default_rng(0).normal(size=(150, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", X=X, y=(X[:, 0] > 0).astype(np.int64))
    small = load_features(str(tmp_path / "d.npz"), "auto", 0, 0, 1)
    assert "X_val" not in small and len(small["X"]) == 150
    split = load_features(str(tmp_path / "d.npz"), 0.2, 0, 0, 1)
    assert len(split["X_val"]) == 30 and len(split["X"]) == 120


def test_run_config_fields_all_have_a_params_default_or_a_reason() -> None:
    own = {"model": "kind", "hidden": "hidden_layer_sizes", "lr": "learning_rate",
           "quant_lr": "quant_learning_rate"}  # fmt: skip
    run = RunConfig()
    for f in fields(RunConfig):
        name = own.get(f.name, f.name)
        if f.name == "seed":  # an int seed, where the estimators take random_state
            continue
        assert getattr(run, f.name) == params.PARAMS[name].default, f.name
