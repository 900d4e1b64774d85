"""SimCLR projection heads on a frozen backbone (``fashion-effnet-simclr``).

Per seed, the MLP projection head and the GLAI projection head at the same parameter count
(the rows of :data:`HEADS`) are trained on the same cached views (:mod:`glai_bench.views`),
and scored the way SSL papers do (:mod:`glai_bench.probes`), on the labelled splits and the
clean (not augmented) images:

* linear probe: logistic regression on the head's embeddings of the training images, test
  accuracy; kNN: k=20 nearest training embeddings by cosine similarity, majority vote, test
  accuracy; both also on the raw backbone features (the reference a head should not lose to);
* NT-Xent of held-out views (views 0 and 1 of the validation images);
* every epoch, a kNN probe accuracy on the validation images (the "probe" whose best the
  GLAI head races to; its time is off the training clock).

Outputs: ``S.json``, ``S.md`` and ``S-curves.png`` (held-out loss and probe accuracy against
seconds, seed 0), ``S-path-distance.png`` (``m_t`` of the GLAI head, seed 0).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from glai import GLAI, ProjectionHead, StopRule, fit_projection_head
from glai.ssl import SSLHistory
from glai.training import TrainConfig
from glai_bench import plots
from glai_bench.probes import embed, knn_accuracy, linear_probe_accuracy
from glai_bench.protocols.base import Options, Outcome, Protocol, Run
from glai_bench.report import markdown_tail, mean_std, p_value
from glai_bench.settings import SSLSetting
from glai_bench.stats import ALPHA, paired_test, summarize
from glai_bench.views import SSLData, load_views

__all__ = ["HEADS", "SSL", "run_ssl_seed", "compare_heads", "ssl_verdict"]


def _final(history: SSLHistory) -> tuple[str, list[int]]:
    """The phase of the returned model and the indices of its epochs."""
    phase = history.final_phase
    assert phase is not None
    return phase, [i for i, r in enumerate(history.records) if r.phase == phase]


@dataclass
class SeedContext:
    """One seed: the data as tensors on the device and the MLP head's bests (the targets)."""

    setting: SSLSetting
    data: SSLData
    seed: int
    device: torch.device
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d = self.data
        arrays = {"views": d.views, "views_val": d.views_val, "X_train": d.X_train,
                  "X_val": d.X_val, "X_test": d.X_test}  # fmt: skip
        self.tensors = {k: torch.from_numpy(v).to(self.device) for k, v in arrays.items()}


