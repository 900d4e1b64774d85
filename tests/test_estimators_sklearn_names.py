"""scikit-learn's vocabulary on glai's estimators (issue 15): ``MLPClassifier``'s parameter names
and meanings, its fitted attributes, ``ConvergenceWarning``, ``partial_fit`` of the MLP heads,
the deprecated old names, and validation data in a ``Pipeline``.

Where a meaning can be checked against scikit-learn itself (where ``n_iter_no_change`` and
``tol`` stop a fit, what ``partial_fit`` counts), the test runs ``MLPClassifier`` beside ours.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import sklearn
import torch
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from glai import GLAIClassifier, GLAIRegressor, MLPHeadClassifier, MLPHeadRegressor

ALL = [GLAIClassifier, GLAIRegressor, MLPHeadClassifier, MLPHeadRegressor]
CLASSIFIERS = [GLAIClassifier, MLPHeadClassifier]
MLP_HEADS = [MLPHeadClassifier, MLPHeadRegressor]
# the names MLPClassifier and glai's heads share, with scikit-learn's meaning
SKLEARN_NAMES = (
    "hidden_layer_sizes", "max_iter", "learning_rate", "learning_rate_init", "alpha",
    "batch_size", "early_stopping", "validation_fraction", "n_iter_no_change", "tol",
    "shuffle", "verbose", "warm_start", "random_state",
)  # fmt: skip
SMALL: dict[str, Any] = {
    "hidden_layer_sizes": 8, "max_iter": 20, "learning_rate_init": 1e-2, "random_state": 0,
}  # fmt: skip


def _blobs(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=n, centers=3, n_features=4, cluster_std=2.0, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _data(cls: type, n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Blobs for a classifier; for a regressor two targets of the same inputs."""
    X, y = _blobs(n, seed)
    if cls in (GLAIRegressor, MLPHeadRegressor):
        return X, np.c_[np.abs(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 3]]
    return X, y


@pytest.fixture
def quiet() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _output(est: Any, X: np.ndarray) -> np.ndarray:
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)


# -- the names and their defaults ------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL)
def test_every_estimator_takes_scikit_learns_names(cls: type) -> None:
    params = cls().get_params()
    assert [n for n in SKLEARN_NAMES if n not in params] == []
    # the same default where glai has no measured reason to differ
    ref = MLPClassifier().get_params()
    same = ("max_iter", "learning_rate", "learning_rate_init", "batch_size", "tol", "shuffle",
            "verbose", "warm_start", "random_state")  # fmt: skip
    assert {n: params[n] for n in same} == {n: ref[n] for n in same}
    # glai's measured defaults (README, "Defaults and why"): no penalty, the hold-out rule,
    # stop on the 10th epoch without gain (scikit-learn's 10 stops on the 11th)
    assert params["alpha"] == 0.0 and params["n_iter_no_change"] == 9
    assert params["early_stopping"] == "auto" and params["validation_fraction"] == "auto"
    assert params["hidden_layer_sizes"] == (256,)


@pytest.mark.parametrize("cls", ALL)
def test_grid_search_over_scikit_learns_names(cls: type, quiet: Any) -> None:
    X, y = _data(cls, 120)
    grid = GridSearchCV(
        cls(hidden_layer_sizes=8, learning_rate_init=1e-2, random_state=0),
        {"alpha": [0.0, 10.0], "max_iter": [1, 6]}, cv=2, error_score="raise",
        scoring="neg_log_loss" if cls in CLASSIFIERS else None,  # finer than accuracy
    )  # fmt: skip
    grid.fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isfinite(scores).all()
    # the parameters took effect: the four candidates do not all score the same
    assert len(set(np.round(scores, 10))) > 1
    assert grid.best_estimator_.n_iter_ >= 1


@pytest.mark.parametrize("cls", ALL)
def test_max_iter_bounds_every_phase(cls: type, quiet: Any) -> None:
    X, y = _data(cls)
    est = cls(**{**SMALL, "max_iter": 3, "n_iter_no_change": np.inf}).fit(X, y)
    phases = [r.phase for r in est.history_.records]
    for phase in set(phases):
        assert phases.count(phase) <= 3
    assert phases.count(phases[-1]) == 3  # the last phase ran to the limit


def test_learning_rate_is_a_schedule_name_as_in_scikit_learn() -> None:
    X, y = _blobs(60)
    MLPHeadClassifier(**SMALL, learning_rate="constant").fit(X, y)
    with pytest.raises(InvalidParameterError, match="learning_rate"):
        MLPHeadClassifier(**SMALL, learning_rate="adaptive").fit(X, y)


