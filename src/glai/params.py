"""Every public hyper-parameter of glai once: its default, its constraint and its description.

One :class:`Param` per name in :data:`PARAMS`. Everyone who takes a hyper-parameter reads it
from here: the estimators (their ``__init__`` defaults, ``_parameter_constraints`` and the
numpydoc ``Parameters`` section of their docstrings), :class:`glai.training.TrainConfig`,
:class:`glai.run.RunConfig`, the ``glai train`` command, the few-shot and SSL heads. A default
changed here changes everywhere at once; a head that means something else by a name (the
few-shot head's ``patience`` counts checks, not epochs) overrides the entry with
:func:`spec`, in the open.

The ``"auto"`` values are rules, written once below: :func:`resolve_batch_size`,
:func:`holdout_fraction`, :func:`check_every` and :func:`quant_learning_rate` (the
quantitative phase's step, ``learning_rate / 3``). ``quant_optimizer="auto"`` is a solver
choice and lives with the solvers (:mod:`glai.solvers.auto`).

Renaming a parameter (e.g. to scikit-learn's vocabulary) is one entry: the new name's
:class:`Param` with ``aliases=(Alias("old_name"),)`` (an :class:`Alias` may convert the old
value: ``patience=p`` is ``n_iter_no_change=p - 1``). :func:`constraints` then also accepts the
old name (its values, or the marker :data:`DEPRECATED`, the old name's default in the
signatures), :func:`numpydoc` documents it as deprecated, and :func:`resolve_aliases`, called
at the start of ``fit``, returns the value to use with a ``FutureWarning`` when the old name
was set.

The heads (:mod:`glai.estimators`) speak scikit-learn's ``MLPClassifier`` vocabulary, with its
meanings: ``max_iter``, ``learning_rate_init``, ``alpha``, ``n_iter_no_change``,
``early_stopping``, ``shuffle``... (:func:`head_spec` holds the two names the heads mean
differently from the loop: ``learning_rate``, the schedule, and the deprecated
``weight_decay``). :class:`glai.training.TrainConfig`, :class:`glai.run.RunConfig` and the
few-shot head keep the loop's names (``max_epochs``, ``learning_rate``, ``patience``,
``weight_decay``), whose entries stay below.
"""

from __future__ import annotations

import os
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Hidden, Interval, Options, StrOptions

from glai.device import is_device
from glai.solvers import ITERATIVE_KINDS, RegisteredNames
from glai.solvers.auto import AUTO
from glai.solvers.penalty import PENALTY_RULES
from glai.structure import StopRule

__all__ = [
    "AUTO",
    "AUTO_BATCH_SIZE",
    "AUTO_CHECK_STEPS",
    "AUTO_HOLDOUT_MIN_SAMPLES",
    "AUTO_VALIDATION_FRACTION",
    "Alias",
    "DEPRECATED",
    "PARAMS",
    "QUANT_LR_DIVISOR",
    "Param",
    "check_every",
    "constraints",
    "defaults",
    "head_spec",
    "holdout_fraction",
    "numpydoc",
    "quant_learning_rate",
    "resolve_aliases",
    "resolve_batch_size",
    "spec",
]

DEPRECATED = "deprecated"  # the default of a renamed parameter's old name

