"""glai.solvers: the registry that TrainConfig, the training loop and the estimators read."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
import torch.nn.functional as F

from glai import GLAIClassifier, GLAIRegressor, MLPHeadClassifier, MLPHeadRegressor, freeze
from glai.mlp import MLP
from glai.solvers import (
    ITERATIVE_KINDS,
    KINDS,
    SOLVERS,
    Solver,
    SolverConfig,
    get_solver,
    solver_names,
)
from glai.training import History, TrainConfig, train_epochs


def _ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y, reduction="none")


def _accuracy(out: torch.Tensor, y: torch.Tensor) -> float:
    return float((out.argmax(dim=1) == y).float().mean())


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(64, 4)
    return x, (x[:, 0] > 0).long()


def test_registry_names_kinds_and_callables() -> None:
    assert solver_names() == ["adam", "lbfgs", "ridge", "ridge-ce"]
    assert solver_names(ITERATIVE_KINDS) == ["adam", "lbfgs"]
    assert solver_names(["closed_form"]) == ["ridge", "ridge-ce"]
    for name, solver in SOLVERS.items():
        assert solver.name == name and solver.kind in KINDS and solver.description
        assert (solver.solve is not None) == (solver.kind == "closed_form")
        assert (solver.make_optimizer is not None) == (solver.kind != "closed_form")


@pytest.mark.parametrize("bad", ["sgd", "", "Adam", None])
def test_get_solver_names_the_known_solvers(bad: object) -> None:
    known = r"unknown solver .*; known: adam, lbfgs, ridge, ridge-ce$"
    with pytest.raises(ValueError, match=known):
        get_solver(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^optimizer: unknown solver"):
        TrainConfig(optimizer=bad)  # type: ignore[arg-type]


def test_factories_build_the_named_optimisers_with_the_config() -> None:
    params = [torch.nn.Parameter(torch.zeros(3))]
    config = TrainConfig(lr=0.25, weight_decay=0.5, lbfgs_iter=7)
    adam = get_solver("adam").make_optimizer
    lbfgs = get_solver("lbfgs").make_optimizer
    assert adam is not None and lbfgs is not None
    opt = adam(params, config)
    assert isinstance(opt, torch.optim.Adam)
    assert opt.defaults["lr"] == 0.25 and opt.defaults["weight_decay"] == 0.5
    opt = lbfgs(params, config)
    assert isinstance(opt, torch.optim.LBFGS)
    assert opt.defaults["lr"] == 0.25 and opt.defaults["max_iter"] == 7


def test_a_solver_spec_must_match_its_kind() -> None:
    with pytest.raises(ValueError, match="needs solve"):
        Solver("x", "closed_form", "no solve", make_optimizer=get_solver("adam").make_optimizer)
    with pytest.raises(ValueError, match="needs make_optimizer"):
        Solver("x", "minibatch", "no factory")
    with pytest.raises(ValueError, match="solver kind must be one of"):
        Solver("x", "online", "bad kind", solve=get_solver("ridge").solve)  # type: ignore[arg-type]


def test_the_loop_refuses_a_closed_form_solver_instead_of_running_another() -> None:
    # Before the registry, any optimizer other than "adam" silently ran full-batch L-BFGS.
    x, y = _data()
    model = freeze(MLP(4, 3, 2), x, prune_dead=False)
    gates = model.gates(x)
    with pytest.raises(ValueError, match="'ridge' is a closed-form solver.*adam, lbfgs"):
        train_epochs(
            model, (x, gates), y, (x, gates), y, loss_fn=_ce, score_fn=_accuracy,
            config=TrainConfig(optimizer="ridge", max_epochs=2), history=History(),
            phase="quantitative", generator=torch.Generator().manual_seed(0),
        )  # fmt: skip


def test_a_registered_solver_is_used_by_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # Adding a solver is one entry in SOLVERS: TrainConfig accepts it, the loop calls it.
    built: list[torch.optim.Optimizer] = []

    def make_sgd(params: Sequence[torch.nn.Parameter], config: SolverConfig) -> torch.optim.SGD:
        built.append(torch.optim.SGD(params, lr=config.lr))
        return built[-1]

    monkeypatch.setitem(SOLVERS, "sgd", Solver("sgd", "minibatch", "plain SGD", make_sgd))
    x, y = _data()
    model = MLP(4, 3, 2)
    before = [p.detach().clone() for p in model.parameters()]
    history = History()
    train_epochs(
        model, (x,), y, (x,), y, loss_fn=_ce, score_fn=_accuracy,
        config=TrainConfig(optimizer="sgd", lr=0.1, max_epochs=2, patience=None),
        history=history, phase="mlp", generator=torch.Generator().manual_seed(0),
        keep_best=False,
    )  # fmt: skip
    assert len(built) == 1 and len(history.records) == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("cls", [GLAIClassifier, GLAIRegressor])
def test_glai_estimators_accept_every_registered_solver_for_the_quantitative_phase(
    cls: type,
) -> None:
    # and "auto", which picks one of them after the freeze (glai.solvers.auto)
    options = cls._parameter_constraints["quant_optimizer"][0].options
    assert options == {"auto", *solver_names()}


ALL = [GLAIClassifier, GLAIRegressor, MLPHeadClassifier, MLPHeadRegressor]


@pytest.mark.parametrize("cls", ALL)
def test_estimators_accept_the_iterative_solvers_for_the_network(cls: type) -> None:
    options = cls._parameter_constraints["optimizer"][0].options
    assert options == set(solver_names(ITERATIVE_KINDS))
