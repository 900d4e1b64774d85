"""`glai bench SETTING`: features -> every head over seeds -> statistics -> JSON, table, figures.

Outputs in ``out`` for a setting with stem ``S`` (``NAME`` or ``NAME-quick``): ``S.json``,
``S.md``, ``S-path-distance.png`` (Figure 2), ``S-rho.png`` (Figure 3), ``S-tradeoff.png``
(accuracy against time, :mod:`glai_bench.tradeoff`) and the setting-free ``paths.png``
(Figure 1).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from glai_bench import plots
from glai_bench.data import load_splits
from glai_bench.fewshot import run_fewshot_bench
from glai_bench.report import build_report, git_commit, markdown, write_json
from glai_bench.retrain import run_retrain_bench
from glai_bench.runner import run_setting, timing_context
from glai_bench.settings import FewShotSetting, RetrainSetting, Setting, SSLSetting
from glai_bench.stats import aggregate
from glai_bench.tradeoff import as_dicts, tradeoff_points

__all__ = ["run_bench", "figure2_run"]


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


def run_bench(
    setting: Setting,
    *,
    out: str | os.PathLike[str] = "results",
    seeds: int | None = None,
    threads: int = 1,
    device: str = "cpu",
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    command: str = "",
    only: set[str] | None = None,
) -> dict[str, Any]:
    """Run one setting and write its outputs; returns the report (with ``files`` added).

    ``only``: run just these heads of a classification setting (and the MLP head, their
    target); see :meth:`glai_bench.settings.Setting.head_names`.
    """
    if isinstance(setting, FewShotSetting):
        return run_fewshot_bench(
            setting, out=out, seeds=seeds, threads=threads, device=device, cache_dir=cache_dir,
            progress=progress, command=command,
        )  # fmt: skip
    if isinstance(setting, SSLSetting):
        from glai_bench.simclr import run_ssl_bench

        return run_ssl_bench(
            setting, out=out, seeds=seeds, threads=threads, device=device, cache_dir=cache_dir,
            progress=progress, command=command,
        )  # fmt: skip
    if isinstance(setting, RetrainSetting):
        return run_retrain_bench(
            setting, out=out, seeds=seeds, threads=threads, device=device, cache_dir=cache_dir,
            progress=progress, command=command,
        )  # fmt: skip
    if only is not None:
        setting.head_names(only)  # unknown heads fail before the data load
    git_commit()  # the code as it is now, when the runs start
    data = load_splits(setting, cache_dir=cache_dir, device=device, progress=progress)
    n_seeds = setting.seeds if seeds is None else seeds
    with timing_context(threads) as timing:
        runs = run_setting(
            setting, data, seeds=n_seeds, device=device, only=only, progress=progress
        )
    report = build_report(
        setting, runs, aggregate(runs), data_info=data.info, timing=timing, device=device,
        seeds=n_seeds, command=command,
    )  # fmt: skip
    report["config"]["only"] = None if only is None else sorted(only)
    folder = Path(out)
    stem = setting.stem
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
    points = tradeoff_points(runs)
    report["tradeoff"] = as_dicts(points)
    files["tradeoff"] = plots.plot_accuracy_vs_time(
        points, folder / f"{stem}-tradeoff.png", title=f"{stem}: accuracy against time"
    )
    report["files"] = {k: p.name for k, p in files.items()}
    files["json"] = write_json(report, folder / f"{stem}.json")
    files["markdown"] = folder / f"{stem}.md"
    files["markdown"].write_text(markdown(report))
    report["files"] = {k: str(p) for k, p in files.items()}
    return report