# batch_size="auto" = min(AUTO_BATCH_SIZE, n_train), as scikit-learn's MLP does with 200:
# 256 suits frozen features of thousands of samples; on a few hundred it would be one step per
# epoch.
AUTO_BATCH_SIZE = 256
# validation_fraction="auto" holds out AUTO_VALIDATION_FRACTION of the training data only from
# AUTO_HOLDOUT_MIN_SAMPLES samples up (choice): below that a tenth is too few samples to rank
# epochs by (on 100 samples, 10; one sample is 10 points of accuracy) and costs a tenth of
# scarce data, so training uses every sample and stops on the training loss, as
# scikit-learn's MLPClassifier does by default.
AUTO_VALIDATION_FRACTION = 0.1
AUTO_HOLDOUT_MIN_SAMPLES = 2000
# structure_check_every="auto" (beyond the paper): check m_t every AUTO_CHECK_STEPS optimiser
# steps when an epoch is longer, else once per epoch. Measured (BENCHMARKS.md, "Freezing
# earlier"): on WordNet features (322 steps per epoch) the default rule then froze after ~5
# epochs instead of 12 at no measurable cost (-0.05 MVA points, 3 seeds), while freezing
# after 1 epoch cost 1.3 test points; a fixed step count would hold small data sets (a few
# steps per epoch) in the structural phase for many epochs, hence the cap at one epoch.
AUTO_CHECK_STEPS = 100
# The loop's step, epoch limit and patience: the heads' learning_rate_init, max_iter and
# n_iter_no_change (= patience - 1, scikit-learn's counting) read them too.
_LEARNING_RATE = 1e-3
_MAX_EPOCHS = 200
_PATIENCE = 10
# quant_learning_rate=None = learning_rate / QUANT_LR_DIVISOR: at the MLP's step size the convex
# phase lost 1 point on both frozen-feature settings (BENCHMARKS.md).
QUANT_LR_DIVISOR = 3.0


class _Device(Options):
    """A torch device: a ``torch.device``, ``"auto"``, or a string torch parses (``"cpu"``,
    ``"cuda:1"``). Whether CUDA is there is checked when fitting. (An ``Options`` only because
    scikit-learn's validation takes no other kind of custom constraint.)"""

    def __init__(self) -> None:
        super().__init__(object, set())

    def is_satisfied_by(self, val: object) -> bool:
        return is_device(val)

    def __str__(self) -> str:
        return "a torch device ('cpu', 'cuda', 'cuda:1', 'auto' or a torch.device)"


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Alias:
    """A deprecated old name of a parameter: its ``name``, how an old value becomes the new
    one (``convert``), the ``constraints`` its old values satisfy (None: the new name's) and
    the numpydoc ``type``/``doc`` of the old name (empty: those of a plain alias)."""

    name: str
    convert: Callable[[Any], Any] = _same
    constraints: tuple[Any, ...] | None = None
    type: str = ""
    doc: str = ""


