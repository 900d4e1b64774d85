"""Classification heads on fixed splits: the MLP head against GLAI and its ablations.

Per seed, in the order of the head table (:meth:`Classification.heads`): the MLP head first
(its maximum validation accuracy, MVA, is the target the others race to), GLAI at the matched
``rho="auto"`` and the setting's other ``rho``, the ablations (gates from the untrained
structural network, a fixed long structural phase, the narrow structural network alone), MLP
heads of the setting's other ``widths`` and GLAI heads of its other ``budgets`` (the
accuracy-versus-time picture), a linear probe and scikit-learn's ``MLPClassifier``. Every
hyper-parameter the setting does not name is the library's default.

Outputs in ``out`` for a setting with stem ``S`` (``NAME`` or ``NAME-quick``): ``S.json``,
``S.md``, ``S-path-distance.png`` (Figure 2), ``S-rho.png`` (Figure 3), ``S-tradeoff.png``
(accuracy against time, :mod:`glai_bench.tradeoff`) and the setting-free ``paths.png``
(Figure 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from tqdm.auto import tqdm

from glai import GLAIClassifier, MLPHeadClassifier, StopRule
from glai_bench import plots
from glai_bench.data import Splits
from glai_bench.protocols.base import Head, Options, Outcome, Protocol, Run
from glai_bench.report import markdown_tail, mean_std, p_value
from glai_bench.runner import fit_on, fit_sklearn, head_record, sklearn_record, warm_up
from glai_bench.settings import Setting
from glai_bench.stats import aggregate
from glai_bench.tradeoff import TradeoffPoint, as_dicts, tradeoff_markdown, tradeoff_points

__all__ = [
    "Classification", "SeedContext", "run_seed", "figure2_run", "estimator_defaults",
    "markdown", "scan_variant",
]  # fmt: skip


@dataclass
class SeedContext:
    """What the heads of one seed share: the data, the seed, the runs fitted so far."""

    setting: Setting
    data: Splits
    seed: int
    device: str = "cpu"
    runs: dict[str, Run] = field(default_factory=dict)

    @property
    def shared(self) -> dict[str, Any]:
        """Arguments of every glai estimator of this seed."""
        return {**self.setting.head_kwargs(), "random_state": self.seed, "device": self.device}

    @property
    def mlp_mva(self) -> float:
        """The matched MLP head's MVA: every other head's target."""
        return float(self.runs["mlp"]["mva"])

    def record(self, name: str, est: Any) -> Run:
        """:func:`head_record` of ``est`` fitted on the data, against the MLP's MVA."""
        fitted = fit_on(est, self.data)
        return head_record(name, fitted, self.data, None if name == "mlp" else self.mlp_mva)


def _mlp(hidden: tuple[int, ...], name: str, c: SeedContext) -> Run:
    return c.record(name, MLPHeadClassifier(hidden, **c.shared))


def _glai(kwargs: dict[str, Any], name: str, c: SeedContext) -> Run:
    return c.record(name, GLAIClassifier(c.setting.hidden, **kwargs, **c.shared))


def _narrow(c: SeedContext) -> Run:
    # the structural network alone, trained to convergence like the MLP head
    narrow = tuple(c.runs["glai-auto"]["structural_widths"])
    return c.record("narrow-mlp", MLPHeadClassifier(narrow, **c.shared))


def _budget(share: float, name: str, c: SeedContext) -> Run:
    budget = max(1, round(share * c.runs["mlp"]["params"]))
    kwargs = {"rho": "auto", "budget": budget}
    return c.record(name, GLAIClassifier(c.setting.hidden, **kwargs, **c.shared))


def _linear_probe(c: SeedContext) -> Run:
    probe = LogisticRegression(max_iter=1000)
    return sklearn_record("linear-probe", probe, fit_sklearn(probe, c.data), c.data, c.mlp_mva)


def _sklearn_mlp(c: SeedContext) -> Run:
    s = c.setting
    ref = MLPClassifier(s.hidden, early_stopping=True, random_state=c.seed,
                        max_iter=s.max_epochs or 200)  # fmt: skip
    return sklearn_record("sklearn-mlp", ref, fit_sklearn(ref, c.data), c.data, c.mlp_mva)


def _glai_variants(setting: Setting) -> list[tuple[str, dict[str, Any]]]:
    """The GLAI heads at the MLP's width: matched, other rho, and the two ablations."""
    # max_epochs=0 freezes the structure at initialisation: gates of the untrained network
    untrained = StopRule("epochs", epochs=0, min_epochs=0, max_epochs=0)
    n_long = setting.long_structure_epochs
    long = StopRule("epochs", epochs=n_long, min_epochs=n_long, max_epochs=n_long)
    # both count epochs: one check of m_t per epoch
    return [
        ("glai-auto", {"rho": "auto"}),
        *((f"glai-rho{r:g}", {"rho": r}) for r in setting.rhos),
        ("glai-untrained-gates",
         {"rho": "auto", "structure_rule": untrained, "structure_check_every": None}),
        ("glai-long-structure",
         {"rho": "auto", "structure_rule": long, "structure_check_every": None}),
    ]  # fmt: skip


