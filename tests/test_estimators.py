"""glai.estimators: scikit-learn's checks, fitted attributes, validation data, sample weights,
pickling, a sanity score on digits, and every bad input."""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from glai import (
    GLAIClassifier,
    GLAIRegressor,
    MLPHeadClassifier,
    MLPHeadRegressor,
    PathModel,
    StopRule,
)
from glai.training import History, TrainConfig

# A larger step than the default: sklearn's checks fit tiny data sets for at most 30 epochs.
SMALL = {"hidden_layer_sizes": 16, "max_iter": 30, "learning_rate_init": 1e-2, "random_state": 0}
CLASSIFIERS = [GLAIClassifier, MLPHeadClassifier]
ALL = [GLAIClassifier, GLAIRegressor, MLPHeadClassifier, MLPHeadRegressor]


def _expected_failed_checks(estimator: BaseEstimator) -> dict[str, str]:
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "minibatch Adam with a random validation split is not equivalent to repeating "
            "samples (the batches and the split change); sklearn's own SGD-trained "
            "MLPClassifier is in the same situation. The full-batch equivalence is tested in "
            "test_training.py::test_sample_weight_is_a_weighted_mean_of_the_loss"
        )
    }


# scikit-learn 1.6 (glai's floor, `make test-min-versions`) has no xfail_strict: there the
# expected failure above is not strict.
_STRICT = (
    {"xfail_strict": True}
    if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters
    else {}
)


@parametrize_with_checks(
    [cls(**SMALL) for cls in ALL],
    expected_failed_checks=_expected_failed_checks,
    **_STRICT,
)
def test_sklearn_compatible(
    estimator: BaseEstimator, check: Callable[[BaseEstimator], Any]
) -> None:
    check(estimator)


# -- data ------------------------------------------------------------------------------------


