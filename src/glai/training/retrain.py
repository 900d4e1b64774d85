"""Retraining on a frozen structure: new data, shifted data, new outputs (classes).

Once the structure is frozen, GLAI's quantitative phase is a convex problem on fixed gates
(Mestre et al., 2025, arXiv:2510.00883, "Efficient Retraining"): new data need no structural
phase, and since output ``k`` only reads its own paths ``P_k``, new outputs can be solved
alone while the existing ones stay bit-for-bit what they were.

Both take the data (:class:`~glai.training.problem.Data`) and one :class:`Retraining`: the
objective, the solver and its settings, kept statistics.

* :func:`fit_quantities`: the quantitative phase again, on new data, from the current path
  weights (a gradient solver continues from them; a closed-form solver re-solves, adding the
  rows to kept :class:`~glai.solvers.Statistics` when given);
* :func:`fit_new_outputs`: append outputs on the frozen gates and fit only them. With a
  gradient solver their logits are trained next to the fixed logits of the existing outputs
  (cross-entropy needs the old classes' samples too, to learn to stay below them); with the
  closed form, the kept statistics already hold the old rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from glai.path_model import PathModel, join_outputs, new_outputs
from glai.solvers import Candidate, Statistics, get_solver
from glai.training.closed_form import closed_form_epochs, closed_form_targets, keep_best_candidate
from glai.training.config import TrainConfig
from glai.training.device import synchronize
from glai.training.history import History
from glai.training.iterative import train_epochs
from glai.training.predict import predict_batched
from glai.training.problem import Data, Objective, Rows

__all__ = ["Retraining", "fit_quantities", "fit_new_outputs"]


@dataclass(frozen=True)
class Retraining:
    """How a frozen model is fitted again.

    Attributes:
        objective: the loss trained on and the score that keeps the best epoch or candidate.
        config: the quantitative solver (``config.optimizer``) and its settings.
        generator: the minibatches of a gradient solver.
        statistics: a closed-form solver's kept sufficient statistics (from its
            ``new_statistics``: :class:`glai.solvers.Solver`); the new rows are added to
            them, and their earlier rows count too. None: none kept.
        verbose: a progress bar.
    """

    objective: Objective
    config: TrainConfig
    generator: torch.Generator
    statistics: Statistics | None = None
    verbose: bool = False


def _gates(
    model: PathModel, data: Data, history: History
) -> tuple[torch.Tensor, torch.Tensor]:
    gates, gates_val = model.gates(data.X), model.gates(data.X_val)
    synchronize(data.X.device)
    history.events["gates_seconds"] = history.elapsed()
    return gates, gates_val


def _train(
    model: nn.Module, train: Rows, val: Rows, how: Retraining, history: History, desc: str
) -> None:
    """The gradient loop of a retraining: ``model(*train.inputs)`` against ``train.y``."""
    config = how.config
    with tqdm(total=config.max_epochs, desc=desc, disable=not how.verbose, leave=False) as bar:
        train_epochs(
            model, train.inputs, train.y, val.inputs, val.y, loss_fn=how.objective.loss_fn,
            score_fn=how.objective.score_fn, config=config, history=history,
            phase="quantitative", generator=how.generator, sample_weight=train.sample_weight,
            progress=bar,
        )  # fmt: skip


def fit_quantities(model: PathModel, data: Data, how: Retraining) -> History:
    """The quantitative phase of a frozen ``model`` on ``data`` (``X [N, n_0]``, ``y``), in
    place.

    A minibatch or full-batch ``how.config.optimizer`` starts from the current ``theta, beta,
    beta0`` (a fresh optimiser; early stopping on the validation data, best epoch kept;
    ``max_epochs=0`` leaves the model as it is). A closed-form one fits one-hot ``y`` for
    labels (float ``y`` as it is), adding the rows to ``how.statistics`` when given (its
    earlier rows count too). Returns the history; its clock includes computing the gates.
    """
    history = History()
    gates, gates_val = _gates(model, data, history)
    X, y = data.X, data.y
    if get_solver(how.config.optimizer).kind == "closed_form":
        closed_form_epochs(
            model, (X, gates), closed_form_targets(y, model.out_features, X.dtype), y,
            (data.X_val, gates_val), data.y_val, loss_fn=how.objective.loss_fn,
            score_fn=how.objective.score_fn, config=how.config, history=history,
            sample_weight=data.sample_weight, statistics=how.statistics,
        )  # fmt: skip
        return history
    train = Rows((X, gates), y, data.sample_weight)
    _train(model, train, Rows((data.X_val, gates_val), data.y_val), how, history, "quant")
    return history


class _AfterFixed(nn.Module):
    """``[fixed, new(x, gates)]``: the logits of new outputs after fixed ones ``[N, n_old]``
    (precomputed: the old outputs do not change), so only ``new`` has parameters."""

    def __init__(self, new: PathModel) -> None:
        super().__init__()
        self.new = new

    def forward(self, x: torch.Tensor, gates: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        return torch.cat([fixed, self.new(x, gates)], dim=1)


def fit_new_outputs(
    model: PathModel, n_new: int, data: Data, how: Retraining
) -> tuple[PathModel, History]:
    """``model`` with ``n_new`` outputs appended and fitted alone on ``data``; ``model`` is not
    changed.

    The new outputs take the path set of :func:`~glai.path_model.new_outputs` on the frozen
    gates; ``data.y`` indexes the ``n_L + n_new`` outputs. The existing outputs keep their
    parameters, so their logits are bit-identical before and after.

    * gradient solver: the new parameters (from zero) are trained on ``(X, y)`` with the old
      logits fixed (computed once); ``(X, y)`` should hold samples of old outputs too, or the
      new logits learn to win everywhere.
    * closed form: ``how.statistics`` (required; the kept statistics of ``model``) follow the
      appended outputs (zero targets on the rows seen so far), take the rows ``(X, one-hot
      y)``, and only the new outputs are solved, for each ``config.alphas``, the best on
      validation kept. Old outputs are not re-solved, although their statistics now include
      the new rows: a later full solve of ``statistics`` refits everything.

    Returns ``(joined model, history)``.
    """
    new = new_outputs(model, n_new)
    history = History()
    solver, statistics = get_solver(how.config.optimizer), how.statistics
    X, y = data.X, data.y
    if solver.kind == "closed_form":
        if statistics is None or solver.refit is None:
            raise ValueError(
                "statistics are required to add outputs with a closed-form solver: the new "
                "outputs must also be fitted (to 0) on the rows the old outputs were solved on"
                + ("" if solver.refit else f"; {solver.name!r} keeps none (no refit)")
            )
        joined = join_outputs(model, new)
        gates, gates_val = _gates(joined, data, history)
        targets = closed_form_targets(y, joined.out_features, X.dtype)
        statistics.extend(joined).add(X, gates, targets, data.sample_weight)
        added = range(model.out_features, joined.out_features)
        # Candidates: the old parameters, with the new outputs' entries from each solve.
        old = {name: p.detach().clone() for name, p in joined.named_parameters()}
        rows = {"beta": (joined.output >= model.out_features).nonzero().flatten()}
        rows["theta"] = rows["beta"][rows["beta"] < joined.num_full]
        rows["beta0"] = torch.arange(model.out_features, joined.out_features)
        candidates = []
        for sol in solver.refit(statistics, how.config.alphas, "holdout", added):
            cand = {name: p.clone() for name, p in old.items()}
            for name, idx in rows.items():
                cand[name][idx] = getattr(sol, name)[idx].to(cand[name].dtype)
            candidates.append(Candidate.of(cand, sol.penalty))
        train, val = Rows((X, gates), y), Rows((data.X_val, gates_val), data.y_val)
        keep_best_candidate(joined, candidates, train, val, how.objective, history=history)
        return joined, history
    gates, gates_val = _gates(new, data, history)
    fixed = predict_batched(model, (X,))
    fixed_val = predict_batched(model, (data.X_val,))
    train = Rows((X, gates, fixed), y, data.sample_weight)
    val = Rows((data.X_val, gates_val, fixed_val), data.y_val)
    _train(_AfterFixed(new), train, val, how, history, "new")
    return join_outputs(model, new), history