def _fill(text: str, indent: str) -> str:
    return textwrap.fill(
        " ".join(text.split()), 92 - len(indent), initial_indent=indent + "    ",
        subsequent_indent=indent + "    ",
    )  # fmt: skip


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: ``name``, ``default``, the scikit-learn ``constraints`` a value
    must satisfy (any one of them), the numpydoc ``type`` line, a one-paragraph ``doc``, and
    the deprecated old names it replaces (``aliases``: :class:`Alias` or plain names)."""

    name: str
    default: Any
    constraints: tuple[Any, ...]
    type: str
    doc: str
    aliases: tuple[Alias, ...] = field(default=())

    def __post_init__(self) -> None:
        named = tuple(a if isinstance(a, Alias) else Alias(a) for a in self.aliases)
        object.__setattr__(self, "aliases", named)

    def numpydoc(self, indent: str = "    ", documented: frozenset[str] = frozenset()) -> str:
        """This parameter as a numpydoc ``Parameters`` entry (``name : type, default=...``),
        then its aliases not in ``documented`` (names with an entry of their own)."""
        lines = [f"{indent}{self.name} : {self.type}, default={self.default!r}"]
        lines.append(_fill(self.doc, indent))
        for old in self.aliases:
            if old.name in documented:
                continue
            doc = old.doc or f"The old name of ``{self.name}``."
            lines += [
                f"{indent}{old.name} : {old.type or self.type}, default={DEPRECATED!r}",
                _fill(f"{doc} {_DEPRECATION}", indent),
            ]
        return "\n".join(lines)


# Where a renamed parameter stands (glai.__version__ 0.2 renamed the heads' arguments to
# scikit-learn's); the warning and the docs say it the same way.
_DEPRECATION = "Deprecated in glai 0.2, removed in 0.3."


def _positive_int(low: int = 1) -> Interval:
    return Interval(Integral, low, None, closed="left")


_STOP_RULES = StrOptions({"threshold", "relative", "window", "epochs"})

PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        # -- the network being replaced, and the loop ---------------------------------------
        Param(
            "hidden_layer_sizes", (256,), ("array-like", _positive_int()), "int or tuple of int",
            "Hidden widths of the MLP (the baseline) or of the MLP that GLAI replaces: GLAI's "
            "structural network has these widths divided by ``rho`` and its paths fit the "
            "parameter count of this MLP.",
        ),
        Param(
            "optimizer", "adam", (StrOptions(RegisteredNames(ITERATIVE_KINDS)),), "str",
            "Gradient solver of the MLP and of GLAI's structural phase, a minibatch or "
            "full-batch name of :data:`glai.solvers.SOLVERS` (``'adam'``, ``'lbfgs'``): "
            "scikit-learn's ``solver``, without its ``'sgd'``.",
        ),
        Param(
            "alpha", 0.0, (Interval(Real, 0, None, closed="left"),), "float",
            "L2 penalty, scikit-learn's: ``alpha / (2 B) * sum ||W||^2`` over the weight "
            "matrices (not the biases; for GLAI's paths, ``theta``) is added to the mean loss "
            "of each minibatch of ``B`` rows (of the whole training set for ``'lbfgs'``), as "
            "in ``MLPClassifier``. glai's default is no penalty (scikit-learn's is 1e-4). A "
            "closed-form quantitative phase (``'ridge'``, ``'ridge-ce'``) does not read it: it "
            "chooses its own ridge penalty on validation data (``alpha_``).",
        ),
        Param(
            "batch_size", AUTO, (StrOptions({AUTO}), _positive_int()), "int or 'auto'",
            f"Minibatch size; ``'auto'`` is ``min({AUTO_BATCH_SIZE}, n_train)`` (scikit-learn's "
            "MLP takes ``min(200, n)``): on a few hundred samples a fixed 256 would be one "
            "optimiser step per epoch.",
        ),
        Param(
            "learning_rate_init", _LEARNING_RATE, (Interval(Real, 0, None, closed="neither"),),
            "float",
            "Step size of ``optimizer`` (Adam's ``lr``); GLAI's quantitative phase takes "
            f"``learning_rate_init / {QUANT_LR_DIVISOR:g}`` unless ``quant_learning_rate`` is "
            "set.",
            aliases=(Alias("learning_rate"),),  # a float learning_rate, documented by head_spec
        ),
        Param(
            "max_iter", _MAX_EPOCHS, (_positive_int(0),), "int",
            "Most epochs of each phase (GLAI: of the structural phase, then of the "
            "quantitative one; for scikit-learn's stochastic solvers too, ``max_iter`` counts "
            "epochs, not steps). A phase stopped by this limit rather than by early stopping "
            "warns with a ``ConvergenceWarning``. 0 trains nothing: only meaningful with "
            "``warm_start=True`` on a fitted estimator, which then keeps its model.",
            aliases=(Alias("max_epochs"),),
        ),
        Param(
            "shuffle", True, ("boolean",), "bool",
            "Draw a new order of the training rows every epoch; False takes them in their "
            "order every epoch.",
        ),
        Param(
            "tol", 1e-4, (Interval(Real, 0, None, closed="left"),), "float",
            "The least gain of the score early stopping watches (the validation score; with "
            "nothing held out, the training loss) for an epoch to count as an improvement, as "
            "in scikit-learn. The best epoch is kept, however small its gain.",
        ),
        Param(
            "early_stopping", AUTO, (StrOptions({AUTO}), "boolean"), "bool or 'auto'",
            "``True``: stop on the score of ``X_val, y_val`` given to ``fit``, or else of a "
            "held-out ``validation_fraction`` of the training data (at least 2 samples), and "
            "keep the best epoch (scikit-learn's ``early_stopping=True``). ``False``: every "
            "sample trains, training stops when the training loss has not fallen by more than "
            "``tol`` for more than ``n_iter_no_change`` epochs, and ``fit`` refuses ``X_val``. "
            f"``'auto'`` (glai's default; scikit-learn's is False): ``True`` when ``fit`` gets "
            f"``X_val`` or the training data hold {AUTO_HOLDOUT_MIN_SAMPLES} samples or more, "
            "else ``False`` (below that a tenth is too few samples to rank epochs by, and "
            "costs a tenth of scarce data).",
        ),
        Param(
            "validation_fraction", AUTO,
            (StrOptions({AUTO}), Interval(Real, 0, 1, closed="left")), "float or 'auto'",
            "Share of the training data held out for early stopping (and for the closed "
            "form's choice of penalty) when ``fit`` gets no ``X_val, y_val`` and "
            f"``early_stopping`` holds data out. ``'auto'``: {AUTO_VALIDATION_FRACTION} "
            "(scikit-learn's default); with ``early_stopping='auto'``, "
            f"{AUTO_VALIDATION_FRACTION} from {AUTO_HOLDOUT_MIN_SAMPLES} samples up, else 0. "
            "The split is stratified for a classifier where every class can be on both sides. "
            "In a ``Pipeline`` this is the way to early-stop on transformed data: ``X_val`` "
            "passed to ``fit`` does not go through the earlier steps (or route it with "
            "metadata routing and ``Pipeline(..., transform_input=['X_val'])``).",
        ),
        Param(
            "n_iter_no_change", _PATIENCE - 1, (_positive_int(0), Options(Real, {np.inf})),
            "int or inf",
            "Early stopping, scikit-learn's rule: training stops once more than "
            "``n_iter_no_change`` epochs in a row have not improved the watched score by more "
            "than ``tol``; ``np.inf``: never stop early. glai's default, "
            f"{_PATIENCE - 1}, stops on the {_PATIENCE}th epoch without a gain (measured; "
            "scikit-learn's 10 stops on the 11th).",
            aliases=(
                Alias(
                    "patience", lambda p: np.inf if p is None else p - 1,
                    (_positive_int(), None), "int or None",
                    "The epochs without a gain before stopping, "
                    "``n_iter_no_change + 1`` (``patience=p`` is ``n_iter_no_change=p - 1``, "
                    "``None`` is ``np.inf``).",
                ),
            ),
        ),
        # -- the loop's names (TrainConfig, RunConfig, the few-shot head) ---------------------
        Param(
            "learning_rate", _LEARNING_RATE, (Interval(Real, 0, None, closed="neither"),),
            "float",
            "Step size of ``optimizer`` (Adam's ``lr``).",
        ),
        Param(
            "weight_decay", 0.0, (Interval(Real, 0, None, closed="left"),), "float",
            "L2 penalty of the gradient solvers (Adam's ``weight_decay``).",
        ),
        Param(
            "max_epochs", _MAX_EPOCHS, (_positive_int(0),), "int",
            "Most epochs of each phase. 0 trains nothing: only meaningful with "
            "``warm_start=True`` on a fitted estimator, which then keeps its model.",
        ),
        Param(
            "patience", _PATIENCE, (_positive_int(), None), "int or None",
            "Epochs without a better validation score (or, with nothing held out, without a "
            "training loss lower by more than ``tol``) before a phase stops; None: never stop "
            "early. The best epoch is kept.",
        ),
        # -- what every use shares -------------------------------------------------------------
        Param(
            "device", "cpu", (_Device(),), "str or torch.device",
            "Where to train: ``'cpu'``, ``'cuda'``, ``'cuda:1'``, a ``torch.device`` or "
            "``'auto'`` (CUDA when available).",
        ),
        Param(
            "random_state", None, ("random_state",), "int, RandomState instance or None",
            "Seeds the initial weights, the validation split, the probe and every epoch's "
            "permutation: the same int gives the same model.",
        ),
        Param(
            "verbose", False, ("verbose",), "bool or int",
            "Show a progress bar per phase (True or any int above 0).",
        ),
        Param(
            "warm_start", False, ("boolean",), "bool",
            "A second ``fit`` continues from the fitted model (scikit-learn's semantics): the "
            "MLP from its weights; GLAI keeps its frozen structure and re-solves only the "
            "quantitative phase. ``loss_curve_``, ``validation_scores_`` and ``t_`` then go "
            "on from the fitted model's.",
        ),
        # -- GLAI ----------------------------------------------------------------------------
        Param(
            "rho", AUTO, (StrOptions({AUTO}), Interval(Real, 1, None, closed="left")),
            "float or 'auto'",
            "Reduction factor of the structural widths (hidden widths divided by ``rho``, "
            "rounded up), or ``'auto'``: the widest structure whose paths all fit ``budget``, "
            "so that no path is pruned and the path model starts exactly at the structural "
            "network.",
        ),
        Param(
            "budget", "match",
            (StrOptions({"match"}), _positive_int(), None), "int, 'match' or None",
            "Trainable parameters of the paths: ``'match'`` (the count of the MLP "
            "``hidden_layer_sizes`` describes), an int, or None (every candidate path).",
        ),
        Param(
            "structure_rule", "relative", (_STOP_RULES, StopRule), "str or StopRule",
            "When the structure counts as stable: a :class:`glai.StopRule` or its kind "
            "(``'relative'``: the relative change of ``m_t`` below 0.1 for 3 checks, after 5 "
            "to 50 checks).",
        ),
        Param(
            "structure_check_every", AUTO, (StrOptions({AUTO}), _positive_int(), None),
            "int, 'auto' or None",
            "Optimiser steps between two measurements of the path distance ``m_t`` (the rule "
            "then counts checks and may stop the structural phase mid-epoch); None: once per "
            f"epoch (the paper's); ``'auto'`` (**beyond the paper**): every {AUTO_CHECK_STEPS} "
            "steps where an epoch has more, else once per epoch.",
        ),
        Param(
            "probe_size", 2048, (_positive_int(),), "int",
            "Training inputs on which ``m_t`` is measured and dead paths are found.",
        ),
        Param(
            "quant_optimizer", AUTO, (StrOptions(RegisteredNames(extra=(AUTO,))),), "str",
            "The quantitative phase's solver, a name of :data:`glai.solvers.SOLVERS` or "
            "``'auto'`` (ours, beyond the paper): after the freeze, the closed form "
            "(``'ridge-ce'`` for a classifier, ``'ridge'`` for a regressor) where its counted "
            "work is at most what Adam spends to its best epoch, else ``'adam'`` "
            "(:mod:`glai.solvers.auto`); ``'adam'`` also when no data are held out, since the "
            "closed form picks its penalty on validation data.",
        ),
        Param(
            "quant_penalty", AUTO, (StrOptions({AUTO, *PENALTY_RULES}),), "str",
            "How the closed form picks its ridge penalty among ``alphas``: ``'holdout'`` (each "
            "candidate scored on the validation data), ``'kfold'`` (exact 5-fold "
            "cross-validation from the sufficient statistics, kept per fold: no row held out) "
            "or ``'gcv'`` (generalised cross-validation from the statistics); ``'auto'``: "
            "``'holdout'`` when data are held out, else ``'kfold'`` (ours, beyond the paper; "
            ":mod:`glai.solvers.penalty`). With ``'kfold'`` or ``'gcv'``, every re-solve "
            "(``partial_fit``, ``forget``, :func:`glai.merge`, new classes) chooses again "
            "from the statistics, the penalty a single fit on the same rows would choose.",
        ),
        Param(
            "quant_learning_rate", None, (Interval(Real, 0, None, closed="neither"), None),
            "float or None",
            "Step size of a gradient solver in the quantitative phase; None: "
            f"``learning_rate / {QUANT_LR_DIVISOR:g}`` (the convex phase wanted 3-10x smaller "
            "steps than the MLP).",
        ),
        Param(
            "quant_warmup_steps", 0, (_positive_int(0),), "int",
            "**(beyond the paper)** A linear learning-rate warm-up over the quantitative "
            "phase's first steps (minibatch solvers); 0 disables it.",
        ),
        Param(
            "quant_shrinkage", 0.0, (Interval(Real, 0, None, closed="left"),), "float",
            "**(beyond the paper)** A penalty ``quant_shrinkage / 2 * ||w - w_init||^2`` "
            "toward the frozen network's own path weights in the quantitative phase.",
        ),
        Param(
            "prune_dead", True, ("boolean",), "bool",
            "Drop the paths whose gate never opens on the probe.",
        ),
        # -- the few-shot and SSL heads -------------------------------------------------------
        Param(
            "kind", "glai", (StrOptions({"glai", "mlp"}),), "{'glai', 'mlp'}",
            "The head: a GLAI block, or the MLP it replaces.",
        ),
        Param(
            "out_features", 128, (_positive_int(),), "int",
            "Width of the embedding the head outputs.",
        ),
        Param(
            "n_way", 10, (_positive_int(2),), "int",
            "Classes per training task. Training with more ways than the test tasks helps "
            "prototypical networks (Snell et al., section 3.2).",
        ),
        Param("k_shot", 5, (_positive_int(),), "int", "Support samples per class of a task."),
        Param("n_query", 10, (_positive_int(),), "int", "Query samples per class of a task."),
        Param(
            "episodes", 3000, (_positive_int(),), "int",
            "Training episodes (tasks), per phase for GLAI.",
        ),
        Param(
            "check_every", 100, (_positive_int(),), "int",
            "Episodes between two checks (validation, ``m_t``, early stopping): the "
            "\"epoch\" of :class:`glai.StopRule` and of ``history_``.",
        ),
        Param(
            "val_tasks", 200, (_positive_int(),), "int",
            "Validation tasks drawn once from the held-out base samples.",
        ),
        Param(
            "residual", "auto", (StrOptions({"auto"}), "boolean"), "bool or 'auto'",
            "**(beyond the paper)** Embed ``x + f(x)`` with ``f``'s last layer starting at zero, "
            "so the head starts as its input; a residual head whose best check does not beat "
            "that start on the validation tasks returns to it. ``'auto'``: when "
            "``out_features`` is the input width.",
        ),
        Param(
            "scale", 10.0, (Interval(Real, 0, None, closed="neither"), None, "array-like"),
            "float, None or sequence of float",
            "**(beyond the paper)** Embeddings normalised to squared norm ``scale``: the "
            "prototype logits are ``scale`` times squared distances of unit vectors (a cosine "
            "prototype loss; ``scale`` is the inverse temperature). None: the raw embedding, "
            "squared Euclidean distances. A sequence: candidate scales, one head trained per "
            "candidate on the same episodes, the one kept whose best check scores highest on "
            "the validation tasks (held-out base classes by default; ties: the first); "
            "``scale_`` is the one chosen, ``scale_scores_`` each candidate's score.",
        ),
        Param(
            "validation", "classes", (StrOptions({"classes", "samples"}),),
            "{'classes', 'samples'}",
            "What the validation tasks that pick the check (and stop early) hold out: "
            "``'classes'``, a share of the base *classes* (the train / validation / test "
            "class splits of the few-shot benchmarks: a check is kept for how it does on "
            "classes it never saw), or ``'samples'``, a share of each base class.",
        ),
        Param(
            "temperature", 0.5, (Interval(Real, 0, None, closed="neither"),), "float",
            "NT-Xent's temperature ``tau``.",
        ),
        Param(
            "checkpoint", None, (str, os.PathLike, None), "path or None",
            "A file: a checkpoint is written there after every epoch (check) of either "
            "phase, and an existing one (of the same head, data, settings and "
            "``random_state``, an int, which it then requires) is resumed; the resumed fit "
            "ends as an uninterrupted one, bit for bit.",
        ),
        # -- the loop's solver settings (TrainConfig) -----------------------------------------
        Param(
            "lbfgs_iter", 20, (_positive_int(),), "int",
            "L-BFGS iterations per epoch (strong-Wolfe line search).",
        ),
        Param(
            "alphas", (1e-4, 1e-3, 1e-2, 1e-1), ("array-like",), "tuple of float",
            "Ridge penalties of the closed form, one candidate each, the best on validation "
            "kept.",
        ),
        Param(
            "polish_iter", 30, (_positive_int(0),), "int",
            "Most L-BFGS iterations of ``'ridge-ce'``'s cross-entropy polish.",
        ),
    )
}  # fmt: skip

# The few-shot head's own meanings of shared names: the changes to their entries.
_FEWSHOT: dict[str, dict[str, Any]] = {
    "patience": {
        "type": "int or None", "default": 5, "constraints": (_positive_int(), None),
        "doc": "Checks without a better validation score before a phase stops (None: "
               "never); the best check is kept.",
    },
    "validation_fraction": {
        "type": "float", "default": 0.2, "constraints": (Interval(Real, 0, 1, closed="left"),),
        "doc": "Share of the base classes (``validation='classes'``, at least 2 classes) or "
               "of each base class (``'samples'``) held out for validation tasks; the "
               "training data serve when too few are left.",
    },
    "out_features": {
        "type": "int or None", "default": None, "constraints": (_positive_int(), None),
        "doc": "Width of the embedding the head outputs; None: the input width (what a "
               "residual head needs).",
    },
    "quant_optimizer": {
        "default": "adam",
        "doc": "The quantitative phase's solver (``kind='glai'``), a minibatch or full-batch "
               "solver of :data:`glai.solvers.SOLVERS` (``'adam'``, ``'lbfgs'``: one check "
               "is then 20 L-BFGS iterations, ``TrainConfig.lbfgs_iter``, on ``check_every`` "
               "tasks drawn once). The "
               "closed-form solvers and ``'auto'`` are refused: the prototype loss is not a "
               "least-squares loss against per-row targets.",
    },
}  # fmt: skip


def spec(name: str, **changes: Any) -> Param:
    """The entry ``name`` of :data:`PARAMS`, with ``changes`` (``default=``, ``doc=``, ...)
    for a use that means something else by it."""
    try:
        param = PARAMS[name]
    except KeyError:
        raise KeyError(f"no parameter {name!r} in glai.params.PARAMS") from None
    return replace(param, **changes) if changes else param


def fewshot_spec(name: str) -> Param:
    """``name`` as :class:`glai.fewshot.FewShotHead` means it."""
    return spec(name, **_FEWSHOT.get(name, {}))


# The heads' own meanings of two names the loop uses too.
_HEADS = {
    "learning_rate": Param(
        "learning_rate", "constant",
        (StrOptions({"constant"}),), "{'constant'}",
        "scikit-learn's learning-rate schedule: only ``'constant'`` (the step stays "
        "``learning_rate_init``); scikit-learn's ``'invscaling'`` and ``'adaptive'`` are for its "
        "``solver='sgd'``, which glai does not have. A float, the step this name meant "
        "before glai 0.2, still works as ``learning_rate_init`` with a ``FutureWarning`` "
        "until glai 0.3.",
    ),
    "weight_decay": Param(
        "weight_decay", DEPRECATED,
        (Hidden(StrOptions({DEPRECATED})), Interval(Real, 0, None, closed="left")), "float",
        "Adam's ``weight_decay``, a decay of every parameter (biases too), the "
        "heads' penalty before ``alpha``; it keeps that meaning until it goes. ``alpha`` is "
        "scikit-learn's (the weights only, divided by the batch size): ``weight_decay=w`` is "
        f"close to ``alpha=w * batch_size``. {_DEPRECATION}",
    ),
}  # fmt: skip


def head_spec(name: str) -> Param:
    """``name`` as the heads (:mod:`glai.estimators`) mean it: scikit-learn's meaning."""
    return _HEADS.get(name) or spec(name)