def _blobs(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=n, centers=3, n_features=4, cluster_std=2.0, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _regression(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    X = rng.randn(n, 4)
    y = np.c_[np.abs(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 3]]
    return X, y


# -- fitted attributes -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_fitted_attributes_of_the_classifiers(cls: type) -> None:
    X, y = _blobs()
    labels = np.array(["a", "b", "c"])[y]
    clf = cls(**SMALL).fit(X, labels)
    assert list(clf.classes_) == ["a", "b", "c"]
    assert clf.n_features_in_ == 4
    assert isinstance(clf.history_, History) and clf.history_.records
    assert clf.n_trainable_params_ == sum(p.numel() for p in clf.model_.parameters())
    # 300 samples: no hold-out by default (validation_fraction="auto"), so no validation score
    assert clf.best_validation_score_ is None
    assert clf.fit_seconds_ == clf.history_.records[-1].seconds > 0
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= {"a", "b", "c"}
    assert clf.score(X, labels) > 0.8


def test_fitted_attributes_of_glai() -> None:
    X, y = _blobs()
    clf = GLAIClassifier(**SMALL).fit(X, y)
    assert isinstance(clf.path_model_, PathModel)
    assert clf.path_model_ is clf.model_.path_model
    assert clf.model_.phase == "quantitative"
    frozen = clf.structure_frozen_epoch_
    assert frozen == sum(r.phase == "structural" for r in clf.history_.records) >= 1
    assert clf.path_distance_ == [r.path_distance for r in clf.history_.records[:frozen]]
    # only the paths are trained after the freeze, within the matched budget
    assert clf.n_trainable_params_ == sum(p.numel() for p in clf.path_model_.parameters())
    assert clf.n_trainable_params_ <= clf.model_.budget


def test_regressors_predict_the_shape_of_y() -> None:
    X, y = _regression()
    for cls in (GLAIRegressor, MLPHeadRegressor):
        two = cls(**SMALL).fit(X, y)
        assert two.predict(X).shape == (200, 2)
        one = cls(**SMALL).fit(X, y[:, 0])
        assert one.predict(X).shape == (200,)
        assert one.score(X, y[:, 0]) > 0.5


def test_glai_best_validation_score_is_that_of_the_fitted_model() -> None:
    # A budget that prunes most paths of a deep structure, and a quantitative phase too short
    # and too slow to recover: the returned model is much worse than the structural network.
    X, y = load_digits(return_X_y=True)
    X = X / 16
    clf = GLAIClassifier(
        [32, 32], rho=1, budget=3000, max_iter=2, learning_rate_init=1e-2,
        quant_learning_rate=1e-6, structure_rule=StopRule("epochs", epochs=15, min_epochs=0),
        random_state=0,
    )  # fmt: skip
    clf.fit(X[:1200], y[:1200], X_val=X[1200:], y_val=y[1200:])
    assert clf.best_validation_score_ == pytest.approx(clf.score(X[1200:], y[1200:]), abs=1e-6)


# -- validation data, sample weights ---------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_fit_with_explicit_validation_data(cls: type) -> None:
    X, y = _blobs()
    X_val, y_val = _blobs(90, seed=1)
    a = cls(**SMALL, validation_fraction=0.1).fit(X, y, X_val=X_val, y_val=y_val)
    b = cls(**SMALL, validation_fraction=0.4).fit(X, y, X_val=X_val, y_val=y_val)
    # with X_val given every training sample is used, whatever validation_fraction says
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    # the best epoch was scored on X_val, and its parameters were kept
    assert a.best_validation_score_ == pytest.approx(a.score(X_val, y_val), abs=1e-6)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_zero_sample_weight_on_a_class_changes_the_predictions(cls: type) -> None:
    X, y = _blobs()
    plain = cls(**SMALL).fit(X, y)
    weight = np.where(y == 2, 0.0, 1.0)
    weighted = cls(**SMALL).fit(X, y, sample_weight=weight)
    on_class_2 = y == 2
    assert (plain.predict(X[on_class_2]) == 2).mean() > 0.7
    assert (weighted.predict(X[on_class_2]) == 2).mean() < 0.3
    assert list(weighted.classes_) == [0, 1, 2]  # the class is still known
    ones = cls(**SMALL).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_allclose(ones.predict_proba(X), plain.predict_proba(X), atol=1e-6)


def test_same_random_state_gives_the_same_history() -> None:
    X, y = _blobs()
    a, b = GLAIClassifier(**SMALL).fit(X, y), GLAIClassifier(**SMALL).fit(X, y)
    assert [r.val_score for r in a.history_.records] == [r.val_score for r in b.history_.records]
    assert [r.train_loss for r in a.history_.records] == [r.train_loss for r in b.history_.records]


def test_glai_classifier_with_lbfgs_in_the_quantitative_phase() -> None:
    X, y = _blobs()
    clf = GLAIClassifier(**SMALL, quant_optimizer="lbfgs", quant_learning_rate=1.0).fit(X, y)
    quant = [r for r in clf.history_.records if r.phase == "quantitative"]
    assert quant and quant[-1].train_loss <= quant[0].train_loss
    assert clf.score(X, y) > 0.8


# -- persistence -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL)
def test_pickle_and_joblib_round_trip(cls: type, tmp_path: Any) -> None:
    X, y = _blobs()
    est = cls(**SMALL).fit(X, y)
    out = est.predict_proba if hasattr(est, "predict_proba") else est.predict
    expected = out(X)
    again = pickle.loads(pickle.dumps(est))
    again_out = again.predict_proba if hasattr(again, "predict_proba") else again.predict
    np.testing.assert_array_equal(again_out(X), expected)
    joblib.dump(est, tmp_path / "est.joblib")
    loaded = joblib.load(tmp_path / "est.joblib")
    loaded_out = loaded.predict_proba if hasattr(loaded, "predict_proba") else loaded.predict
    np.testing.assert_array_equal(loaded_out(X), expected)
    # a clone is unfitted and refits to the same model (random_state fixed)
    refit = clone(est).fit(X, y)
    refit_out = refit.predict_proba if hasattr(refit, "predict_proba") else refit.predict
    np.testing.assert_array_equal(refit_out(X), expected)


# -- accuracy sanity -------------------------------------------------------------------------


def test_digits_accuracy() -> None:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    kwargs = {
        "hidden_layer_sizes": 64, "max_iter": 30, "learning_rate_init": 1e-2, "random_state": 0
    }  # fmt: skip
    glai_clf = GLAIClassifier(**kwargs).fit(X_train, y_train)
    mlp_clf = MLPHeadClassifier(**kwargs).fit(X_train, y_train)
    assert glai_clf.score(X_test, y_test) > 0.9
    assert mlp_clf.score(X_test, y_test) > 0.9
    # equal parameter budgets: GLAI trains no more parameters than the MLP it replaces
    assert glai_clf.n_trainable_params_ <= mlp_clf.n_trainable_params_


# -- bad input -------------------------------------------------------------------------------

X_OK, Y_OK = _blobs(60)


def _fit_raises(est: BaseEstimator, match: str, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(ValueError, match=match):
        est.fit(*args, **kwargs)


@pytest.mark.parametrize("cls", ALL)
def test_nan_and_inf_in_x(cls: type) -> None:
    for bad in (np.nan, np.inf):
        X = X_OK.copy()
        X[3, 1] = bad
        _fit_raises(cls(**SMALL), r"Input X contains (NaN|infinity)", X, Y_OK)


@pytest.mark.parametrize("cls", ALL)
def test_wrong_dimensions_and_empty_data(cls: type) -> None:
    _fit_raises(cls(**SMALL), "Expected 2D array, got 1D array", X_OK[:, 0], Y_OK)
    _fit_raises(cls(**SMALL), "Found array with dim 3", X_OK[:, :, None], Y_OK)
    _fit_raises(cls(**SMALL), r"0 sample\(s\)", X_OK[:0], Y_OK[:0])


@pytest.mark.parametrize("cls", ALL)
def test_mismatched_lengths_of_x_and_y(cls: type) -> None:
    _fit_raises(cls(**SMALL), r"inconsistent numbers of samples: \[60, 59\]", X_OK, Y_OK[:-1])


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_a_single_class(cls: type) -> None:
    _fit_raises(cls(**SMALL), "y has only one class", X_OK, np.zeros(60))


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_bad_validation_data(cls: type) -> None:
    _fit_raises(cls(**SMALL), "X_val was given without y_val", X_OK, Y_OK, X_val=X_OK)
    _fit_raises(cls(**SMALL), "y_val was given without X_val", X_OK, Y_OK, y_val=Y_OK)
    _fit_raises(
        cls(**SMALL), r"y_val has labels not seen in y: \[7\]", X_OK, Y_OK, X_val=X_OK[:3],
        y_val=np.array([0, 7, 1]),
    )  # fmt: skip
    _fit_raises(
        cls(**SMALL), "X_val has 60 samples but y_val has 59", X_OK, Y_OK, X_val=X_OK,
        y_val=Y_OK[:-1],
    )  # fmt: skip
    # another feature count is refused (the message is sklearn's, about "X": see below)
    _fit_raises(cls(**SMALL), "3 features", X_OK, Y_OK, X_val=X_OK[:, :3], y_val=Y_OK)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_bad_x_val_is_named_x_val(cls: type) -> None:
    _fit_raises(cls(**SMALL), "X_val", X_OK, Y_OK, X_val=X_OK[:, :3], y_val=Y_OK)


@pytest.mark.parametrize("cls", ALL)
def test_not_fitted(cls: type) -> None:
    est = cls(**SMALL)
    methods = ["predict", "score"] + (["predict_proba"] if "Classifier" in cls.__name__ else [])
    for method in methods:
        args = (X_OK, Y_OK) if method == "score" else (X_OK,)
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(est, method)(*args)


@pytest.mark.parametrize("cls", ALL)
def test_predict_with_another_feature_count(cls: type) -> None:
    est = cls(**SMALL).fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4"):
        est.predict(X_OK[:, :3])


@pytest.mark.parametrize("cls", [GLAIClassifier, GLAIRegressor])
def test_glai_arguments(cls: type) -> None:
    # one path per output for 4 features and 3 classes: 3 x 5 + 3 = 18 (regression: 1 x 5 + 1)
    _fit_raises(cls(**SMALL, budget=5), "budget 5 cannot hold one path per output", X_OK, Y_OK)
    _fit_raises(cls(**SMALL, rho=0.5), "'rho' parameter", X_OK, Y_OK)
    _fit_raises(cls(**SMALL, rho="fast"), "'rho' parameter", X_OK, Y_OK)
    _fit_raises(
        clone(cls(**SMALL)).set_params(hidden_layer_sizes=0), "hidden_layer_sizes", X_OK, Y_OK
    )
    _fit_raises(clone(cls(**SMALL)).set_params(hidden_layer_sizes=[]), "hidden", X_OK, Y_OK)
    _fit_raises(cls(**SMALL, structure_rule="loss"), "structure_rule", X_OK, Y_OK)
    _fit_raises(cls(**SMALL, structure_check_every=0), "structure_check_every", X_OK, Y_OK)
    _fit_raises(cls(**SMALL, quant_warmup_steps=-1), "quant_warmup_steps", X_OK, Y_OK)
    _fit_raises(cls(**SMALL, quant_shrinkage=-1.0), "quant_shrinkage", X_OK, Y_OK)


def test_glai_checks_m_t_every_few_steps_and_freezes_mid_epoch() -> None:
    # 300 samples, batch 32: 10 steps per epoch; a check every 4 steps, stable after 3 checks:
    # the structural phase stops after step 12, two steps into its second epoch.
    X, y = _blobs()
    rule = StopRule("epochs", epochs=3, min_epochs=0)
    clf = GLAIClassifier(
        **SMALL, structure_rule=rule, structure_check_every=4, batch_size=32,
        validation_fraction=0.0, quant_warmup_steps=5, quant_shrinkage=1e-3,
    ).fit(X[:300], y[:300])  # fmt: skip
    assert clf.structure_steps_ == 12 and clf.path_distance_steps_ == [4, 8, 12]
    assert len(clf.path_distance_) == 3 and clf.structure_frozen_epoch_ == 2
    assert clf.history_.events["structure_steps"] == 12


@pytest.mark.parametrize(("batch_size", "interval"), [(2, 100), (32, 10)])
def test_structure_check_every_auto(batch_size: int, interval: int) -> None:
    # "auto": every 100 steps when an epoch has more (300 / 2 = 150 steps), else once per epoch
    # (300 / 32 -> 10 steps): m_t is then measured at the end of each epoch
    X, y = _blobs()
    rule = StopRule("epochs", epochs=2, min_epochs=0)
    clf = GLAIClassifier(
        **{**SMALL, "max_iter": 3}, structure_rule=rule, batch_size=batch_size,
        validation_fraction=0.0,
    ).fit(X[:300], y[:300])  # fmt: skip
    assert clf.structure_check_every == "auto"
    assert clf.path_distance_steps_ == [interval, 2 * interval]


@pytest.mark.gpu
@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_fit_on_cuda(cls: type) -> None:
    X, y = _blobs()
    clf = cls(**{**SMALL, "device": "cuda"}).fit(X, y)
    assert next(clf.model_.parameters()).device.type == "cuda"
    assert clf.score(X, y) > 0.8
    assert clf.predict_proba(X).shape == (300, 3)


def test_defaults_are_declared_once() -> None:
    # The signatures read HEAD_DEFAULTS / GLAI_DEFAULTS, and the loop's come from TrainConfig.
    from dataclasses import fields

    from glai.estimators import AUTO_BATCH_SIZE, GLAI_DEFAULTS, HEAD_DEFAULTS

    loop = {f.name: f.default for f in fields(TrainConfig)}
    for name, config_name in [
        ("optimizer", "optimizer"), ("learning_rate_init", "lr"), ("alpha", "l2"),
        ("max_iter", "max_epochs"), ("shuffle", "shuffle"),
    ]:  # fmt: skip
        assert HEAD_DEFAULTS[name] == loop[config_name]
    # scikit-learn counts the epochs without a gain after which it stops: one fewer
    assert HEAD_DEFAULTS["n_iter_no_change"] + 1 == loop["patience"]
    # the old names' marker default: they are deprecated aliases
    for old in ("weight_decay", "max_epochs", "patience"):
        assert HEAD_DEFAULTS[old] == "deprecated"
    assert HEAD_DEFAULTS["batch_size"] == "auto" and AUTO_BATCH_SIZE == loop["batch_size"]
    # the quantitative phase picks its solver after the freeze (glai.solvers.auto)
    assert GLAI_DEFAULTS["quant_optimizer"] == "auto"
    for cls in (MLPHeadClassifier, MLPHeadRegressor):
        assert cls().get_params() == HEAD_DEFAULTS
    for cls in (GLAIClassifier, GLAIRegressor):
        assert cls().get_params() == {**HEAD_DEFAULTS, **GLAI_DEFAULTS}


# -- defaults on small data ------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_small_data_trains_on_every_sample_and_stops_on_the_training_loss(cls: type) -> None:
    X, y = _blobs(150)
    clf = cls(hidden_layer_sizes=16, max_iter=20, random_state=0).fit(X, y)
    assert clf._batch_size == 150 and not clf._holdout  # one batch of all; nothing held out
    # The "validation" score is minus the training loss on all 150 samples.
    last = clf.history_.records[-1]
    assert last.val_score == pytest.approx(-last.val_loss)
    assert clf.best_validation_score_ is None
    big = cls(hidden_layer_sizes=8, max_iter=1, random_state=0).fit(*_blobs(2000))
    assert big._holdout and big._batch_size == 256 and big.best_validation_score_ is not None
    explicit = cls(hidden_layer_sizes=8, max_iter=1, validation_fraction=0.2, batch_size=7)
    explicit.fit(X, y)
    assert explicit._holdout and explicit._batch_size == 7


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_small_data_stops_once_the_training_loss_falls_by_less_than_tol(cls: type) -> None:
    # Without tol the training loss creeps down for ever and every fit ran to max_iter.
    X, y = _blobs(150)
    kw = dict(
        hidden_layer_sizes=16, max_iter=60, n_iter_no_change=4, batch_size=16,
        learning_rate_init=1e-2, random_state=0,
    )
    creep = cls(**kw, tol=0.0).fit(X, y)
    stop = cls(**kw, tol=1e-3).fit(X, y)
    assert len(creep.history_.records) > len(stop.history_.records)
    quant = [r for r in stop.history_.records if r.phase != "structural"]
    losses = np.array([r.val_loss for r in quant])  # on every training sample, after the epoch
    # 5 epochs (n_iter_no_change + 1) in a row whose loss is not 1e-3 below the best before
    best_before = np.minimum.accumulate(losses)[-6:-1]
    assert len(quant) < 60 and (losses[-5:] > best_before - 1e-3).all()
    assert stop.score(X, y) >= 0.9


def test_tol_applies_to_the_validation_score_too() -> None:
    # scikit-learn's tol: with held-out data a gain of the validation score counts only above
    # tol, so a tol no gain reaches stops after n_iter_no_change + 2 epochs (the first one
    # improves on nothing); the same epochs up to there.
    X, y = _blobs(400)
    kw = dict(hidden_layer_sizes=8, max_iter=12, validation_fraction=0.25, random_state=0)
    a = MLPHeadClassifier(**kw, tol=0.0, n_iter_no_change=np.inf).fit(X, y)
    b = MLPHeadClassifier(**kw, tol=0.5, n_iter_no_change=2).fit(X, y)
    assert b.n_iter_ == 4 and a.n_iter_ == 12
    assert [r.val_score for r in b.history_.records] == a.validation_scores_[:4]


def test_early_stopping_with_tol_counts_small_gains_but_keeps_the_best() -> None:
    from glai.training.loop import _EarlyStopping

    stopping = _EarlyStopping(patience=2, tol=0.1)
    assert stopping.improved(1.0) and stopping.since_best == 0
    assert stopping.improved(1.05) and stopping.since_best == 1  # best, but by less than tol
    assert not stopping.improved(1.0) and stopping.exhausted
    assert stopping.best_score == 1.05
    with pytest.raises(ValueError, match="tol must be >= 0"):
        TrainConfig(tol=-1.0)
    with pytest.raises(ValueError, match="tol"):
        MLPHeadClassifier(tol=-1.0).fit(*_blobs(50))


# -- faults: no silent wrong answers ---------------------------------------------------------


class _Interrupt(Exception):
    pass


def _interrupting(est: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next fit of ``est``'s class fail inside training."""

    def fail(*args: object, **kwargs: object) -> None:
        raise _Interrupt

    monkeypatch.setattr(type(est), "_fit_model", fail)


@pytest.mark.parametrize("cls", ALL)
def test_an_interrupted_first_fit_leaves_the_estimator_unfitted(
    cls: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = _blobs(60)
    est = cls(**SMALL)
    _interrupting(est, monkeypatch)
    with pytest.raises(_Interrupt):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert not hasattr(est, "n_features_in_") and not hasattr(est, "classes_")


def test_a_failed_refit_keeps_the_previous_fit_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _regression(100)
    reg = MLPHeadRegressor(**SMALL).fit(X, y[:, 0])
    before = reg.predict(X)
    _interrupting(reg, monkeypatch)
    with pytest.raises(_Interrupt):
        reg.fit(X[:, :3] * 1000, y[:, 0] * 1e4 + 5000)  # other features, other target scale
    assert reg.n_features_in_ == 4
    np.testing.assert_array_equal(reg.predict(X), before)
    Xb, yb = _blobs(60)
    clf = MLPHeadClassifier(**SMALL).fit(Xb, yb)
    labels = clf.predict(Xb)
    _interrupting(clf, monkeypatch)
    with pytest.raises(_Interrupt):
        clf.fit(Xb, np.array(["x", "y", "z"])[yb])
    monkeypatch.undo()
    assert list(clf.classes_) == [0, 1, 2]
    np.testing.assert_array_equal(clf.predict(Xb), labels)


@pytest.mark.parametrize("cls", ALL)
def test_values_beyond_float32_are_refused(cls: type) -> None:
    X, y = _blobs(60)
    with pytest.raises(ValueError, match="X has values beyond float32's range"):
        cls(**SMALL).fit(X * 1e40, y)
    est = cls(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match="X has values beyond float32's range"):
        est.predict(X * 1e40)
    with pytest.raises(ValueError, match="X_val has values beyond float32's range"):
        cls(**SMALL).fit(X, y, X_val=X * 1e40, y_val=y)


def test_a_regressor_target_beyond_float32_is_refused() -> None:
    X, y = _regression(60)
    y = y[:, 0].copy()
    y[0] = 1e300  # its standardised values stay finite, but not its spread in float32 terms
    y[1] = -1e300
    with pytest.raises(ValueError, match="y"):
        MLPHeadRegressor(**SMALL).fit(X, y * 1e10)


@pytest.mark.parametrize("cls", [GLAIRegressor, MLPHeadRegressor])
def test_training_that_diverges_is_refused(cls: type) -> None:
    X, y = _regression(60)
    est = cls(**{**SMALL, "max_iter": 5})
    with pytest.raises(ValueError, match="training diverged"):
        est.fit(X * 1e30, y[:, 0])
    assert not hasattr(est, "model_")


@pytest.mark.parametrize("cls", [GLAIRegressor, MLPHeadRegressor])
def test_regressor_y_val_must_have_the_columns_of_y_and_no_nan(cls: type) -> None:
    X, y = _regression(60)
    with pytest.raises(ValueError, match=r"y_val has 2 target column\(s\) but y has 1"):
        cls(**SMALL).fit(X, y[:, 0], X_val=X, y_val=y)
    with pytest.raises(ValueError, match=r"y_val has 1 target column\(s\) but y has 2"):
        cls(**SMALL).fit(X, y, X_val=X, y_val=y[:, 0])
    y_nan = y.copy()
    y_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="y_val.*NaN"):
        cls(**SMALL).fit(X, y, X_val=X, y_val=y_nan)


@pytest.mark.parametrize("cls", [GLAIClassifier, GLAIRegressor])
def test_numpy_numbers_pass_validation_and_work(cls: type) -> None:
    X, y = _blobs(60)
    est = cls(
        hidden_layer_sizes=np.array([8]), budget=np.int64(500), rho=np.float32(2),
        max_iter=np.int64(2), batch_size=np.int32(16), probe_size=np.int64(30),
        random_state=0,
    )  # fmt: skip
    est.fit(X, y)
    assert est.model_.budget == 500 and est.model_.rho == 2.0
    assert est.model_.hidden_features == (8,)


@pytest.mark.parametrize("cls", ALL)
def test_messages_name_hidden_layer_sizes(cls: type) -> None:
    X, y = _blobs(60)
    with pytest.raises(ValueError, match="hidden_layer_sizes must hold positive ints"):
        cls(hidden_layer_sizes=[8, 0], max_iter=1).fit(X, y)


def test_glai_needs_a_hidden_layer_named_as_the_user_wrote_it() -> None:
    X, y = _blobs(60)
    with pytest.raises(ValueError, match="hidden_layer_sizes must hold at least one width"):
        GLAIClassifier(hidden_layer_sizes=[], max_iter=1).fit(X, y)


@pytest.mark.parametrize("cls", ALL)
def test_a_bad_device_is_refused_by_parameter_validation(cls: type) -> None:
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = _blobs(60)
    with pytest.raises(InvalidParameterError, match="'device' parameter .* torch device"):
        cls(device="nonsense").fit(X, y)
