"""Heads trained apart, combined exactly: one structure, statistics summed.

After the freeze, a GLAI head with a closed-form quantitative phase is a ridge problem on fixed
path features, whose solution depends on the rows only through sums
(:class:`~glai.solvers.ridge.RidgeStatistics`). So heads that share one frozen structure can
each add their own rows and send their statistics once: their sum is the statistics of the
union, and its solve equals one fit on all rows (federated training in one round; the
authors' earlier GreenLightningAI system, arXiv:2312.09971, was built for this kind of
retraining and combination). No MLP head can be combined exactly; FedAvg needs many rounds.

    site = glai.share_structure(fitted)       # fitted's frozen structure, no rows
    site.partial_fit(X_site, y_site)          # at each site, its own rows
    head = glai.merge(site_a, site_b, ...)    # = one fit on the union, same structure

Under ``torch.distributed`` the same sums are one ``all_reduce`` of
:meth:`RidgeStatistics.tensors` (``glai train`` does it).
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from glai.estimators import GLAIClassifier, GLAIRegressor
from glai.training import History

__all__ = ["merge", "share_structure"]

_E = TypeVar("_E", GLAIClassifier, GLAIRegressor)


def _check_closed_form(est: Any, what: str) -> None:
    if not isinstance(est, (GLAIClassifier, GLAIRegressor)):
        raise TypeError(
            f"{what} takes GLAIClassifier or GLAIRegressor heads, got {type(est).__name__}"
        )
    check_is_fitted(est)
    if getattr(est, "ridge_statistics_", None) is None:
        raise ValueError(
            f"{what} needs heads whose quantitative phase is solved in closed form (their "
            f"statistics add up); this one was solved by {est.quant_optimizer_!r}: fit with "
            "quant_optimizer='ridge' (or 'ridge-ce')"
        )


def share_structure(est: _E) -> _E:
    """A copy of the fitted head ``est`` with its frozen structure and no rows.

    Its statistics are empty (same paths, folds and dtype) and its path weights zero; its
    ``partial_fit`` adds rows to its own statistics and re-solves, so that copies filled at
    different sites can be combined by :func:`merge`. Classes, target scaling and the penalty
    rule (and, with ``quant_penalty="holdout"``, ``alpha_``) are ``est``'s: every copy must
    agree on what the outputs mean. Nothing of ``est``'s rows is copied but what its structure
    learned from them.
    """
    _check_closed_form(est, "share_structure")
    out = copy.copy(est)
    out.model_ = copy.deepcopy(est.model_)
    out.ridge_statistics_ = est._kept_statistics("share_structure").empty_like()
    path_model = out._frozen_paths()
    with torch.no_grad():
        for p in path_model.parameters():
            p.zero_()
    out.path_model_ = path_model
    out.history_ = History()
    out.history_.events["structure_shared"] = True
    out._holdout = False
    out._set_fitted_attributes(continued=True, incremental=True)
    return out


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype.kind == b.dtype.kind and a.shape == b.shape and bool((a == b).all())


def merge(*estimators: _E) -> _E:
    """One head whose statistics are the sum of the ``estimators``' (at least one).

    Its solution equals one closed-form fit on the union of their rows, on the shared frozen
    structure, at the same penalty (up to float64 rounding of the sums): with
    ``quant_penalty`` ``"kfold"`` or ``"gcv"`` the penalty is chosen again from the merged
    statistics, which is the choice a single fit on the union makes; with ``"holdout"`` every
    head must carry the same ``alpha_`` (:func:`share_structure` copies it).

    Refused, with the reason: heads of different kinds, not fitted, not solved in closed
    form, whose structures differ (the gating network or the paths not bit-identical), whose
    classes (values, order or label type) or target scaling differ, or whose penalty rules or
    folds differ. The inputs are not changed.
    """
    if not estimators:
        raise ValueError("merge needs at least one estimator")
    first = estimators[0]
    for i, est in enumerate(estimators):
        _check_closed_form(est, "merge")
        if type(est) is not type(first):
            raise TypeError(
                f"merge: estimator {i} is a {type(est).__name__}, estimator 0 a "
                f"{type(first).__name__}"
            )
        if est.n_features_in_ != first.n_features_in_:
            raise ValueError(
                f"merge: estimator {i} takes {est.n_features_in_} features, estimator 0 "
                f"{first.n_features_in_}"
            )
        if est._kept_statistics("merge").structure != first._kept_statistics("merge").structure:
            raise ValueError(
                f"merge: estimator {i} has another frozen structure than estimator 0 (gates or "
                "paths not bit-identical), so the same rows have other path features; give "
                "every site glai.share_structure(one fitted head)"
            )
        if isinstance(first, GLAIClassifier) and not _same(est.classes_, first.classes_):
            raise ValueError(
                f"merge: estimator {i}'s classes {est.classes_[:10].tolist()} "
                f"({est.classes_.dtype}) differ from estimator 0's "
                f"{first.classes_[:10].tolist()} ({first.classes_.dtype}): values, order and "
                "label type must match (share one structure with all classes)"
            )
        if isinstance(first, GLAIRegressor) and not (
            _same(est._y_mean, first._y_mean) and _same(est._y_scale, first._y_scale)
        ):
            raise ValueError(
                f"merge: estimator {i} standardises its targets otherwise than estimator 0 "
                "(they were fitted apart); give every site glai.share_structure(one fitted head)"
            )
        if est.quant_penalty_ != first.quant_penalty_:
            raise ValueError(
                f"merge: estimator {i} chooses its penalty by {est.quant_penalty_!r}, "
                f"estimator 0 by {first.quant_penalty_!r}"
            )
        if first.quant_penalty_ == "holdout" and est.alpha_ != first.alpha_:
            raise ValueError(
                f"merge: estimator {i} solves at alpha {est.alpha_}, estimator 0 at "
                f"{first.alpha_}; with quant_penalty='holdout' the heads must share alpha_ "
                "(share_structure copies it), or use quant_penalty='kfold' to choose it from "
                "the merged statistics"
            )
    out = copy.copy(first)
    out.model_ = copy.deepcopy(first.model_)
    stats = first._kept_statistics("merge").empty_like()
    for est in estimators:
        stats.merge(est._kept_statistics("merge"))
    out.ridge_statistics_ = stats
    out._solve_statistics()
    out.path_model_ = out._frozen_paths()
    out.history_ = History()
    out.history_.events["merged"] = len(estimators)
    out._holdout = False
    out._set_fitted_attributes(continued=True, incremental=True)
    return out
