"""RidgeStatistics as a sum over rows: merge (sum), subtract (difference, forgetting), folds
and the penalty they choose, in float64, with the refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glai import MLP, freeze
from glai.solvers.ridge import RidgeStatistics, structure_digest


def _frozen(n: int = 400, n0: int = 5, n_out: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    mlp = MLP(n0, (6,), n_out).double()
    x = torch.randn(n, n0, dtype=torch.float64)
    model = freeze(mlp, x, prune_dead=False)
    labels = torch.randint(0, n_out, (n,))
    onehot = torch.nn.functional.one_hot(labels, n_out).double()
    return model, x, model.gates(x), onehot


def _close(a: RidgeStatistics, b: RidgeStatistics) -> None:
    for s, t in zip(a.tensors(), b.tensors()):
        torch.testing.assert_close(s, t, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("folds", [0, 5])
def test_any_order_and_split_gives_the_statistics_and_the_penalty_of_one_pass(folds: int) -> None:
    model, x, gates, y = _frozen()
    w = torch.rand(400, dtype=torch.float64)
    whole = RidgeStatistics(model, folds=folds).add(x, gates, y, w)
    rng = np.random.default_rng(0)
    for _ in range(3):  # orders and splits
        perm = torch.as_tensor(rng.permutation(400))
        cuts = sorted(rng.choice(np.arange(1, 400), size=3, replace=False).tolist())
        sites = []
        for lo, hi in zip([0, *cuts], [*cuts, 400]):
            rows = perm[lo:hi]
            sites.append(
                RidgeStatistics(model, folds=folds).add(x[rows], gates[rows], y[rows], w[rows])
            )
        merged = sites[0]
        for s in sites[1:]:
            merged.merge(s)
        _close(merged, whole)
        alphas = (1e-6, 1e-4, 1e-2, 1.0, 10.0)
        for rule in ("gcv", "kfold") if folds else ("gcv",):
            assert merged.choose_alpha(alphas, rule) == whole.choose_alpha(alphas, rule)
            torch.testing.assert_close(
                merged.penalty_scores(alphas, rule), whole.penalty_scores(alphas, rule),
                rtol=1e-9, atol=0,
            )  # fmt: skip
    if folds:  # the per-fold sums add up to the totals
        for g in whole.groups:
            torch.testing.assert_close(g.fold_gram.sum(0), g.gram, rtol=1e-12, atol=1e-9)
            torch.testing.assert_close(g.fold_cross.sum(0), g.cross, rtol=1e-12, atol=1e-9)
        assert float(whole.fold_weight.sum()) == pytest.approx(float(w.sum()), rel=1e-12)


@pytest.mark.parametrize("folds", [0, 4])
def test_subtracting_rows_gives_the_statistics_of_the_rest(folds: int) -> None:
    model, x, gates, y = _frozen()
    whole = RidgeStatistics(model, folds=folds).add(x, gates, y)
    gone = torch.arange(0, 400, 3)
    keep = torch.as_tensor(np.setdiff1d(np.arange(400), gone.numpy()))
    rest = RidgeStatistics(model, folds=folds).add(x[keep], gates[keep], y[keep])
    whole.subtract(RidgeStatistics(model, folds=folds).add(x[gone], gates[gone], y[gone]))
    _close(whole, rest)
    a, b = whole.solve([1e-3])[0], rest.solve([1e-3])[0]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-9, atol=1e-11)


def test_subtracting_rows_never_added_is_refused() -> None:
    model, x, gates, y = _frozen()
    stats = RidgeStatistics(model, folds=4).add(x[:200], gates[:200], y[:200])
    # a class with no rows yet: its weight would go negative
    c0 = (y[:, 0] == 1).nonzero().flatten()
    no0 = (y[:200, 0] == 0).nonzero().flatten()
    without0 = RidgeStatistics(model, folds=4).add(x[no0], gates[no0], y[no0])
    with pytest.raises(ValueError, match="not all added before"):
        without0.subtract(RidgeStatistics(model, folds=4).add(x[c0[:3]], gates[c0[:3]], y[c0[:3]]))
    # more rows than were added
    twice = (
        RidgeStatistics(model, folds=4)
        .add(x[:200], gates[:200], y[:200])
        .merge(RidgeStatistics(model, folds=4).add(x[:10], gates[:10], y[:10]))
    )
    with pytest.raises(ValueError, match="not all added before"):
        stats.subtract(twice)
    before = [t.clone() for t in stats.tensors()]
    # rows of other inputs land in folds where nothing of theirs was: refused, and the
    # statistics are left as they were
    with pytest.raises(ValueError, match="not all added before"):
        stats.subtract(RidgeStatistics(model, folds=4).add(x[200:], gates[200:], y[200:]))
    for a, b in zip(stats.tensors(), before):
        assert torch.equal(a, b)


def test_merge_refuses_other_structures_folds_and_dtypes() -> None:
    model, x, gates, y = _frozen()
    other, _, _, _ = _frozen(seed=1)  # same shapes, other gating weights
    assert structure_digest(model) != structure_digest(other)
    stats = RidgeStatistics(model)
    with pytest.raises(ValueError, match="different structures"):
        stats.merge(RidgeStatistics(other))
    with pytest.raises(ValueError, match="folds"):
        stats.merge(RidgeStatistics(model, folds=3))
    with pytest.raises(ValueError, match="float32"):
        stats.merge(RidgeStatistics(model, dtype=torch.float32))
    with pytest.raises(ValueError, match="folds must be"):
        RidgeStatistics(model, folds=1)
    with pytest.raises(ValueError, match="per fold"):
        stats.choose_alpha([1e-3], "kfold")
    with pytest.raises(ValueError, match="rule"):
        stats.choose_alpha([1e-3], "loo")


def test_empty_like_keeps_the_layout_and_no_rows() -> None:
    model, x, gates, y = _frozen()
    stats = RidgeStatistics(model, folds=3).add(x, gates, y)
    empty = stats.empty_like()
    assert all(float(t.abs().sum()) == 0 for t in empty.tensors())
    empty.add(x, gates, y)
    _close(empty, stats)
    assert float(stats.weight_sum) == 400  # the original is untouched


def test_all_reduce_order_covers_the_folds() -> None:
    # what ranks sum: every tensor, folds included, so a sum of tensors() is a merge
    model, x, gates, y = _frozen()
    a = RidgeStatistics(model, folds=3).add(x[:150], gates[:150], y[:150])
    b = RidgeStatistics(model, folds=3).add(x[150:], gates[150:], y[150:])
    for s, t in zip(a.tensors(), b.tensors()):
        s += t
    _close(a, RidgeStatistics(model, folds=3).add(x, gates, y))
