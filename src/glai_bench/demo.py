"""`glai demo`: the MLP head and the GLAI head on EfficientNet-Lite0 features of Fashion-MNIST.

The subsets are those of ``fashion-effnet --quick`` (5,000 train, 1,000 validation, 2,000 test
images at 64 px): extracting them through the frozen pretrained backbone takes about a minute
on 2 cores the first time and is read from the feature cache afterwards.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from glai_bench import plots
from glai_bench.data import load_splits
from glai_bench.protocols.classification import estimator_defaults, run_seed
from glai_bench.report import build_report, machine_line, write_json
from glai_bench.runner import timing_context, warm_up
from glai_bench.settings import Setting, get_setting
from glai_bench.stats import aggregate

__all__ = ["DEMO_SETTING", "demo_table", "run_demo"]

DEMO_SETTING: Setting = replace(get_setting("fashion-effnet", quick=True), seeds=1, rhos=())


def _s(x: float | None) -> str:
    return "never" if x is None else f"{x:.2f}"


def demo_table(runs: list[dict[str, Any]]) -> str:
    """Fixed-width table of the MLP and GLAI runs of one seed."""
    mlp = next(r for r in runs if r["model"] == "mlp")
    header = (
        "model", "params", "best val acc", "test acc", "frozen after", "paths solved by",
        "time to best (s)", "time to MLP's best (s)", "speedup",
    )  # fmt: skip
    rows = [header]
    for r in runs:
        t = r["seconds_to_mlp_mva"]
        name = "MLP head" if r["model"] == "mlp" else f"GLAI head (rho={r['rho']:.3g})"
        rows.append((
            name, f"{r['params']:,}", f"{r['mva']:.4f}", f"{r['test_accuracy']:.4f}",
            f"{r['structure_steps']} steps" if "structure_steps" in r else "-",
            r.get("quant_optimizer", "-"), _s(r["seconds_to_mva"]), _s(t),
            "never" if t is None else f"{mlp['seconds_to_mva'] / t:.2f}x",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def run_demo(
    out: str | os.PathLike[str] = "demo_out",
    *,
    threads: int = 1,
    device: str = "cpu",
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    setting: Setting | None = None,
) -> dict[str, Any]:
    """Fit both heads (seed 0), write ``path_distance.png`` and ``demo.json`` into ``out``.

    Returns the report, with ``table`` (the printed table) and ``files`` added.
    """
    setting = DEMO_SETTING if setting is None else setting
    data = load_splits(setting, cache_dir=cache_dir, device=device, progress=progress)
    with timing_context(threads) as timing:
        warm_up(data, setting.hidden, device)
        runs = run_seed(setting, data, 0, device=device, only={"mlp", "glai-auto"})
    report = build_report(
        setting, runs, {"aggregates": aggregate(runs)}, data_info=data.info, timing=timing,
        device=device, seeds=1, command="glai demo",
        config={"estimators": estimator_defaults(setting)},
    )  # fmt: skip
    folder = Path(out)
    glai = next(r for r in runs if r["model"] == "glai-auto")
    png = plots.plot_path_distance(
        glai["history"], folder / "path_distance.png", freeze_epoch=glai["structure_frozen_epoch"],
        title=f"GLAI head on {setting.description} (seed 0)",
    )  # fmt: skip
    report["table"] = demo_table(runs) + "\n" + machine_line(report["machine"])
    report["files"] = {"path_distance": png.name, "json": "demo.json"}
    write_json(report, folder / "demo.json")
    report["files"] = {"path_distance": str(png), "json": str(folder / "demo.json")}
    return report
