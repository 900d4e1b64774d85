"""Quantitative solvers behind one registry: a dict from name to :class:`Solver`.

Everyone who validates or dispatches an optimiser name reads :data:`SOLVERS`:
:class:`glai.training.TrainConfig` checks names against it, the training loop dispatches on
:attr:`Solver.kind`, and the estimators build their parameter constraints from it. A solver is
one of three kinds:

* ``"minibatch"``: ``make_optimizer(params, config) -> torch.optim.Optimizer``, stepped once per
  minibatch (data parallel under ``torch.distributed``);
* ``"full_batch"``: the same factory; the optimiser is stepped once per epoch with a closure
  that evaluates the loss on the whole training set (e.g. L-BFGS);
* ``"closed_form"``: ``solve(model, x, gates, targets, config, *, sample_weight=None)`` is a
  generator of :class:`Candidate` s, parameters of a :class:`~glai.path_model.PathModel` with
  the penalty each was solved at (e.g. one per regularisation strength); the loop records
  each as it arrives, sends its validation score back into the generator
  (``score = yield candidate``), so that a solver may continue from its best candidate so far,
  keeps the best and reports its penalty (``history.events["closed_form_penalty"]``, the
  estimators' ``alpha_``). Closed-form solvers only fit a path model's quantitative phase.
  Under ``torch.distributed`` the loop also passes ``reduce=``, a sum over the ranks to apply
  to the solver's sufficient statistics (each rank holds a shard of the rows). A solver that
  keeps statistics (:class:`Statistics`, e.g. :class:`~glai.solvers.ridge.RidgeStatistics`)
  registers ``new_statistics`` and ``refit``: the caller asks it for empty statistics, passes
  them as ``statistics=`` (they receive the rows and the caller keeps them, so later rows,
  ``partial_fit``, add to them), and re-solves them with ``refit`` (new outputs, forgotten
  rows) without the old rows.

Adding a solver: write ``solvers/NAME.py`` with its factory or ``solve`` function, then add one
line to :data:`SOLVERS` below (``tests/solvers/test_toy_solver.py`` does exactly that for a
closed-form one and fits every head with it). The hyper-parameters a solver reads come from
:class:`glai.training.TrainConfig`; list them in :class:`SolverConfig`. The ``"auto"`` rule
and the rules for fitting without a hold-out live in :mod:`glai.solvers.auto`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set

from glai.solvers import adam, lbfgs, ridge, ridge_ce
from glai.solvers.base import (
    ITERATIVE_KINDS,
    KINDS,
    Candidate,
    ClosedFormSolve,
    OptimizerFactory,
    Solver,
    SolverConfig,
    SolverKind,
    Statistics,
)
from glai.solvers.ridge import RidgeStatistics, path_features, ridge_paths, ridge_unknowns

__all__ = [
    "ITERATIVE_KINDS",
    "RidgeStatistics",
    "KINDS",
    "Candidate",
    "ClosedFormSolve",
    "OptimizerFactory",
    "SOLVERS",
    "Solver",
    "SolverConfig",
    "SolverKind",
    "Statistics",
    "RegisteredNames",
    "get_solver",
    "solver_names",
    # the ridge solver's building blocks, importable from here as before the registry
    "path_features",
    "ridge_paths",
    "ridge_unknowns",
]

SOLVERS: dict[str, Solver] = {
    s.name: s
    for s in (
        Solver("adam", "minibatch", "Adam on minibatches", make_optimizer=adam.make_optimizer),
        Solver("lbfgs", "full_batch", "L-BFGS, strong-Wolfe line search, one step per epoch "
               "of lbfgs_iter iterations", make_optimizer=lbfgs.make_optimizer),
        Solver("ridge", "closed_form", "closed-form ridge on the path features, one solve per "
               "value of alphas (path models only)", solve=ridge.solve,
               new_statistics=ridge.new_statistics, refit=ridge.refit),
        Solver("ridge-ce", "closed_form", "ridge, then an L-BFGS cross-entropy polish "
               "preconditioned by the ridge factor (path-model classifiers only)",
               solve=ridge_ce.solve, new_statistics=ridge.new_statistics,
               refit=ridge.refit),
    )
}  # fmt: skip


def get_solver(name: str) -> Solver:
    """The registered solver called ``name``; a ValueError listing the known names otherwise."""
    solver = SOLVERS.get(name) if isinstance(name, str) else None
    if solver is None:
        raise ValueError(f"unknown solver {name!r}; known: {', '.join(SOLVERS)}")
    return solver


def solver_names(kinds: Iterable[SolverKind] | None = None) -> list[str]:
    """Registered names, in registration order; only those of ``kinds`` when given."""
    wanted = KINDS if kinds is None else tuple(kinds)
    return [name for name, solver in SOLVERS.items() if solver.kind in wanted]


class RegisteredNames(Set[str]):
    """A live view of the names in :data:`SOLVERS` (of ``kinds`` when given), plus ``extra``:
    what the estimators' parameter constraints hold, so that a solver registered after import
    is accepted, and one removed is refused, without rebuilding them."""

    def __init__(self, kinds: Iterable[SolverKind] | None = None, extra: Iterable[str] = ()):
        self.kinds = KINDS if kinds is None else tuple(kinds)
        self.extra = tuple(extra)

    def __contains__(self, name: object) -> bool:
        if name in self.extra:
            return True
        solver = SOLVERS.get(name) if isinstance(name, str) else None
        return solver is not None and solver.kind in self.kinds

    def __iter__(self) -> Iterator[str]:
        return iter([*self.extra, *solver_names(self.kinds)])

    def __len__(self) -> int:
        return len(self.extra) + len(solver_names(self.kinds))