@pytest.mark.parametrize("verbose", [1, 2, True])
def test_verbose_takes_ints_as_in_scikit_learn(verbose: int, quiet: Any) -> None:
    X, y = _blobs(60)
    MLPHeadClassifier(**{**SMALL, "max_iter": 2}, verbose=verbose).fit(X, y)


def test_verbose_refuses_negative_numbers() -> None:
    X, y = _blobs(60)
    with pytest.raises(InvalidParameterError, match="verbose"):
        MLPHeadClassifier(**SMALL, verbose=-1).fit(X, y)


# -- alpha: scikit-learn's L2 penalty --------------------------------------------------------


def test_alpha_penalises_weights_not_biases(quiet: Any) -> None:
    X, y = _blobs()
    kw = {**SMALL, "max_iter": 60, "n_iter_no_change": np.inf, "batch_size": 50}
    free = MLPHeadClassifier(**kw, alpha=0.0).fit(X, y)
    tied = MLPHeadClassifier(**kw, alpha=50.0).fit(X, y)

    def norms(est: Any) -> tuple[float, float]:
        weights = [p for p in est.model_.parameters() if p.ndim >= 2]
        biases = [p for p in est.model_.parameters() if p.ndim < 2]
        return (float(sum(w.pow(2).sum() for w in weights)),
                float(sum(b.pow(2).sum() for b in biases)))  # fmt: skip

    w_free, b_free = norms(free)
    w_tied, b_tied = norms(tied)
    assert w_tied < 0.2 * w_free  # the weights shrink ...
    assert b_tied > 0.2 * b_free  # ... the biases are not penalised


def test_l2_penalty_is_scikit_learns_term() -> None:
    from glai.training.epochs import l2_penalty

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    penalty = l2_penalty(list(model.parameters()), alpha=0.3, batch_size=10)
    assert penalty is not None
    expected = 0.5 * 0.3 / 10 * (model[0].weight.pow(2).sum() + model[2].weight.pow(2).sum())
    torch.testing.assert_close(penalty(), expected)
    assert l2_penalty(list(model.parameters()), alpha=0.0, batch_size=10) is None


# -- early_stopping, validation_fraction, n_iter_no_change, tol ------------------------------


@pytest.mark.parametrize("early_stopping", [False, True])
def test_n_iter_no_change_and_tol_stop_where_scikit_learn_stops(early_stopping: bool) -> None:
    # A tol no epoch can beat: the first epoch improves on nothing, then every epoch counts,
    # and scikit-learn stops once MORE than n_iter_no_change epochs have failed: at epoch 5.
    X, y = _blobs()
    kw = {"tol": 1e9, "n_iter_no_change": 3, "early_stopping": early_stopping, "max_iter": 50,
          "random_state": 0}  # fmt: skip
    ref = MLPClassifier((8,), **kw).fit(X, y)
    ours = MLPHeadClassifier(8, **kw).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_ == 5


def test_early_stopping_true_holds_out_validation_fraction_on_small_data() -> None:
    X, y = _blobs()  # 300 samples: "auto" would hold nothing out
    est = MLPHeadClassifier(**SMALL, early_stopping=True).fit(X, y)
    assert est.validation_scores_ is not None and est.best_loss_ is None
    assert est.t_ == est.n_iter_ * 270  # 10% held out (validation_fraction "auto" -> 0.1)
    est = MLPHeadClassifier(**SMALL, early_stopping=True, validation_fraction=0.3).fit(X, y)
    assert est.t_ == est.n_iter_ * 210


def test_early_stopping_false_holds_nothing_out_on_large_data(quiet: Any) -> None:
    X, y = _blobs(2500)  # "auto" would hold out a tenth
    est = MLPHeadClassifier(**{**SMALL, "max_iter": 3}, early_stopping=False).fit(X, y)
    assert est.validation_scores_ is None and est.best_validation_score_ is None
    assert est.t_ == est.n_iter_ * 2500
    auto = MLPHeadClassifier(**{**SMALL, "max_iter": 3}).fit(X, y)
    assert auto.validation_scores_ is not None and auto.t_ == auto.n_iter_ * 2250


def test_early_stopping_false_refuses_validation_data() -> None:
    X, y = _blobs()
    with pytest.raises(ValueError, match="early_stopping=False"):
        MLPHeadClassifier(**SMALL, early_stopping=False).fit(X, y, X_val=X, y_val=y)


