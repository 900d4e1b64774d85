"""Bench results on disk: one JSON per setting (everything) and a Markdown table (the gist).

JSON layout: ``config`` (the setting, seeds, threads, device, the estimators' effective
hyper-parameters, the command), ``data`` (split sizes, feature cache keys), ``versions``,
``machine``, ``runs`` (one per seed and head, with full per-epoch histories) and
``aggregates`` (see :mod:`glai_bench.stats`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import platform
import re
import subprocess
from dataclasses import asdict, is_dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from glai import GLAIClassifier, MLPHeadClassifier
from glai_bench.settings import Setting
from glai_bench.tradeoff import TradeoffPoint, tradeoff_markdown

__all__ = ["versions", "machine", "estimator_defaults", "build_report", "write_json", "markdown"]

_PACKAGES = (
    "glai", "torch", "numpy", "scipy", "scikit-learn", "efficientnet-lite-pytorch",
    "transformers", "mnist1d",
)  # fmt: skip


def versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape the numbers (None: not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@functools.cache
def git_commit() -> str | None:
    """The checkout's commit (``+dirty`` with uncommitted changes to tracked files).

    Cached: call it when a run starts, so the report names the code that ran, not the code
    checked out when the report is written.
    """
    root = Path(__file__).resolve().parents[2]  # src/glai_bench/report.py -> the checkout
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine(threads: int, device: str) -> dict[str, Any]:
    """Where the numbers were measured: platform, CPU model, cores, threads, GPU, date."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "device": device,
        "gpu": gpu,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
    }


def machine_line(m: dict[str, Any]) -> str:
    """One line for the foot of a table."""
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
    return (
        f"machine: {m['cpu']}, {m['cores']} cores, {m['threads']} torch thread(s), "
        f"device {m['device']}{gpu}; {m['platform']}; {m['date']}"
    )


def jsonable(x: Any) -> Any:
    """JSON-safe copy: dataclasses to dicts, tuples to lists, NaN/inf to None, numpy to Python."""
    if is_dataclass(x) and not isinstance(x, type):
        return jsonable(asdict(x))
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy / torch scalars
        x = x.item()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, (bool, int, str)):
        return x
    return repr(x)


def estimator_defaults(setting: Setting) -> dict[str, Any]:
    """The hyper-parameters the heads ran with: the library defaults plus the setting's."""
    kw = setting.head_kwargs()
    return {
        "mlp": MLPHeadClassifier(setting.hidden, **kw).get_params(),
        "glai": GLAIClassifier(setting.hidden, **kw).get_params(),
    }


def build_report(
    setting: Setting,
    runs: list[dict[str, Any]],
    aggregates: dict[str, Any],
    *,
    data_info: dict[str, Any],
    timing: dict[str, Any],
    device: str,
    seeds: int,
    command: str,
) -> dict[str, Any]:
    """The JSON document of one setting."""
    config = {
        "setting": asdict(setting),
        "seeds": list(range(seeds)),
        "device": device,
        **timing,
        "estimators": estimator_defaults(setting),
        "command": command,
    }
    return jsonable({
        "setting": setting.stem,
        "config": config,
        "data": data_info,
        "versions": versions(),
        "machine": machine(timing["threads"], device),
        "runs": runs,
        "aggregates": aggregates,
    })  # fmt: skip


def write_json(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    return path


def _ms(s: dict[str, Any], scale: float = 1.0, digits: int = 2) -> str:
    if s.get("mean") is None:
        return "never"
    text = f"{s['mean'] * scale:.{digits}f} ± {s['std'] * scale:.{digits}f}"
    return text + (f" ({s['n']}/{s['n'] + s['n_missing']})" if s["n_missing"] else "")


_PHASE_TAG = {"mlp": "", "structural": "S ", "quantitative": "Q "}


def _p(test: dict[str, Any]) -> str:
    return "n/a" if test["t_pvalue"] is None else f"{test['t_pvalue']:.3g}"


def markdown(report: dict[str, Any]) -> str:
    """A Markdown section for one setting: the table over seeds, the verdict, the machine."""
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
            delta = "n/a" if d is None else f"{100 * d:+.2f} ({_p(comp['test_accuracy'])})"
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
            name, f"{s['params']['mean']:,.0f}", _ms(s["mva"], 100), _ms(s["test_accuracy"], 100),
            delta, _ms(s["seconds_to_mva"]), _ms(s["seconds_to_mlp_mva"]), speed,
            "-" if freeze is None else _ms(freeze, digits=1), per_epoch or "-",
            _ms(s["inference_seconds"], 1000),
        ]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for text in agg.get("verdict", {}).get("text", []):
        lines.append(f"- GLAI (matched, rho=auto): {text}")
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
    lines += [
        "",
        f"Command: `{cfg['command']}`",
        "",
        machine_line(report["machine"]),
        "",
    ]
    return "\n".join(lines)