def run_seed(
    setting: Setting,
    data: Splits,
    seed: int,
    *,
    device: str = "cpu",
    only: set[str] | None = None,
    on_run: Callable[[str], None] | None = None,
) -> list[Run]:
    """All runs of one seed, or those of ``head_names(setting, only)``; ``on_run(name)`` is
    called after each."""
    protocol = Classification()
    wanted = set(protocol.head_names(setting, only))
    context = SeedContext(setting, data, seed, device)
    runs = []
    for head in protocol.heads(setting):
        if head.name not in wanted:
            continue
        run = head.fit(context)
        run["seed"] = seed
        context.runs[head.name] = run
        runs.append(run)
        if on_run is not None:
            on_run(head.name)
    return runs


def figure2_run(runs: list[dict[str, Any]]) -> tuple[dict[str, Any], int | None] | None:
    """The run to draw ``m_t`` from, and where the default rule froze the same trajectory.

    The fixed long structural phase of seed 0 follows the matched GLAI's structural network
    step for step (same seed, same batches), so where it runs past the epoch at which the
    default rule froze, it shows whether ``m_t`` had settled there; otherwise the matched run.
    """
    first = {r["model"]: r for r in runs if r["seed"] == min(x["seed"] for x in runs)}
    auto, long = first.get("glai-auto"), first.get("glai-long-structure")
    if auto is None:
        return None if long is None else (long, None)
    rule_epoch = auto["structure_frozen_epoch"]
    if long is not None and long["structure_frozen_epoch"] > rule_epoch:
        return long, rule_epoch
    return auto, None


def estimator_defaults(setting: Setting) -> dict[str, Any]:
    """The hyper-parameters the heads ran with: the library defaults plus the setting's."""
    kw = setting.head_kwargs()
    return {
        "mlp": MLPHeadClassifier(setting.hidden, **kw).get_params(),
        "glai": GLAIClassifier(setting.hidden, **kw).get_params(),
    }


_PHASE_TAG = {"mlp": "", "structural": "S ", "quantitative": "Q "}