def test_early_stopping_needs_two_validation_samples() -> None:
    X, y = _blobs(12)
    with pytest.raises(ValueError, match="validation_fraction"):
        MLPHeadClassifier(**SMALL, early_stopping=True, validation_fraction=0.1).fit(X, y)


# -- fitted attributes -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL)
def test_scikit_learns_fitted_attributes(cls: type) -> None:
    X, y = _data(cls)
    est = cls(**SMALL, early_stopping=False).fit(X, y)
    records = est.history_.records
    assert est.loss_curve_ == [r.train_loss for r in records]
    assert est.n_iter_ == len(records) == len(est.loss_curve_)
    assert est.loss_ == est.loss_curve_[-1]
    assert est.validation_scores_ is None and est.best_validation_score_ is None
    # the model returned is that of the last phase (for GLAI: the path model)
    final = [r.train_loss for r in records if r.phase == records[-1].phase]
    assert est.best_loss_ == min(final)


@pytest.mark.parametrize("cls", ALL)
def test_validation_attributes_with_held_out_data(cls: type) -> None:
    X, y = _data(cls)
    X_val, y_val = _data(cls, 90, seed=1)
    est = cls(**SMALL).fit(X, y, X_val=X_val, y_val=y_val)
    records = est.history_.records
    assert est.validation_scores_ == [r.val_score for r in records]
    assert est.best_loss_ is None
    final = [r.val_score for r in records if r.phase == records[-1].phase]
    assert est.best_validation_score_ == max(final)
    # early stopping restored that epoch: it is the score of the model returned
    assert est.best_validation_score_ == pytest.approx(est.score(X_val, y_val), abs=1e-6)


def test_n_iter_counts_both_phases_of_glai() -> None:
    X, y = _blobs()
    est = GLAIClassifier(**SMALL).fit(X, y)
    quantitative = sum(r.phase == "quantitative" for r in est.history_.records)
    assert quantitative >= 1
    assert est.n_iter_ == est.structure_frozen_epoch_ + quantitative


@pytest.mark.parametrize("cls", MLP_HEADS)
def test_t_counts_training_samples_seen(cls: type) -> None:
    X, y = _data(cls)
    est = cls(**SMALL).fit(X, y)
    assert est.t_ == est.n_iter_ * 300