def _specs(names: tuple[str | Param, ...]) -> list[Param]:
    return [n if isinstance(n, Param) else spec(n) for n in names]


def defaults(*names: str | Param, aliases: bool = False) -> dict[str, Any]:
    """``{name: default}`` of ``names`` (every parameter when none is given); with
    ``aliases``, also ``{old: DEPRECATED}`` for their aliases that have no entry of their own
    among ``names`` (the defaults of a signature)."""
    specs = _specs(names or tuple(PARAMS))
    out = {p.name: p.default for p in specs}
    if aliases:
        for p in specs:
            out.update({a.name: DEPRECATED for a in p.aliases if a.name not in out})
    return out


def constraints(*names: str | Param) -> dict[str, list[Any]]:
    """scikit-learn ``_parameter_constraints`` of ``names``; a deprecated alias takes its old
    values' constraints (by default its new name's) and the marker :data:`DEPRECATED`, or,
    when it has an entry of its own among ``names`` (``learning_rate``), adds them hidden to
    that entry's."""
    specs = _specs(names)
    out: dict[str, list[Any]] = {p.name: list(p.constraints) for p in specs}
    own = set(out)
    for p in specs:
        for old in p.aliases:
            old_values = list(p.constraints if old.constraints is None else old.constraints)
            if old.name in own:
                out[old.name] += [Hidden(c) for c in old_values]
            else:
                out[old.name] = [*old_values, Hidden(StrOptions({DEPRECATED}))]
    return out


