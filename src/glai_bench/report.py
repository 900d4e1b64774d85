"""Bench results on disk: one JSON per setting (everything) and a Markdown table (the gist).

JSON layout, for every protocol (:mod:`glai_bench.protocols`): ``config`` (the setting, seeds,
threads, device, the heads' effective hyper-parameters, the command), ``data`` (split sizes,
feature cache keys), ``versions``, ``machine``, the protocol's references measured once (if
any), ``runs`` (one per seed and head, with full per-epoch histories), ``aggregates`` (see
:mod:`glai_bench.stats`) and what goes with them, and ``files``. The Markdown of each protocol
ends with :func:`markdown_tail`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from glai_bench.settings import Setting

__all__ = [
    "versions", "machine", "machine_line", "jsonable", "git_commit", "build_report",
    "write_json", "mean_std", "p_value", "markdown_tail",
]  # fmt: skip

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


def build_report(
    setting: Setting,
    runs: list[dict[str, Any]],
    summary: dict[str, Any],
    *,
    data_info: dict[str, Any],
    timing: dict[str, Any],
    device: str,
    seeds: int,
    command: str,
    config: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document of one setting, whatever its protocol.

    Args:
        summary: top-level fields computed from the runs (``aggregates``, verdicts, ...).
        config: protocol fields of ``config`` (the hyper-parameters the heads ran with).
        fields: further top-level fields measured with the runs (e.g. a reference).
    """
    cfg = {
        "setting": asdict(setting),
        "seeds": list(range(seeds)),
        "device": device,
        **timing,
        **(config or {}),
        "command": command,
    }
    return jsonable({
        "setting": setting.stem,
        "config": cfg,
        "data": data_info,
        "versions": versions(),
        "machine": machine(timing["threads"], device),
        **(fields or {}),
        "runs": runs,
        **summary,
    })  # fmt: skip


def write_json(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    return path


def mean_std(s: dict[str, Any], scale: float = 1.0, digits: int = 2) -> str:
    """A table cell of a :func:`glai_bench.stats.summarize` dict: ``mean ± std``, with
    ``(n/total)`` when some seeds are missing, ``never`` when all are."""
    if s.get("mean") is None:
        return "never"
    text = f"{s['mean'] * scale:.{digits}f} ± {s['std'] * scale:.{digits}f}"
    return text + (f" ({s['n']}/{s['n'] + s['n_missing']})" if s["n_missing"] else "")


def p_value(p: float | None, digits: int = 3) -> str:
    """``p`` for a sentence or a cell (``n/a`` where there is no test)."""
    return "n/a" if p is None else f"{p:.{digits}g}"


def markdown_tail(report: dict[str, Any], bullets: Sequence[str] = ()) -> list[str]:
    """The last lines of every setting's Markdown: ``bullets`` (verdicts) as a list, then the
    command and the machine."""
    command = report["config"]["command"]
    ends = ["", f"Command: `{command}`", "", machine_line(report["machine"]), ""]
    return [f"- {b}" for b in bullets] + ends