def test_t_of_glai_counts_both_phases() -> None:
    X, y = _blobs()
    per_epoch = GLAIClassifier(**SMALL, structure_check_every=None, quant_optimizer="adam")
    per_epoch.fit(X, y)
    assert per_epoch.t_ == per_epoch.n_iter_ * 300
    # m_t checked every 4 steps of 32 samples (10 steps per epoch): the structural phase may
    # end mid-epoch, having seen only the minibatches it took
    mid = GLAIClassifier(**SMALL, structure_check_every=4, batch_size=32, quant_optimizer="adam")
    mid.fit(X, y)
    steps = mid.structure_steps_
    structural = (steps // 10) * 300 + min((steps % 10) * 32, 300)
    quantitative = sum(r.phase == "quantitative" for r in mid.history_.records) * 300
    assert mid.t_ == structural + quantitative


def test_t_of_a_closed_form_counts_one_pass() -> None:
    X, y = _blobs()
    est = GLAIClassifier(
        **SMALL, quant_optimizer="ridge", early_stopping=True, structure_check_every=None
    ).fit(X, y)
    assert est.t_ == est.structure_frozen_epoch_ * 270 + 270


@pytest.mark.parametrize("cls", ALL)
def test_warm_start_accumulates_like_scikit_learn(cls: type, quiet: Any) -> None:
    # scikit-learn: a warm-started fit extends loss_curve_ and t_; n_iter_ is this fit's
    X, y = _data(cls)
    est = cls(**SMALL, early_stopping=False, warm_start=True).fit(X, y)
    curve, t = list(est.loss_curve_), est.t_
    est.fit(X, y)
    assert est.loss_curve_[: len(curve)] == curve
    assert len(est.loss_curve_) == len(curve) + est.n_iter_
    assert est.t_ > t
    est.set_params(warm_start=False).fit(X, y)  # a new fit starts the counts again
    assert len(est.loss_curve_) == est.n_iter_


# -- ConvergenceWarning ----------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL)
def test_convergence_warning_when_max_iter_stops_the_fit(cls: type) -> None:
    X, y = _data(cls)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        cls(**{**SMALL, "max_iter": 2}).fit(X, y)


@pytest.mark.parametrize("cls", ALL)
def test_no_convergence_warning_when_the_fit_stops_by_itself(cls: type) -> None:
    X, y = _data(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = cls(**{**SMALL, "max_iter": 200}, tol=1e9, n_iter_no_change=1).fit(X, y)
    assert est.n_iter_ < 200


def test_convergence_warning_when_max_iter_cuts_the_structural_phase() -> None:
    X, y = _blobs()
    with pytest.warns(ConvergenceWarning, match="structural"):
        GLAIClassifier(**{**SMALL, "max_iter": 2}, quant_optimizer="ridge",
                       early_stopping=True).fit(X, y)  # fmt: skip


# -- partial_fit of the MLP heads ------------------------------------------------------------


def test_mlp_partial_fit_needs_classes_on_the_first_call() -> None:
    X, y = _blobs()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPHeadClassifier(**SMALL).partial_fit(X, y)


def test_mlp_partial_fit_counts_like_scikit_learn() -> None:
    X, y = _blobs()
    first = y < 2
    ours = MLPHeadClassifier(**SMALL)
    ref = MLPClassifier((8,), random_state=0)
    for est in (ours, ref):
        est.partial_fit(X[first], y[first], classes=[0, 1, 2])
        assert list(est.classes_) == [0, 1, 2]
        assert est.predict_proba(X).shape == (300, 3)
        assert (est.n_iter_, est.t_, len(est.loss_curve_)) == (1, first.sum(), 1)
        est.partial_fit(X, y)
        assert (est.n_iter_, est.t_, len(est.loss_curve_)) == (1, first.sum() + 300, 2)
        with pytest.raises(ValueError, match="classes"):
            est.partial_fit(X, y + 10)
        with pytest.raises(ValueError, match="classes"):
            est.partial_fit(X, y, classes=[0, 1])


def test_mlp_partial_fit_keeps_the_optimiser_state(quiet: Any) -> None:
    # two one-epoch calls = one fit of two epochs: Adam's moments carry over, as in sklearn
    X, y = _blobs()
    kw = {**SMALL, "shuffle": False, "early_stopping": False, "batch_size": 50}
    a = MLPHeadClassifier(**kw)
    a.partial_fit(X, y, classes=np.unique(y))
    a.partial_fit(X, y)
    b = MLPHeadClassifier(**{**kw, "max_iter": 2, "n_iter_no_change": np.inf}).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-5, atol=1e-7)


def test_mlp_partial_fit_learns() -> None:
    X, y = _blobs()
    clf = MLPHeadClassifier(**SMALL)
    for _epoch in range(15):
        for lo in range(0, 300, 100):
            clf.partial_fit(X[lo : lo + 100], y[lo : lo + 100], classes=np.unique(y))
    assert clf.score(X, y) > 0.8


def test_mlp_partial_fit_refuses_early_stopping() -> None:
    X, y = _blobs()
    with pytest.raises(ValueError, match="early_stopping"):
        MLPHeadClassifier(**SMALL, early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_mlp_partial_fit_continues_a_fit(quiet: Any) -> None:
    X, y = _blobs()
    clf = MLPHeadClassifier(**SMALL).fit(X, y)
    t, params = clf.t_, [p.detach().clone() for p in clf.model_.parameters()]
    clf.partial_fit(X, y)
    assert clf.t_ == t + 300 and clf.n_iter_ == 1
    assert any(not torch.equal(p, q) for p, q in zip(params, clf.model_.parameters()))


def test_mlp_regressor_partial_fit() -> None:
    X, y = _data(MLPHeadRegressor)
    reg = MLPHeadRegressor(**SMALL)
    for _epoch in range(20):
        reg.partial_fit(X, y)
    assert reg.predict(X).shape == y.shape
    assert reg.t_ == 20 * 300 and reg.score(X, y) > 0.5
    with pytest.raises(ValueError, match="features"):
        reg.partial_fit(X[:, :3], y)


# -- the old names, deprecated for one release -----------------------------------------------


OLD_AND_NEW = [
    ({"max_epochs": 7}, {"max_iter": 7}),
    ({"learning_rate": 0.02, "max_iter": 15}, {"learning_rate_init": 0.02, "max_iter": 15}),
    ({"patience": 3, "tol": 0.05}, {"n_iter_no_change": 2, "tol": 0.05}),
    ({"patience": None, "max_iter": 15}, {"n_iter_no_change": np.inf, "max_iter": 15}),
]


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("old, new", OLD_AND_NEW)
def test_old_names_warn_and_give_the_same_model(
    cls: type, old: dict[str, Any], new: dict[str, Any], quiet: Any
) -> None:
    X, y = _data(cls)
    base = {"hidden_layer_sizes": 8, "random_state": 0}
    name = next(iter(old))
    with pytest.warns(FutureWarning, match=f"{name}.*deprecated.*{next(iter(new))}"):
        a = cls(**{**base, **old}).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        b = cls(**{**base, **new}).fit(X, y)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_array_equal(_output(a, X), _output(b, X))


def test_weight_decay_keeps_its_meaning_and_warns(quiet: Any) -> None:
    # Adam's coupled decay on every parameter: not sklearn's alpha, so not converted to it
    X, y = _blobs()
    with pytest.warns(FutureWarning, match="weight_decay.*deprecated.*alpha"):
        est = MLPHeadClassifier(**SMALL, weight_decay=0.5).fit(X, y)
    assert est._config().weight_decay == 0.5
    plain = MLPHeadClassifier(**SMALL).fit(X, y)
    assert not np.array_equal(est.predict_proba(X), plain.predict_proba(X))


def test_an_old_name_and_its_new_name_together_are_refused() -> None:
    X, y = _blobs()
    with pytest.raises(ValueError, match="max_epochs.*max_iter"):
        MLPHeadClassifier(**SMALL, max_epochs=5).fit(X, y)


@pytest.mark.parametrize("cls", ALL)
def test_best_val_score_is_a_deprecated_name_of_best_validation_score(cls: type) -> None:
    X, y = _data(cls)
    est = cls(**SMALL, early_stopping=True).fit(X, y)
    with pytest.warns(FutureWarning, match="best_validation_score_"):
        old = est.best_val_score_
    assert old == est.best_validation_score_ is not None


# -- validation data in a Pipeline -----------------------------------------------------------


def _raw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features far from standardised (mean 50, spread 10): what a scaler is there for."""
    X, y = make_blobs(n_samples=n, centers=3, n_features=4, cluster_std=2.0, random_state=seed)
    return X * 5 + 50, y


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_untransformed_x_val_in_a_pipeline_is_warned_about(cls: type, quiet: Any) -> None:
    X, y = _raw(300, 0)
    X_val, y_val = _raw(90, 1)
    pipe = make_pipeline(StandardScaler(), cls(**SMALL))
    step = pipe.steps[-1][0]
    with pytest.warns(UserWarning, match="X_val.*Pipeline"):
        pipe.fit(X, y, **{f"{step}__X_val": X_val, f"{step}__y_val": y_val})


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_x_val_like_x_is_not_warned_about(cls: type, quiet: Any) -> None:
    X, y = _blobs()
    X_val, y_val = _blobs(5, seed=1)  # even a handful of samples
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cls(**SMALL).fit(X, y, X_val=X_val, y_val=y_val)
    assert not [w for w in caught if "X_val" in str(w.message)]


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_metadata_routing_transforms_x_val_through_the_pipeline(cls: type, quiet: Any) -> None:
    # the pipeline-safe way with explicit validation data (scikit-learn >= 1.6)
    X, y = _raw(300, 0)
    X_val, y_val = _raw(90, 1)
    with sklearn.config_context(enable_metadata_routing=True):
        head = cls(**SMALL).set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("scale", StandardScaler()), ("head", head)], transform_input=["X_val"])
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="X_val", category=UserWarning)
            pipe.fit(X, y, X_val=X_val, y_val=y_val)
    scaler = StandardScaler().fit(X)
    ref = cls(**SMALL).fit(scaler.transform(X), y, X_val=scaler.transform(X_val), y_val=y_val)
    assert pipe[-1].best_validation_score_ == ref.best_validation_score_
    np.testing.assert_array_equal(pipe.predict(X_val), ref.predict(scaler.transform(X_val)))


def test_x_val_of_another_width_names_the_pipeline_way() -> None:
    X, y = _raw(300, 0)
    X_val, y_val = _raw(90, 1)
    pipe = make_pipeline(PCA(2), MLPHeadClassifier(**SMALL))
    with pytest.raises(ValueError, match="transform_input"):
        pipe.fit(X, y, mlpheadclassifier__X_val=X_val, mlpheadclassifier__y_val=y_val)