def numpydoc(*names: str | Param, indent: str = "    ") -> str:
    """The numpydoc ``Parameters`` section of ``names`` (heading included), ``indent`` deep."""
    specs = _specs(names)
    documented = frozenset(p.name for p in specs)
    head = f"{indent}Parameters\n{indent}----------\n"
    return head + "\n".join(p.numpydoc(indent, documented) for p in specs) + "\n"


def resolve_aliases(estimator: Any, *names: str) -> dict[str, Any]:
    """``{name: value}`` of ``names`` (default: every parameter with aliases that
    ``estimator`` has), where a deprecated alias set on ``estimator`` gives the value
    (converted), with a ``FutureWarning``; setting both the alias and the new name is an
    error. A string in an alias is not an old value: the marker :data:`DEPRECATED`, or a value
    of the old name's new meaning (``learning_rate='constant'``)."""
    wanted = names or tuple(n for n, p in PARAMS.items() if p.aliases and hasattr(estimator, n))
    out: dict[str, Any] = {}
    for name in wanted:
        p = spec(name)
        value = getattr(estimator, name)
        for old in p.aliases:
            old_value = getattr(estimator, old.name, DEPRECATED)
            if isinstance(old_value, str):
                continue
            if value is not p.default and value != p.default:
                raise ValueError(
                    f"{old.name}={old_value!r} and {name}={value!r} were both set: {old.name} "
                    f"is the deprecated name of {name}; set {name} only"
                )
            converted = old.convert(old_value)
            warnings.warn(
                f"{old.name} is deprecated (glai 0.2) and will be removed in glai 0.3: use "
                f"{name}={converted!r} instead (scikit-learn's name and meaning)",
                FutureWarning,
                stacklevel=3,
            )
            value = converted
        out[name] = value
    return out


