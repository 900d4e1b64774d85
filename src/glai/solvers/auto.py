"""``quant_optimizer="auto"`` and fitting without a hold-out: the solver rules, in one place.

* :func:`choose_solver`: what ``"auto"`` stands for after the freeze (below);
* :func:`closed_form_for`: the closed-form solver ``"auto"`` may pick (what its statistics are
  kept for before the choice);
* :func:`without_holdout`: what ``"auto"`` stands for before the freeze when no rows are held
  out for validation;
* :func:`resolve_penalty`: how the closed form picks its penalty (``quant_penalty``).

**(choice, ours)** After the freeze the problem is known: ``N`` training samples, ``K``
outputs, ``D`` unknowns per output (``|P_k| (n_0 + 1) + |Q_k| + 1``), ``m`` gate columns.
The rule compares floating-point work (counted below) and takes the closed form when it costs
at most what Adam spends before its best epoch:

    closed  = gram(N, n_0, m) + alphas * groups * D^3 / 3 * F64 + polish * pass(N, K, D)
    adam    = ADAM_EPOCHS * epoch(N, K, D),      epoch = 6 N K D * STEP_OVERHEAD,
    pass    = 6 N K D                            (one full-batch cross-entropy pass),

    "ridge-ce" (classifiers) / "ridge" (regressors)  if closed <= adam, else "adam".

``gram`` is the pattern-by-pattern Gram's own cost model (:mod:`glai.solvers.gram`), ``F64``
the cost of a float64 flop in float32 flops, ``STEP_OVERHEAD`` what Python, the optimiser step
and minibatch gathering add to a minibatch epoch over a full-batch pass, and ``ADAM_EPOCHS``
the epochs the default Adam takes to its best quantitative epoch. The constants are measured
(BENCHMARKS.md, "The closed-form step"); on CUDA the per-step overhead is far larger
relative to the flops, and so is ``STEP_OVERHEAD``. A regressor's squared loss is the ridge
objective itself, so it never needs the polish. The primal form is counted even where there
are fewer samples than unknowns: the estimators keep the primal statistics (``D x D``) for
``partial_fit``, so they never solve in the dual.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from glai.path_model import PathModel
from glai.solvers.gram import best_group_size
from glai.solvers.penalty import PENALTY_RULES
from glai.solvers.ridge import output_columns, ridge_unknowns

__all__ = [
    "AUTO", "AutoCosts", "POLISH_PASSES", "choose_solver", "closed_form_cost",
    "closed_form_for", "resolve_penalty", "without_holdout",
]  # fmt: skip

AUTO = "auto"

F64 = 2.0  # a float64 flop costs two float32 flops (CPU: measured 2.0x for the Cholesky)


@dataclass(frozen=True)
class AutoCosts:
    """Work estimates (float32 flops) behind one choice of :func:`choose_solver`."""

    closed_form: float
    adam: float
    solver: str


# (choice) measured constants per device type: (ADAM_EPOCHS, STEP_OVERHEAD, POLISH_PASSES).
# ADAM_EPOCHS: the default Adam's best quantitative epoch was 8-11 on WordNet features and 5-8
# on Fashion features (BENCHMARKS.md). STEP_OVERHEAD: a minibatch epoch over a full-batch
# cross-entropy pass of the same model, 1.9 on one CPU thread (0.88 s vs 0.46 s; 9.8 s vs
# 5.2 s loaded) and 55-84 on an H200 (0.33-0.51 s vs 0.006 s). POLISH_PASSES: the polish
# runs to its best iterate and POLISH_PATIENCE more; in the 5-seed WordNet rerun it ran 10-14
# full-batch passes (best at the 6th-11th), so 12 (BENCHMARKS.md, "The `auto` rule").
POLISH_PASSES = 12.0
CONSTANTS: dict[str, tuple[float, float, float]] = {
    "cpu": (10.0, 2.0, POLISH_PASSES),
    "cuda": (10.0, 50.0, POLISH_PASSES),
}


def closed_form_cost(
    n: int, n0: int, unknowns: int, gate_columns: int, outputs: int, groups: int, alphas: int,
    polish_passes: float,
) -> float:  # fmt: skip
    """Float32 flops of the closed form: Gram, one factorisation per penalty, the polish."""
    d1 = n0 + 1
    g = best_group_size(n, gate_columns, min(n, 2**min(gate_columns, 30)))
    pairs = -(-gate_columns // g) * (-(-gate_columns // g) + 1) / 2
    gram_units = (
        n + min(n, 2**gate_columns) * gate_columns**2
        if g >= gate_columns
        else pairs * (n * (1 - 2.0**-g) ** 2 + min(n, 4**g) * g * g)
    )
    gram = 2.0 * gram_units * d1 * d1 * groups  # one Gram per path set
    factor = alphas * groups * unknowns**3 / 3 * F64
    return gram + factor + polish_passes * 6.0 * n * outputs * unknowns


def choose_solver(
    model: PathModel,
    n_samples: int,
    *,
    classifier: bool,
    alphas: int = 4,
    device: torch.device | str = "cpu",
) -> AutoCosts:
    """The solver ``"auto"`` stands for on this frozen ``model`` and ``n_samples`` (module doc)."""
    device_type = torch.device(device).type
    adam_epochs, overhead, polish = CONSTANTS.get(device_type, CONSTANTS["cpu"])
    unknowns = ridge_unknowns(model)
    k = model.out_features
    groups = len(set(output_columns(model)[1]))
    chains = int(torch.unique(model.units[: model.num_full], dim=0).shape[0])
    closed = closed_form_cost(
        n_samples, model.in_features, unknowns, chains, k, groups, alphas,
        polish if classifier else 0.0,
    )  # fmt: skip
    adam = adam_epochs * overhead * 6.0 * n_samples * k * unknowns
    if closed <= adam:
        return AutoCosts(closed, adam, closed_form_for(classifier))
    return AutoCosts(closed, adam, "adam")


def closed_form_for(classifier: bool) -> str:
    """The closed-form solver ``"auto"`` picks when it picks one: ``"ridge-ce"`` for a
    classifier (the polish fits its cross-entropy), ``"ridge"`` for a regressor (its squared
    loss is the ridge objective)."""
    return "ridge-ce" if classifier else "ridge"


def without_holdout(optimizer: str, holdout: bool, penalty: str = AUTO) -> str:
    """The quantitative solver ``optimizer`` stands for before the freeze: ``"auto"`` means
    ``"adam"`` when no data are held out (choice: the closed form picks its penalty on
    validation data, and on the training loss would always pick the weakest), unless
    ``penalty`` (``quant_penalty``) names a rule that needs no hold-out (``"kfold"``,
    ``"gcv"``: BENCHMARKS.md, "A penalty without a hold-out"); otherwise it stays, for
    :func:`choose_solver` to resolve after the freeze. Measured (BENCHMARKS.md, "``auto`` with
    nothing held out"): on small data the closed form with a k-fold penalty was 20-40x slower
    than Adam and no more accurate, and given the choice the cost rule picked Adam anyway, so
    Adam stays the no-hold-out default."""
    needs_holdout = penalty not in ("kfold", "gcv")
    return "adam" if optimizer == AUTO and not holdout and needs_holdout else optimizer


def resolve_penalty(value: str, holdout: bool) -> str:
    """The rule ``quant_penalty`` stands for: ``"auto"`` is ``"holdout"`` when rows are held
    out for validation, else ``"kfold"`` (ours: the closed form then needs no hold-out)."""
    if value == AUTO:
        return "holdout" if holdout else "kfold"
    if value not in PENALTY_RULES:
        raise ValueError(f"penalty rule must be 'auto' or one of {PENALTY_RULES}, got {value!r}")
    return value
