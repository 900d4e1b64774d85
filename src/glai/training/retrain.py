"""Retraining on a frozen structure: new data, shifted data, new outputs (classes).

Once the structure is frozen, GLAI's quantitative phase is a convex problem on fixed gates
(Mestre et al., 2025, arXiv:2510.00883, "Efficient Retraining"): new data need no structural
phase, and since output ``k`` only reads its own paths ``P_k``, new outputs can be solved
alone while the existing ones stay bit-for-bit what they were.

* :func:`fit_quantities`: the quantitative phase again, on new data, from the current path
  weights (a gradient solver continues from them; a closed-form solver re-solves, adding the
  rows to kept :class:`~glai.solvers.Statistics` when given);
* :func:`fit_new_outputs`: append outputs on the frozen gates and fit only them. With a
  gradient solver their logits are trained next to the fixed logits of the existing outputs
  (cross-entropy needs the old classes' samples too, to learn to stay below them); with the
  closed form, the kept statistics already hold the old rows.
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from glai.path_model import PathModel, join_outputs, new_outputs
from glai.solvers import Candidate, Statistics, get_solver
from glai.training.closed_form import closed_form_epochs, closed_form_targets, keep_best_candidate
from glai.training.config import TrainConfig
from glai.training.device import synchronize
from glai.training.epochs import LossFn, ScoreFn
from glai.training.history import History
from glai.training.iterative import train_epochs
from glai.training.predict import predict_batched

__all__ = ["fit_quantities", "fit_new_outputs"]


def _gates(
    model: PathModel, X: torch.Tensor, X_val: torch.Tensor, history: History
) -> tuple[torch.Tensor, torch.Tensor]:
    gates, gates_val = model.gates(X), model.gates(X_val)
    synchronize(X.device)
    history.events["gates_seconds"] = history.elapsed()
    return gates, gates_val


def fit_quantities(
    model: PathModel,
    X: torch.Tensor,
    y: torch.Tensor,
    X_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    loss_fn: LossFn,
    score_fn: ScoreFn,
    config: TrainConfig,
    generator: torch.Generator,
    sample_weight: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    statistics: Statistics | None = None,
    verbose: bool = False,
) -> History:
    """The quantitative phase of a frozen ``model`` on ``X [N, n_0]``, ``y``, in place.

    A minibatch or full-batch ``config.optimizer`` starts from the current ``theta, beta,
    beta0`` (a fresh optimiser; early stopping on the validation data, best epoch kept;
    ``config.max_epochs=0`` leaves the model as it is). A closed-form one fits ``targets``
    (default: one-hot ``y`` for labels), adding the rows to ``statistics`` when given (its
    earlier rows count too). Returns the history; its clock includes computing the gates.
    """
    history = History()
    gates, gates_val = _gates(model, X, X_val, history)
    if get_solver(config.optimizer).kind == "closed_form":
        if targets is None:
            targets = closed_form_targets(y, model.out_features, X.dtype)
        closed_form_epochs(
            model, (X, gates), targets, y, (X_val, gates_val), y_val, loss_fn=loss_fn,
            score_fn=score_fn, config=config, history=history, sample_weight=sample_weight,
            statistics=statistics,
        )  # fmt: skip
        return history
    with tqdm(total=config.max_epochs, desc="quant", disable=not verbose, leave=False) as bar:
        train_epochs(
            model, (X, gates), y, (X_val, gates_val), y_val, loss_fn=loss_fn,
            score_fn=score_fn, config=config, history=history, phase="quantitative",
            generator=generator, sample_weight=sample_weight, progress=bar,
        )  # fmt: skip
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
    model: PathModel,
    n_new: int,
    X: torch.Tensor,
    y: torch.Tensor,
    X_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    loss_fn: LossFn,
    score_fn: ScoreFn,
    config: TrainConfig,
    generator: torch.Generator,
    sample_weight: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    statistics: Statistics | None = None,
    verbose: bool = False,
) -> tuple[PathModel, History]:
    """``model`` with ``n_new`` outputs appended and fitted alone; ``model`` is not changed.

    The new outputs take the path set of :func:`~glai.path_model.new_outputs` on the frozen
    gates; ``y`` indexes the ``n_L + n_new`` outputs. The existing outputs keep their
    parameters, so their logits are bit-identical before and after.

    * gradient solver: the new parameters (from zero) are trained on ``(X, y)`` with the old
      logits fixed (computed once); ``(X, y)`` should hold samples of old outputs too, or the
      new logits learn to win everywhere.
    * closed form: ``statistics`` (required; the kept statistics of ``model``) follow the
      appended outputs (zero targets on the rows seen so far), take the rows ``(X,
      targets)``, and only the new outputs are solved, for each ``config.alphas``, the best on
      validation kept. Old outputs are not re-solved, although their statistics now include
      the new rows: a later full solve of ``statistics`` refits everything.

    Returns ``(joined model, history)``.
    """
    new = new_outputs(model, n_new)
    history = History()
    solver = get_solver(config.optimizer)
    if solver.kind == "closed_form":
        if statistics is None or solver.refit is None:
            raise ValueError(
                "statistics are required to add outputs with a closed-form solver: the new "
                "outputs must also be fitted (to 0) on the rows the old outputs were solved on"
                + ("" if solver.refit else f"; {solver.name!r} keeps none (no refit)")
            )
        joined = join_outputs(model, new)
        gates, gates_val = _gates(joined, X, X_val, history)
        if targets is None:
            targets = closed_form_targets(y, joined.out_features, X.dtype)
        statistics.extend(joined).add(X, gates, targets, sample_weight)
        added = range(model.out_features, joined.out_features)
        # Candidates: the old parameters, with the new outputs' entries from each solve.
        old = {name: p.detach().clone() for name, p in joined.named_parameters()}
        rows = {"beta": (joined.output >= model.out_features).nonzero().flatten()}
        rows["theta"] = rows["beta"][rows["beta"] < joined.num_full]
        rows["beta0"] = torch.arange(model.out_features, joined.out_features)
        candidates = []
        for sol in solver.refit(statistics, config.alphas, "holdout", added):
            cand = {name: p.clone() for name, p in old.items()}
            for name, idx in rows.items():
                cand[name][idx] = getattr(sol, name)[idx].to(cand[name].dtype)
            candidates.append(Candidate.of(cand, sol.penalty))
        keep_best_candidate(
            joined, candidates, (X, gates), y, (X_val, gates_val), y_val, loss_fn=loss_fn,
            score_fn=score_fn, history=history,
        )  # fmt: skip
        return joined, history
    gates, gates_val = _gates(new, X, X_val, history)
    fixed = predict_batched(model, (X,))
    fixed_val = predict_batched(model, (X_val,))
    with tqdm(total=config.max_epochs, desc="new", disable=not verbose, leave=False) as bar:
        train_epochs(
            _AfterFixed(new), (X, gates, fixed), y, (X_val, gates_val, fixed_val), y_val,
            loss_fn=loss_fn, score_fn=score_fn, config=config, history=history,
            phase="quantitative", generator=generator, sample_weight=sample_weight,
            progress=bar,
        )  # fmt: skip
    return join_outputs(model, new), history