def markdown(report: dict[str, Any], *, matched: str = "GLAI (matched, rho=auto)") -> str:
    """A Markdown section for one setting: the table over seeds, the verdict (of the head
    ``matched`` names), the accuracy-against-time table, the command and the machine."""
    cfg, agg = report["config"], report["aggregates"]
    sizes = report["data"].get("sizes", {})
    n = len(cfg["seeds"])
    lines = [
        f"### {report['setting']}",
        "",
        f"{cfg['setting']['description']}. Splits {sizes}; {n} seeds; mean ± std over seeds.",
        "",
        "| model | params | MVA % | test acc % | Δtest vs MLP (p) | s to MVA | s to MLP's MVA "
        "| speedup mean / median | freeze epoch | s/epoch (S: structure, Q: paths) "
        "| inference ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in agg["models"].items():
        if re.fullmatch(r"mlp-w\d+|glai-x[\d.e+-]+", name):
            continue  # heads of other sizes: in the accuracy-against-time table below
        comp = agg["comparisons"].get(name)
        if comp is None:
            delta, speed = "-", "1.00 / 1.00"
        else:
            d = comp["test_accuracy"]["mean_diff"]
            test_p = p_value(comp["test_accuracy"]["t_pvalue"])
            delta = "n/a" if d is None else f"{100 * d:+.2f} ({test_p})"
            sp = comp["speedup"]
            speed = "never" if sp["mean"] is None else f"{sp['mean']:.2f} / {sp['median']:.2f}"
            if sp["n_missing"]:
                speed += f" ({sp['n']}/{sp['n'] + sp['n_missing']})"
        freeze = s.get("structure_frozen_epoch")
        per_epoch = " / ".join(
            f"{_PHASE_TAG.get(phase, phase)}{v['mean']:.3f}"
            for phase, v in s.get("seconds_per_epoch", {}).items()
            if v["mean"] is not None
        )
        row = [
            name, f"{s['params']['mean']:,.0f}", mean_std(s["mva"], 100),
            mean_std(s["test_accuracy"], 100), delta, mean_std(s["seconds_to_mva"]),
            mean_std(s["seconds_to_mlp_mva"]), speed,
            "-" if freeze is None else mean_std(freeze, digits=1), per_epoch or "-",
            mean_std(s["inference_seconds"], 1000),
        ]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for text in agg.get("verdict", {}).get("text", []):
        lines.append(f"- {matched}: {text}")
    if report.get("tradeoff"):
        points = [TradeoffPoint(**p) for p in report["tradeoff"]]
        figure = report.get("files", {}).get("tradeoff")
        lines += [
            "",
            f"#### {report['setting']}: accuracy against time",
            "",
            "Every head a user could pick (ablations left out), mean ± std over seeds, fastest "
            "first; *front*: no other head is both more accurate and faster.",
            "",
            tradeoff_markdown(points, figure),
        ]
    return "\n".join(lines + markdown_tail(report))


class Classification(Protocol[Setting]):
    """The protocol of :class:`~glai_bench.settings.Setting` (see the module docstring)."""

    name = "classification"
    supports_only: ClassVar[bool] = True
    unknown_head_hint: ClassVar[str] = " (--budgets and --widths add glai-xB and mlp-wW heads)"

    def heads(self, setting: Setting) -> list[Head[SeedContext]]:
        mlp = ("mlp",)  # every head's target
        table = [Head("mlp", partial(_mlp, setting.hidden, "mlp"))]
        table += [Head(name, partial(_glai, kwargs, name), mlp)
                  for name, kwargs in _glai_variants(setting)]  # fmt: skip
        table.append(Head("narrow-mlp", _narrow, ("mlp", "glai-auto")))
        # the accuracy-versus-time picture: MLP heads of other widths, GLAI of other budgets
        depth = len(setting.hidden)
        table += [Head(f"mlp-w{w}", partial(_mlp, (w,) * depth, f"mlp-w{w}"), mlp)
                  for w in setting.widths]  # fmt: skip
        table += [Head(f"glai-x{b:g}", partial(_budget, b, f"glai-x{b:g}"), mlp)
                  for b in setting.budgets]  # fmt: skip
        table += [Head("linear-probe", _linear_probe, mlp), Head("sklearn-mlp", _sklearn_mlp, mlp)]
        return table

    def run(self, setting: Setting, data: Splits, options: Options) -> Outcome:
        names = self.head_names(setting, options.only)
        warm_up(data, setting.hidden, options.device)
        runs: list[Run] = []
        total = options.seeds * len(names)
        with tqdm(total=total, desc=setting.stem, unit="run", disable=not options.progress) as bar:
            for seed in range(options.seeds):

                def tick(name: str, seed: int = seed) -> None:
                    bar.update(1)
                    bar.set_postfix(seed=seed, done=name)

                runs += run_seed(setting, data, seed, device=options.device, only=options.only,
                                 on_run=tick)  # fmt: skip
        return Outcome(runs)

    def config(self, setting: Setting, only: set[str] | None) -> dict[str, Any]:
        return {
            "estimators": estimator_defaults(setting),
            "only": None if only is None else sorted(only),
        }

    def summarize(self, setting: Setting, outcome: Outcome) -> dict[str, Any]:
        return {
            "aggregates": aggregate(outcome.runs),
            "tradeoff": as_dicts(tradeoff_points(outcome.runs)),
        }

    def figures(
        self, setting: Setting, report: dict[str, Any], folder: Path
    ) -> dict[str, Path]:
        runs, stem = report["runs"], setting.stem
        files = {"paths": plots.plot_paths(plots.figure1_model(), folder / "paths.png")}
        chosen = figure2_run(runs)
        if chosen is not None:
            run, rule_epoch = chosen
            files["path_distance"] = plots.plot_path_distance(
                run["history"], folder / f"{stem}-path-distance.png",
                freeze_epoch=run.get("structure_frozen_epoch"), rule_freeze_epoch=rule_epoch,
                title=f"{stem}: {run['model']}, seed {run['seed']}",
            )  # fmt: skip
        if any(r["model"] == "glai-auto" or r["model"].startswith("glai-rho") for r in runs):
            files["rho"] = plots.plot_mva_vs_rho(
                runs, folder / f"{stem}-rho.png", title=f"{stem}: MVA vs rho"
            )
        points = [TradeoffPoint(**p) for p in report["tradeoff"]]
        files["tradeoff"] = plots.plot_accuracy_vs_time(
            points, folder / f"{stem}-tradeoff.png", title=f"{stem}: accuracy against time"
        )
        return files

    def markdown(self, report: dict[str, Any]) -> str:
        return markdown(report)


def scan_variant(
    setting: Setting,
    *,
    budgets: Sequence[float] | None = None,
    widths: Sequence[int] | None = None,
    only: set[str] | None = None,
) -> Setting:
    """``setting`` with other GLAI budgets / MLP widths (``glai bench --budgets/--widths``) and,
    when only some heads run (``--only``), renamed ``NAME+HEAD+...`` so that its outputs do not
    overwrite the full run's. Classification settings only; unknown heads raise ValueError."""
    if budgets is None and widths is None and only is None:
        return setting
    if setting.protocol != Classification.name:
        raise ValueError(
            f"--budgets, --widths and --only apply to the classification settings, not to "
            f"{setting.name!r}"
        )
    changes: dict[str, Any] = {}
    if budgets is not None:
        changes["budgets"] = tuple(budgets)
    if widths is not None:
        changes["widths"] = tuple(widths)
    setting = replace(setting, **changes)
    if only is not None:
        Classification().head_names(setting, only)  # raises on unknown heads
        setting = replace(setting, name="+".join([setting.name, *sorted(only)]))
    return setting
