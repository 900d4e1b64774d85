"""One short GPU session: the ``gpu`` tests, then MLP vs GLAI (each solver) on CPU and CUDA.

    PYTHONPATH=src python scripts/gpu_check.py [--features gpu_features] [--epochs 60]

Reads the quick bench settings' features exported by ``scripts/export_features.py`` (one folder
per setting), trains every head with the same seed on the CPU and on CUDA through
``glai.run.fit_head``, prints a table and writes ``$OUT/gpu_check.json`` (and the
test log ``$OUT/gpu_tests.txt``). Needs no network and nothing outside the working tree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glai.run import RunConfig, describe, fit_head

HEADS = {
    "mlp": {"model": "mlp"},
    "glai-adam": {"model": "glai", "quant_optimizer": "adam"},
    "glai-lbfgs": {"model": "glai", "quant_optimizer": "lbfgs"},
    "glai-ridge": {"model": "glai", "quant_optimizer": "ridge"},
}


def _tests_without_pytest(out: Path) -> int:
    """Run tests/training/test_gpu.py's functions directly (a GPU machine may lack pytest)."""
    import importlib.util
    import traceback
    import types

    class _Approx:
        def __init__(self, value: float, rel: float = 1e-6) -> None:
            self.value, self.rel = value, rel

        def __eq__(self, other: object) -> bool:
            return abs(float(other) - self.value) <= self.rel * abs(self.value)  # type: ignore[arg-type]

    def parametrize(names: str, values: list[Any], **_: Any) -> Any:
        def mark(fn: Any) -> Any:
            fn.params = values
            return fn

        return mark

    stub = types.ModuleType("pytest")
    stub.mark = types.SimpleNamespace(gpu=None, parametrize=parametrize)  # type: ignore[attr-defined]
    stub.approx = _Approx  # type: ignore[attr-defined]
    sys.modules["pytest"] = stub
    spec = importlib.util.spec_from_file_location("test_gpu", "tests/training/test_gpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines, failed = [], 0
    for name in sorted(n for n in dir(module) if n.startswith("test_")):
        fn = getattr(module, name)
        for params in getattr(fn, "params", [None]):
            try:
                fn() if params is None else fn(params)
                lines.append(f"PASSED {name} {params or ''}")
            except Exception:
                failed += 1
                lines.append(f"FAILED {name} {params or ''}\n{traceback.format_exc()}")
    del sys.modules["pytest"]
    (out / "gpu_tests.txt").write_text("\n".join(lines))
    print(f"gpu tests without pytest: {len(lines) - failed} passed, {failed} failed")
    return int(failed > 0)


def _tests(out: Path) -> int:
    import importlib.util

    if importlib.util.find_spec("pytest") is None:
        return _tests_without_pytest(out)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": "src"},
    )  # fmt: skip
    (out / "gpu_tests.txt").write_text(proc.stdout + proc.stderr)
    print(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-2000:])
    return proc.returncode


def _run(folder: Path, head: str, device: str, epochs: int) -> dict[str, Any]:
    info = json.loads((folder / "info.json").read_text())
    arrays = {k: np.load(folder / f"{k}.npy") for k in ("X", "y", "X_val", "y_val", "X_test",
                                                         "y_test")}  # fmt: skip
    t = {
        k: torch.from_numpy(v.astype(np.float32) if v.dtype == np.float16 else v).to(device)
        for k, v in arrays.items()
    }
    config = RunConfig(hidden=tuple(info["hidden"]), rho=info["rho"], max_epochs=epochs,
                       seed=0, **HEADS[head])  # type: ignore[arg-type]  # fmt: skip
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    model, history = fit_head(config, t["X"], t["y"], t["X_val"], t["y_val"])
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        test_acc = float((model(t["X_test"]).argmax(1) == t["y_test"]).float().mean())
    best = history.best(phase=history.final_phase)
    return {
        "setting": folder.name, "head": head, "device": device, "seconds": seconds,
        "epochs": len(history.records), "best_val": None if best is None else best.val_score,
        "test_acc": test_acc, "seconds_per_epoch": seconds / max(1, len(history.records)),
        **describe(model),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="gpu_features")
    parser.add_argument("--epochs", type=int, default=60, help="maximum epochs per phase")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--cpu-threads", type=int, default=4)
    args = parser.parse_args()
    out = Path(os.environ.get("OUT", "gpu_check_out"))
    out.mkdir(parents=True, exist_ok=True)
    assert torch.cuda.is_available(), "no CUDA device"
    torch.set_num_threads(args.cpu_threads)
    report: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
        "python": platform.python_version(), "cpu_threads": args.cpu_threads,
        "command": "PYTHONPATH=src python " + " ".join(sys.argv),
    }  # fmt: skip
    report["tests_returncode"] = None if args.skip_tests else _tests(out)
    folders = sorted(p for p in Path(args.features).iterdir() if (p / "info.json").exists())
    _run(folders[0], "mlp", "cuda", 1)  # warm-up: CUDA context and kernels
    rows = []
    for folder in folders:
        for head in HEADS:
            for device in ("cpu", "cuda"):
                rows.append(_run(folder, head, device, args.epochs))
                r = rows[-1]
                print(f"{r['setting']:16s} {head:11s} {device:5s} {r['seconds']:8.2f} s "
                      f"{r['epochs']:4d} ep  val {r['best_val']:.4f}  test {r['test_acc']:.4f}",
                      flush=True)  # fmt: skip
                (out / "gpu_check.json").write_text(json.dumps({**report, "runs": rows}, indent=1))
    print(f"\n{report['gpu']}, torch {report['torch']}; CPU with {args.cpu_threads} threads")
    print(f"{'setting':16s} {'head':11s} {'cpu s':>8s} {'cuda s':>8s} {'speedup':>8s} "
          f"{'cuda test acc':>13s}")  # fmt: skip
    for folder in folders:
        for head in HEADS:
            cpu, cuda = (next(r for r in rows if r["setting"] == folder.name and r["head"] == head
                              and r["device"] == d) for d in ("cpu", "cuda"))  # fmt: skip
            print(f"{folder.name:16s} {head:11s} {cpu['seconds']:8.2f} {cuda['seconds']:8.2f} "
                  f"{cpu['seconds'] / cuda['seconds']:7.1f}x {cuda['test_acc']:13.4f}")  # fmt: skip
    print(f"wrote {out}/gpu_check.json")


if __name__ == "__main__":
    main()
