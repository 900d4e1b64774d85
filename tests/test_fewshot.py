"""glai.fewshot: the task sampler, nearest class mean by hand, the confidence interval, the
heads (both kinds: shapes, phases, learning, reproducibility), the estimator contract and
every bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from glai import GLAI, MLP
from glai.fewshot import (
    FewShotHead,
    Tasks,
    evaluate,
    prototype_logits,
    prototypes,
    sample_tasks,
    task_accuracies,
)

# Tiny episodic training: 40 episodes, a check every 10.
TINY = {"n_way": 3, "k_shot": 2, "n_query": 3, "episodes": 40, "check_every": 10,
        "val_tasks": 20, "random_state": 0}  # fmt: skip


def _blobs(n_classes: int, per_class: int, n_features: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(n_classes, n_features))
    y = np.repeat(np.arange(n_classes), per_class)
    X = centers[y] + rng.normal(size=(len(y), n_features))
    return X.astype(np.float32), y


# -- the sampler ------------------------------------------------------------------------------


def test_tasks_have_n_classes_and_k_plus_q_distinct_samples_of_each() -> None:
    rng = np.random.default_rng(1)
    y = rng.choice(np.array(["a", "b", "c", "d", "e", "f", "g"]), size=400)
    tasks = sample_tasks(y, n_way=5, k_shot=3, n_query=4, n_tasks=200, random_state=0)
    assert tasks.shape == (200, 5, 3, 4) and len(tasks) == 200
    assert tasks.support.shape == (200, 5, 3) and tasks.query.shape == (200, 5, 4)
    for t in range(len(tasks)):
        assert len(set(tasks.classes[t])) == 5  # N distinct classes
        rows = np.concatenate([tasks.support[t], tasks.query[t]], axis=1)  # [N, K + Q]
        assert len(np.unique(rows)) == 5 * 7  # no sample twice in a task (support, query)
        assert (y[rows] == tasks.classes[t][:, None]).all()  # each row from its own class
    # every class and many samples get drawn: a sampler stuck on a few would fail here
    assert set(tasks.classes.ravel()) == set(y)
    assert len(np.unique(tasks.query)) > 300


def test_tasks_are_reproducible_with_a_seed_and_differ_across_seeds() -> None:
    y = np.repeat(np.arange(10), 30)
    a = sample_tasks(y, n_way=5, k_shot=1, n_query=5, n_tasks=50, random_state=3)
    b = sample_tasks(y, n_way=5, k_shot=1, n_query=5, n_tasks=50, random_state=3)
    c = sample_tasks(y, n_way=5, k_shot=1, n_query=5, n_tasks=50, random_state=4)
    for name in ("support", "query", "classes"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.query, c.query)


def test_a_class_with_exactly_k_plus_q_samples_is_drawn_whole() -> None:
    y = np.repeat(np.arange(4), 5)  # 5 = k_shot + n_query per class
    tasks = sample_tasks(y, n_way=4, k_shot=2, n_query=3, n_tasks=30, random_state=0)
    rows = np.concatenate([tasks.support, tasks.query], axis=2)
    assert (np.sort(rows, axis=2) == np.sort(np.flatnonzero(y == 0))).all(-1).any()
    assert all(len(np.unique(r)) == 5 for r in rows.reshape(-1, 5))


def test_novel_tasks_never_hold_a_base_class() -> None:
    X, y = _blobs(10, 20)
    base = y < 6
    head = FewShotHead(16, 4, kind="mlp", **TINY).fit(X[base], y[base])
    tasks = sample_tasks(y[~base], n_way=4, k_shot=1, n_query=5, n_tasks=100, random_state=0)
    assert not set(tasks.classes.ravel()) & set(head.classes_)
    assert set(np.flatnonzero(~base)[tasks.query.ravel()]) <= set(np.flatnonzero(~base))


# -- nearest class mean and the interval -------------------------------------------------------


def test_prototype_logits_by_hand() -> None:
    # class a: (0, 0), (2, 0) -> mean (1, 0); class b: (0, 4), (0, 6) -> mean (0, 5).
    support = torch.tensor([[[0.0, 0.0], [2.0, 0.0]], [[0.0, 4.0], [0.0, 6.0]]])
    protos = prototypes(support)
    torch.testing.assert_close(protos, torch.tensor([[1.0, 0.0], [0.0, 5.0]]))
    # query (1, 1): ||(0, 1)||^2 = 1 to a, ||(1, -4)||^2 = 17 to b
    # query (0, 3.5): 1 + 12.25 = 13.25 to a, 2.25 to b
    logits = prototype_logits(torch.tensor([[1.0, 1.0], [0.0, 3.5]]), protos)
    torch.testing.assert_close(logits, -torch.tensor([[1.0, 17.0], [13.25, 2.25]]))


def test_nearest_class_mean_accuracy_of_a_hand_made_task() -> None:
    # rows 0-1: class a support, rows 2-3: class b support (means (1, 0) and (0, 5));
    # query 4 = (1, 1) of class a is right; query 5 = (0.9, 0.2), labelled b, lies by a's
    # mean (0.04 vs 23.85): wrong. Accuracy 1/2.
    z = torch.tensor([[0, 0], [2, 0], [0, 4], [0, 6], [1, 1], [0.9, 0.2]])
    tasks = Tasks(
        support=np.array([[[0, 1], [2, 3]]]),
        query=np.array([[[4], [5]]]),
        classes=np.array([["a", "b"]]),
    )
    accs, loss = task_accuracies(z, tasks)
    np.testing.assert_allclose(accs, [0.5])
    # loss: mean of -log softmax(-d)[true] over the two queries
    d = np.array([[1.0, 17.0], [0.01 + 0.04, 0.81 + 23.04]])
    logp = -d - np.log(np.exp(-d).sum(1, keepdims=True))
    np.testing.assert_allclose(loss, -(logp[0, 0] + logp[1, 1]) / 2, rtol=1e-5)


def test_evaluate_matches_a_direct_computation_and_its_interval() -> None:
    X, y = _blobs(8, 25, n_features=5, seed=2)
    X += np.random.default_rng(0).normal(scale=4.0, size=X.shape).astype(np.float32)
    out = evaluate(X, y, n_way=4, k_shot=2, n_query=5, n_tasks=300, random_state=7)
    tasks = sample_tasks(y, n_way=4, k_shot=2, n_query=5, n_tasks=300, random_state=7)
    direct = []
    for t in range(len(tasks)):  # nearest mean with plain numpy, one query at a time
        means = X[tasks.support[t]].mean(axis=1)  # [N, d]
        hits = [
            np.argmin(((X[i] - means) ** 2).sum(1)) == n
            for n in range(4)
            for i in tasks.query[t, n]
        ]
        direct.append(np.mean(hits))
    direct = np.array(direct)
    np.testing.assert_allclose(out["task_accuracies"], direct)
    assert out["accuracy"] == pytest.approx(direct.mean())
    assert out["ci95"] == pytest.approx(1.96 * direct.std() / np.sqrt(300))
    assert 0.3 < out["accuracy"] < 0.95  # neither trivial nor chance: the interval is > 0
    assert out["ci95"] > 0 and out["seconds"] >= 0 and out["n_tasks"] == 300


def test_evaluate_takes_a_callable_or_a_fitted_head() -> None:
    X, y = _blobs(6, 20)
    raw = evaluate(X, y, n_way=3, n_query=5, n_tasks=50, random_state=0)
    same = evaluate(X, y, transform=lambda a: a * 2.0, n_way=3, n_query=5, n_tasks=50,
                    random_state=0)  # fmt: skip
    assert same["accuracy"] == pytest.approx(raw["accuracy"])  # scaling keeps the nearest mean
    head = FewShotHead(16, 4, kind="mlp", **TINY).fit(X, y)
    via_head = evaluate(X, y, transform=head, n_way=3, n_query=5, n_tasks=50, random_state=0)
    via_fn = evaluate(X, y, transform=head.transform, n_way=3, n_query=5, n_tasks=50,
                      random_state=0)  # fmt: skip
    np.testing.assert_array_equal(via_head["task_accuracies"], via_fn["task_accuracies"])


# -- the heads --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mlp", "glai"])
def test_fit_transform_shapes_and_phases(kind: str) -> None:
    X, y = _blobs(6, 30)
    head = FewShotHead((16,), 5, kind=kind, **TINY).fit(X, y)
    z = head.transform(X[:7])
    assert z.shape == (7, 5) and z.dtype == np.float32 and np.isfinite(z).all()
    np.testing.assert_array_equal(head.classes_, np.arange(6))
    assert head.n_features_in_ == 8 and head.n_iter_ == len(head.history_.records)
    phases = [r.phase for r in head.history_.records]
    if kind == "mlp":
        assert isinstance(head.network_, MLP) and set(phases) == {"mlp"}
    else:
        assert isinstance(head.network_, GLAI) and head.network_.phase == "quantitative"
        assert phases[0] == "structural" and phases[-1] == "quantitative"
        assert head.structure_frozen_epoch_ == phases.count("structural")
        assert len(head.path_distance_) == head.structure_frozen_epoch_
        assert all(r.path_distance is not None for r in head.history_.records
                   if r.phase == "structural")  # fmt: skip
    with torch.no_grad():
        direct = head.model_(torch.as_tensor(X[:7])).numpy()
    np.testing.assert_allclose(z, direct, rtol=1e-5, atol=1e-6)  # transform is model_
    assert head.model_.network is head.network_ and not head.residual_  # 5 != 8 features
    np.testing.assert_allclose(np.linalg.norm(z, axis=1) ** 2, 10.0, rtol=1e-5)  # scale 10


@pytest.mark.parametrize("kind", ["mlp", "glai"])
def test_a_trained_head_beats_raw_features_on_novel_classes(kind: str) -> None:
    # Classes differ in 4 directions; 40 more directions hold large noise shared by all
    # classes. Nearest mean on raw features drowns in the noise; a head trained on the base
    # classes can learn to drop it and carry that to the novel classes.
    rng = np.random.default_rng(0)
    n_classes, per_class = 20, 40
    centers = np.zeros((n_classes, 44))
    centers[:, :4] = rng.normal(scale=2.0, size=(n_classes, 4))
    y = np.repeat(np.arange(n_classes), per_class)
    X = centers[y] + rng.normal(size=(len(y), 44)) * np.r_[np.ones(4), np.full(40, 3.0)]
    X = X.astype(np.float32)
    base = y < 12
    args = {"n_way": 5, "k_shot": 1, "n_query": 10, "n_tasks": 300, "random_state": 0}
    raw = evaluate(X[~base], y[~base], **args)
    head = FewShotHead((32,), 8, kind=kind, n_way=8, k_shot=5, n_query=10, episodes=300,
                       check_every=50, learning_rate=1e-2, random_state=0)  # fmt: skip
    head.fit(X[base], y[base])
    trained = evaluate(X[~base], y[~base], transform=head, **args)
    assert trained["accuracy"] > raw["accuracy"] + 0.1, (raw["accuracy"], trained["accuracy"])


@pytest.mark.parametrize("kind", ["mlp", "glai"])
def test_same_random_state_same_embeddings(kind: str) -> None:
    X, y = _blobs(6, 30)
    a = FewShotHead(16, 4, kind=kind, **TINY).fit(X, y).transform(X)
    b = FewShotHead(16, 4, kind=kind, **TINY).fit(X, y).transform(X)
    c = FewShotHead(16, 4, kind=kind, **{**TINY, "random_state": 1}).fit(X, y).transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_estimator_contract() -> None:
    head = FewShotHead((32,), 16, kind="glai", n_way=7, episodes=123, random_state=5)
    params = head.get_params()
    assert params["hidden_layer_sizes"] == (32,) and params["n_way"] == 7
    assert params["episodes"] == 123 and params["kind"] == "glai"
    twin = clone(head)
    assert twin is not head and twin.get_params() == params
    assert not hasattr(twin, "model_")
    # __init__ stores and does nothing else: bad values fail at fit, not before
    bad = FewShotHead(kind="resnet")
    assert bad.kind == "resnet"
    with pytest.raises(ValueError, match="kind"):
        bad.fit(*_blobs(3, 20))
    fitted = FewShotHead(16, 4, kind="mlp", **TINY).fit(*_blobs(6, 30))
    assert not hasattr(clone(fitted), "classes_")
    assert fitted.set_params(n_way=4).n_way == 4


# -- bad input --------------------------------------------------------------------------------


def test_bad_input_gets_a_clear_value_error() -> None:
    X, y = _blobs(5, 10)
    with pytest.raises(ValueError, match=r"fewer than k_shot \+ n_query = 16 samples"):
        evaluate(X, y, n_way=3, k_shot=1, n_query=15)
    with pytest.raises(ValueError, match=r"n_way=6 is larger than the 5 classes"):
        evaluate(X, y, n_way=6, k_shot=1, n_query=5)
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate(X_nan, y, n_way=3, k_shot=1, n_query=5)
    with pytest.raises(ValueError, match="2-d array"):
        evaluate(X[:, 0], y, n_way=3, k_shot=1, n_query=5)
    with pytest.raises(ValueError, match="X has 50 samples but y has 49"):
        evaluate(X, y[:-1], n_way=3, k_shot=1, n_query=5)
    with pytest.raises(ValueError, match="1-d array of labels"):
        evaluate(X, y[:, None], n_way=3, k_shot=1, n_query=5)
    with pytest.raises(ValueError, match="k_shot must be an int >= 1"):
        sample_tasks(y, n_way=3, k_shot=0, n_query=5, n_tasks=1)
    with pytest.raises(ValueError, match="transform returned shape"):
        evaluate(X, y, transform=lambda a: a[:-1], n_way=3, k_shot=1, n_query=5)


def test_bad_input_to_the_head_gets_a_clear_value_error() -> None:
    X, y = _blobs(5, 10)
    with pytest.raises(ValueError, match=r"fewer than k_shot \+ n_query"):
        FewShotHead(kind="mlp", n_way=3, k_shot=5, n_query=10).fit(X, y)
    with pytest.raises(ValueError, match=r"n_way=8 is larger than the 5 classes"):
        FewShotHead(kind="mlp", n_way=8, k_shot=1, n_query=2).fit(X, y)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        FewShotHead(kind="mlp", **{**TINY, "k_shot": 1}).fit(X_nan, y)
    head = FewShotHead(16, 4, kind="mlp", **{**TINY, "k_shot": 1}).fit(X, y)
    with pytest.raises(ValueError, match="8 features"):
        head.transform(X[:, :5])


# -- the embedding: residual start, normalisation, validation on held-out classes -----------


@pytest.mark.parametrize("kind", ["mlp", "glai"])
def test_a_residual_head_starts_as_its_input(kind: str) -> None:
    # No training step (the start is the only candidate there is to keep on a tie) : with
    # f's last layer at zero, z = sqrt(s) x / ||x||, exactly.
    X, y = _blobs(6, 30)
    head = FewShotHead(16, kind=kind, scale=4.0, **{**TINY, "episodes": 1, "check_every": 1,
                                                    "learning_rate": 1e-12})  # fmt: skip
    head.fit(X, y)
    assert head.residual_ and head.out_features_ == 8 and head.identity_val_score_ is not None
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(head.transform(X), 2.0 * unit, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["mlp", "glai"])
def test_a_residual_head_that_does_not_beat_its_start_returns_to_it(kind: str) -> None:
    # A learning rate that wrecks the network: no check beats the start on held-out classes,
    # so the head is its input again (f = 0), not the wreck.
    X, y = _blobs(8, 30)
    head = FewShotHead(16, kind=kind, scale=None, **{**TINY, "learning_rate": 50.0}).fit(X, y)
    assert head.kept_identity_ and head.validation_ == "classes"
    np.testing.assert_allclose(head.transform(X), X, rtol=1e-5, atol=1e-5)
    trainable = [p.detach() for p in head.network_.parameters() if p.requires_grad]
    assert all(float(p.abs().max()) == 0 for p in trainable)


def test_validation_holds_out_base_classes_and_falls_back_to_samples() -> None:
    X, y = _blobs(10, 30)
    head = FewShotHead(16, kind="mlp", **TINY)
    tr, va, what = head._split(y, np.random.default_rng(0))
    assert what == "classes" and len(np.unique(y[va])) == 2  # a fifth of 10, at least 2
    assert not set(y[tr]) & set(y[va]) and len(tr) + len(va) == len(y)
    tr, va, what = FewShotHead(16, validation="samples", **TINY)._split(y, np.random.default_rng(0))
    assert what == "samples" and set(y[va]) == set(y[tr]) and not set(tr) & set(va)
    # 3 classes: holding out 2 leaves 1 to train on, so samples of each class are held out
    y3 = np.repeat(np.arange(3), 60)
    assert head._split(y3, np.random.default_rng(0))[2] == "samples"
    fitted = FewShotHead(16, kind="mlp", **TINY).fit(*_blobs(3, 60))
    assert fitted.validation_ == "samples"


@pytest.mark.parametrize("kind", ["mlp", "glai"])
def test_candidate_scales_are_chosen_on_the_held_out_classes(kind: str) -> None:
    # Each candidate trains on the same episodes as a head fitted with that scale alone; the
    # one kept has the highest validation score on the held-out base classes.
    X, y = _blobs(10, 30)
    candidates = (1.0, 4.0, 30.0)
    head = FewShotHead(16, kind=kind, scale=candidates, **TINY).fit(X, y)
    alone = {s: FewShotHead(16, kind=kind, scale=s, **TINY).fit(X, y) for s in candidates}
    expected = {
        s: max(v for v in (h.best_val_score_, h.identity_val_score_) if v is not None)
        for s, h in alone.items()
    }
    assert head.scale_scores_ == pytest.approx(expected)
    chosen = max(candidates, key=lambda s: (expected[s], -candidates.index(s)))
    assert head.scale_ == chosen and head.validation_ == "classes"
    np.testing.assert_array_equal(head.transform(X), alone[chosen].transform(X))
    assert head.fit_seconds_ >= alone[chosen].fit_seconds_ * 0.5  # every candidate's cost
    one = FewShotHead(16, kind=kind, scale=[4.0], **TINY).fit(X, y)
    np.testing.assert_array_equal(one.transform(X), alone[4.0].transform(X))
    assert alone[4.0].scale_ == 4.0 and alone[4.0].scale_scores_ is None


@pytest.mark.parametrize("bad", [[], [1.0, -2.0], [np.nan], [0.0]])
def test_bad_candidate_scales_are_refused(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="scale as a sequence must hold"):
        FewShotHead(16, scale=bad, **TINY).fit(*_blobs(6, 30))


def test_out_features_and_residual_are_checked() -> None:
    X, y = _blobs(6, 30)
    with pytest.raises(ValueError, match="residual=True needs out_features equal to the input"):
        FewShotHead(16, 4, residual=True, **TINY).fit(X, y)
    head = FewShotHead(16, 4, kind="mlp", **TINY).fit(X, y)
    assert not head.residual_ and head.transform(X).shape == (180, 4)
    # a GLAI of the input width that the matched budget cannot pay for says what to pass
    Xw = np.random.default_rng(0).normal(size=(180, 64)).astype(np.float32)
    with pytest.raises(ValueError, match="out_features=None: the embedding is the input width"):
        FewShotHead(4, kind="glai", **TINY).fit(Xw, y)


# -- non-finite and beyond-float32 input -------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_evaluate_refuses_a_transform_that_returns_non_finite_embeddings(bad: float) -> None:
    # A transform returning NaN used to score 1 / n_way ("0.333").
    X, y = _blobs(5, 20)

    def broken(x: np.ndarray) -> np.ndarray:
        z = x.copy()
        z[4, 1] = bad
        return z

    with pytest.raises(ValueError, match=r"transform returned NaN or infinity for 1 of 100"):
        evaluate(X, y, transform=broken, n_way=3, k_shot=1, n_query=5, n_tasks=5)
    with pytest.raises(ValueError, match=r"transform returned NaN or infinity for 100 of 100"):
        evaluate(X, y, transform=lambda x: np.full_like(x, np.nan), n_way=3, n_tasks=5)


def test_evaluate_refuses_features_or_embeddings_beyond_float32() -> None:
    X, y = _blobs(5, 20)
    big = X.astype(np.float64)
    big[0, 0] = 1e39
    with pytest.raises(ValueError, match="X has values beyond float32's range"):
        evaluate(big, y, n_way=3, n_tasks=5)
    with pytest.raises(ValueError, match="transform returned NaN or infinity"):
        evaluate(X, y, transform=lambda x: x.astype(np.float64) * 1e38, n_way=3, n_tasks=5)


def test_few_shot_head_refuses_inf_and_values_beyond_float32() -> None:
    # FewShotHead.fit used to train on inf (a float64 beyond float32's range, cast).
    X, y = _blobs(6, 20)
    big = X.astype(np.float64)
    big[3, 2] = 1e39
    with pytest.raises(ValueError, match="X has values beyond float32's range"):
        FewShotHead(16, 4, kind="mlp", **TINY).fit(big, y)
    inf = X.copy()
    inf[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        FewShotHead(16, 4, kind="mlp", **TINY).fit(inf, y)
    head = FewShotHead(16, 4, kind="mlp", **TINY).fit(X, y)
    with pytest.raises(ValueError, match="X has values beyond float32's range"):
        head.transform(big)


def test_a_slice_of_tasks_is_those_tasks_of_the_full_draw() -> None:
    y = np.repeat(np.arange(8), 10)
    tasks = sample_tasks(y, n_way=3, k_shot=2, n_query=3, n_tasks=30, random_state=4)
    part = tasks[10:20]
    assert len(part) == 10 and part.shape == (10, 3, 2, 3)
    np.testing.assert_array_equal(part.support, tasks.support[10:20])
    np.testing.assert_array_equal(part.query, tasks.query[10:20])
    np.testing.assert_array_equal(part.classes, tasks.classes[10:20])
    with pytest.raises(TypeError, match="slice"):
        tasks[3]  # type: ignore[index]