def _fit_head(kind: str, c: SeedContext) -> Run:
    """Train a projection head of ``kind`` on the views; record its scores and times."""
    s, data, t = c.setting, c.data, c.tensors
    torch.manual_seed(c.seed)
    head = ProjectionHead(
        data.views.shape[2], s.hidden, s.out_features, kind=kind, batch_norm=s.batch_norm,
        device=c.device,
    )  # fmt: skip

    def probe(model: nn.Module) -> float:
        return knn_accuracy(embed(model, t["X_train"]), data.y_train, embed(model, t["X_val"]),
                            data.y_val, s.knn_k)  # fmt: skip

    gc.collect()
    t0 = time.perf_counter()
    history = fit_projection_head(
        head, t["views"], t["views_val"], temperature=s.temperature,
        config=TrainConfig(**s.train_kwargs()), random_state=c.seed, probe_fn=probe,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    phase, mine = _final(history)
    best_loss = min(history.records[i].val_loss for i in mine)
    best_probe = max(history.probe_scores[i] for i in mine)
    if not c.targets:  # the first head of the table, the MLP: the others' targets
        c.targets = {"loss": best_loss, "probe": best_probe}
    z_train, z_test = embed(head, t["X_train"]), embed(head, t["X_test"])
    loss_hit = history.first_reaching(-c.targets["loss"], phase)
    probe_hit = history.first_probe_reaching(c.targets["probe"], phase)
    own_best = history.first_reaching(-best_loss, phase)
    own_best_probe = history.first_probe_reaching(best_probe, phase)
    assert own_best is not None and own_best_probe is not None
    run: Run = {
        "model": kind, "seed": c.seed,
        "params": sum(p.numel() for p in head.parameters() if p.requires_grad),
        "best_val_loss": best_loss, "best_knn_val": best_probe,
        "knn_test": knn_accuracy(z_train, data.y_train, z_test, data.y_test, s.knn_k),
        "linear_test": linear_probe_accuracy(z_train, data.y_train, z_test, data.y_test),
        "epochs": len(history.records), "seconds": history.records[-1].seconds,
        "wall_seconds_with_probes": wall,
        "seconds_to_best_loss": own_best.seconds,
        "seconds_to_best_knn": own_best_probe.seconds,
        "seconds_to_mlp_best_loss": None if loss_hit is None else loss_hit.seconds,
        "epochs_to_mlp_best_loss": None if loss_hit is None else loss_hit.epoch,
        "seconds_to_mlp_best_knn": None if probe_hit is None else probe_hit.seconds,
        "epochs_to_mlp_best_knn": None if probe_hit is None else probe_hit.epoch,
        "events": dict(history.events),
        "history": [
            {**r, "knn_val": p} for r, p in zip(history.to_dicts(), history.probe_scores)
        ],
    }  # fmt: skip
    if isinstance(head, GLAI):
        run.update(
            rho=float(head.rho), structural_widths=list(head.structural_features),
            num_paths=int(head.num_paths),
            structure_frozen_epoch=int(history.events["structure_frozen_epoch"]),
        )  # fmt: skip
    return run


# The heads of one seed, in order (name -> fit): the MLP first, its bests are GLAI's targets.
HEADS: dict[str, Callable[[SeedContext], Run]] = {
    "mlp": lambda c: _fit_head("mlp", c),
    "glai": lambda c: _fit_head("glai", c),
}


def warm_up(setting: SSLSetting, data: SSLData, device: str = "cpu") -> None:
    """Both heads for two epochs on a slice of the views, untimed, so that no timed run pays
    first-call costs (seed 0's first MLP epoch took ~4 s instead of ~0.7 s without this)."""
    views = torch.from_numpy(data.views[:256]).to(device)
    for kind in HEADS:
        head = ProjectionHead(data.views.shape[2], setting.hidden, setting.out_features,
                              kind=kind, batch_norm=setting.batch_norm, device=device)  # fmt: skip
        rule = StopRule("epochs", epochs=1, min_epochs=1)
        fit_projection_head(
            head, views, views, config=TrainConfig(max_epochs=2), rule=rule, random_state=0
        )


def run_ssl_seed(
    setting: SSLSetting, data: SSLData, seed: int, *, device: str = "cpu"
) -> list[Run]:
    """The heads of :data:`HEADS` on the same views and seed."""
    context = SeedContext(setting, data, seed, torch.device(device))
    return [head.fit(context) for head in SSL().heads(setting)]
METRICS = (
    "params", "best_val_loss", "best_knn_val", "knn_test", "linear_test", "epochs", "seconds",
    "seconds_to_best_loss", "seconds_to_mlp_best_loss", "seconds_to_mlp_best_knn",
    "structure_frozen_epoch",
)  # fmt: skip


def _speedups(mlp: dict[int, Run], glai: dict[int, Run], own: str, reach: str) -> list[Any]:
    """Per seed: MLP seconds to its own best / GLAI seconds to reach it (None: never)."""
    out: list[float | None] = []
    for s in sorted(mlp):
        t = glai[s][reach]
        out.append(None if t is None or t <= 0 else mlp[s][own] / t)
    return out


def compare_heads(runs: list[Run]) -> dict[str, Any]:
    """GLAI against the MLP head, paired by seed: quality tests, times to the MLP's bests."""
    mlp = {r["seed"]: r for r in runs if r["model"] == "mlp"}
    glai = {r["seed"]: r for r in runs if r["model"] == "glai"}
    seeds = sorted(set(mlp) & set(glai))
    mlp, glai = {s: mlp[s] for s in seeds}, {s: glai[s] for s in seeds}
    out: dict[str, Any] = {"seeds": seeds}
    for metric in ("knn_test", "linear_test", "best_val_loss", "best_knn_val"):
        out[metric] = paired_test([glai[s][metric] for s in seeds], [mlp[s][metric] for s in seeds])
    for target, own, reach in (
        ("loss", "seconds_to_best_loss", "seconds_to_mlp_best_loss"),
        ("knn", "seconds_to_best_knn", "seconds_to_mlp_best_knn"),
    ):
        per_seed = _speedups(mlp, glai, own, reach)
        reached = [s for s in seeds if glai[s][reach] is not None]
        out[f"time_to_mlp_best_{target}"] = {
            "speedup": {"per_seed": per_seed, **summarize(per_seed)},
            "test": paired_test([mlp[s][own] for s in reached], [glai[s][reach] for s in reached]),
        }
    return out


def _who(test: dict[str, Any], higher_is_better: bool, what: str, scale: float, unit: str) -> str:
    diff, p = test["mean_diff"], test["t_pvalue"]
    if diff is None:
        return f"{what}: no paired runs"
    better = (diff > 0) == higher_is_better
    shown = f"GLAI - MLP = {scale * diff:+.3g}{unit}, p={p_value(p)}"
    if p is not None and p < ALPHA and diff != 0:
        return f"{what}: {'GLAI' if better else 'MLP'} wins ({shown})"
    return f"{what}: no significant difference ({shown})"


def ssl_verdict(comparison: dict[str, Any]) -> list[str]:
    """Plain sentences: who wins on each measure, and whether GLAI got to the MLP's bests."""
    lines = [
        _who(comparison["linear_test"], True, "linear-probe test accuracy", 100, " pts"),
        _who(comparison["knn_test"], True, "kNN (k=20, cosine) test accuracy", 100, " pts"),
        _who(comparison["best_val_loss"], False, "best held-out NT-Xent", 1, ""),
    ]
    n = len(comparison["seeds"])
    for target, what in (("loss", "best held-out loss"), ("knn", "best kNN probe accuracy")):
        sp = comparison[f"time_to_mlp_best_{target}"]["speedup"]
        if sp["n"] == 0:
            lines.append(f"time to the MLP's {what}: GLAI never reached it (0 of {n} seeds)")
        else:
            lines.append(
                f"time to the MLP's {what}: GLAI reached it in {sp['n']} of {n} seeds, "
                f"speedup (MLP time to its best / GLAI time) mean {sp['mean']:.2f}x, "
                f"median {sp['median']:.2f}x"
            )
    return lines


class SSL(Protocol[SSLSetting]):
    """The protocol of :class:`~glai_bench.settings.SSLSetting` (see the module docstring)."""

    name = "ssl"

    head_table = HEADS

    def load(self, setting: SSLSetting, options: Options) -> SSLData:
        return load_views(setting, **options.loading)

    def run(self, setting: SSLSetting, data: SSLData, options: Options) -> Outcome:
        k = setting.knn_k
        raw = {
            "linear_test": linear_probe_accuracy(data.X_train, data.y_train, data.X_test,
                                                 data.y_test),
            "knn_test": knn_accuracy(data.X_train, data.y_train, data.X_test, data.y_test, k),
            "knn_val": knn_accuracy(data.X_train, data.y_train, data.X_val, data.y_val, k),
        }  # fmt: skip
        warm_up(setting, data, options.device)
        runs: list[Run] = []
        bar = tqdm(range(options.seeds), desc=setting.stem, unit="seed",
                   disable=not options.progress)  # fmt: skip
        for seed in bar:
            runs += run_ssl_seed(setting, data, seed, device=options.device)
        return Outcome(runs, {"raw_features": raw})

    def config(self, setting: SSLSetting, only: set[str] | None) -> dict[str, Any]:
        return {"train": setting.train_kwargs()}

    def summarize(self, setting: SSLSetting, outcome: Outcome) -> dict[str, Any]:
        runs = outcome.runs
        comparison = compare_heads(runs)
        models = {
            name: {
                m: summarize([r.get(m) for r in runs if r["model"] == name])
                for m in METRICS if any(m in r for r in runs if r["model"] == name)
            }
            for name in HEADS
        }  # fmt: skip
        return {"aggregates": {"models": models, "comparison": comparison,
                               "verdict": ssl_verdict(comparison)}}  # fmt: skip

    def figures(
        self, setting: SSLSetting, report: dict[str, Any], folder: Path
    ) -> dict[str, Path]:
        stem = setting.stem
        first = [r for r in report["runs"] if r["seed"] == 0]
        files = {"curves": plots.plot_ssl_curves(first, folder / f"{stem}-curves.png",
                                                 title=f"{stem}: seed 0")}  # fmt: skip
        glai_run = next(r for r in first if r["model"] == "glai")
        files["path_distance"] = plots.plot_path_distance(
            glai_run["history"], folder / f"{stem}-path-distance.png",
            freeze_epoch=glai_run["structure_frozen_epoch"], title=f"{stem}: GLAI head, seed 0",
        )  # fmt: skip
        return files

    def markdown(self, report: dict[str, Any]) -> str:
        """The setting's table over seeds, the raw-feature reference, the verdict, the machine."""
        cfg, agg, data = report["config"], report["aggregates"], report["data"]
        raw = report["raw_features"]
        n = len(cfg["seeds"])
        lines = [
            f"### {report['setting']}",
            "",
            f"{cfg['setting']['description']}. Images {data['sizes']}; views per image "
            f"{data['views']}; {n} seeds; mean ± std over seeds. Accuracies on the clean test "
            "images; kNN: k=20, cosine; NT-Xent: held-out views, blocks of the batch size.",
            "",
            "| head | params | linear probe test % | kNN test % | best held-out NT-Xent "
            "| best kNN val % | s to own best loss | s to MLP's best loss "
            "| s to MLP's best kNN val | epochs | freeze epoch | s total |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, s in agg["models"].items():
            freeze = s.get("structure_frozen_epoch")
            lines.append("| " + " | ".join([
                name, f"{s['params']['mean']:,.0f}", mean_std(s["linear_test"], 100),
                mean_std(s["knn_test"], 100), mean_std(s["best_val_loss"], digits=3),
                mean_std(s["best_knn_val"], 100), mean_std(s["seconds_to_best_loss"]),
                mean_std(s["seconds_to_mlp_best_loss"]), mean_std(s["seconds_to_mlp_best_knn"]),
                mean_std(s["epochs"], digits=1),
                "-" if freeze is None else mean_std(freeze, digits=1), mean_std(s["seconds"]),
            ]) + " |")  # fmt: skip
        lines.append(
            f"| backbone features, no head | - | {100 * raw['linear_test']:.2f} "
            f"| {100 * raw['knn_test']:.2f} | - | {100 * raw['knn_val']:.2f} "
            "| - | - | - | - | - | - |"
        )
        lines.append("")
        return "\n".join(lines + markdown_tail(report, agg["verdict"]))


