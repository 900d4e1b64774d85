"""`glai bench SETTING`: features -> every head over seeds -> statistics -> JSON, table, figures.

One skeleton for every kind of setting: the setting's protocol (:mod:`glai_bench.protocols`)
loads the data, runs its heads and summarises them; :func:`run_bench` fixes the timing
conditions, builds the report (:func:`glai_bench.report.build_report`) and writes, for a
setting with stem ``S`` (``NAME`` or ``NAME-quick``), ``S.json``, ``S.md`` and the protocol's
figures into ``out``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from glai_bench.protocols import Options, protocol_for
from glai_bench.report import build_report, git_commit, write_json
from glai_bench.runner import timing_context
from glai_bench.settings import Setting

__all__ = ["run_bench"]


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

    Args:
        seeds: training seeds ``0 .. seeds-1`` (default: the setting's).
        threads: torch and BLAS threads while training and timing.
        only: run just these heads of a classification setting (and what they need: the MLP
            head, their target); see :meth:`~glai_bench.protocols.base.Protocol.head_names`.

    Raises:
        ValueError: ``only`` names an unknown head, or the setting's kind takes no ``only``
            (before any data are loaded).
    """
    protocol = protocol_for(setting)
    protocol.head_names(setting, only)  # unknown heads fail before the data load
    git_commit()  # the code as it is now, when the runs start
    n_seeds = setting.seeds if seeds is None else seeds
    options = Options(n_seeds, device, only, progress, cache_dir)
    data = protocol.load(setting, options)
    with timing_context(threads) as timing:
        outcome = protocol.run(setting, data, options)
    report = build_report(
        setting, outcome.runs, protocol.summarize(setting, outcome),
        data_info=protocol.data_info(setting, data), timing=timing, device=device,
        seeds=n_seeds, command=command, config=protocol.config(setting, only),
        fields=outcome.fields,
    )  # fmt: skip
    folder = Path(out)
    files = protocol.figures(setting, report, folder)
    if files:  # the JSON names its figures (file names: the folder may move)
        report["files"] = {k: p.name for k, p in files.items()}
    files["json"] = write_json(report, folder / f"{setting.stem}.json")
    files["markdown"] = folder / f"{setting.stem}.md"
    files["markdown"].write_text(protocol.markdown(report))
    report["files"] = {k: str(p) for k, p in files.items()}
    return report