# -- the "auto" rules ------------------------------------------------------------------------


def resolve_batch_size(batch_size: int | str, n_train: int) -> int:
    """``batch_size``, where ``"auto"`` is ``min(AUTO_BATCH_SIZE, n_train)``."""
    if batch_size == AUTO:
        return min(AUTO_BATCH_SIZE, n_train)
    return int(batch_size)


def holdout_fraction(validation_fraction: float | str, n: int) -> float:
    """The share of ``n`` samples to hold out; ``"auto"``: ``AUTO_VALIDATION_FRACTION`` from
    ``AUTO_HOLDOUT_MIN_SAMPLES`` samples up, else 0."""
    if validation_fraction == AUTO:
        return AUTO_VALIDATION_FRACTION if n >= AUTO_HOLDOUT_MIN_SAMPLES else 0.0
    return float(validation_fraction)


def check_every(
    structure_check_every: int | str | None, n_train: int, batch_size: int
) -> int | None:
    """Optimiser steps between two checks of ``m_t``; ``"auto"``: every ``AUTO_CHECK_STEPS``
    steps when an epoch of ``n_train`` rows in batches of ``batch_size`` is longer, else once
    per epoch (None)."""
    if structure_check_every != AUTO:
        return structure_check_every  # type: ignore[return-value]
    steps_per_epoch = -(-n_train // batch_size)
    return AUTO_CHECK_STEPS if steps_per_epoch > AUTO_CHECK_STEPS else None


def quant_learning_rate(learning_rate: float, quant_learning_rate: float | None) -> float:
    """The quantitative phase's step: ``quant_learning_rate``, by default (None)
    ``learning_rate / QUANT_LR_DIVISOR``."""
    return quant_learning_rate or learning_rate / QUANT_LR_DIVISOR
