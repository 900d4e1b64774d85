"""The bench's subcommands of ``glai``: ``glai demo`` and ``glai bench SETTING``.

glai demo [--out DIR]
glai bench SETTING|all [--seeds N] [--quick] [--out DIR] [--threads T] [--device cpu|cuda|auto]
           [--budgets B ...] [--widths W ...] [--only MODEL,...]

The parser is the library's (:func:`glai.cli.build_parser`: ``--version``, ``train``);
:func:`register` adds these two commands to it, through the entry point ``glai.commands``
when the package is installed. Without the ``bench`` extra both commands say which extra to
install instead of failing on a missing module.
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["BENCH_EXTRA", "build_parser", "main", "register"]

#: What ``glai demo`` and ``glai bench`` need beyond the library.
BENCH_EXTRA = "pip install 'glai-pytorch[bench]'"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _setting_name(text: str) -> str:
    from glai_bench.settings import SETTINGS

    if text != "all" and text not in SETTINGS:
        raise argparse.ArgumentTypeError(
            f"unknown setting {text!r}; choose from {', '.join(SETTINGS)}, all"
        )
    return text


def _common(p: argparse.ArgumentParser, out: str) -> None:
    p.add_argument("--out", default=out, help=f"output folder (default: {out})")
    p.add_argument(
        "--threads", type=_positive, default=1,
        help="torch/BLAS threads while training and timing (default: 1)",
    )  # fmt: skip
    p.add_argument(
        "--device", choices=("cpu", "cuda", "auto"), default="cpu",
        help="where the heads train and the backbone runs (default: cpu)",
    )  # fmt: skip
    p.add_argument(
        "--cache-dir", default=None,
        help="feature cache (default: $GLAI_CACHE_DIR or ~/.cache/glai)",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register(sub: Any) -> None:
    """Add ``demo`` and ``bench`` to the ``glai`` parser's subparsers (the ``glai.commands``
    entry point)."""
    from glai_bench.settings import SETTINGS

    demo = sub.add_parser(
        "demo",
        help="MLP and GLAI heads on EfficientNet-Lite0 features of Fashion-MNIST (a few minutes)",
    )
    _common(demo, "demo_out")
    demo.set_defaults(run=_demo)
    bench = sub.add_parser(
        "bench",
        help="the benchmark harness: every head over seeds, statistics, JSON, table, figures",
        description="Settings: " + "; ".join(f"{n}: {s.description}" for n, s in SETTINGS.items()),
    )
    bench.add_argument(
        "setting",
        metavar="SETTING",
        type=_setting_name,
        help=f"one of {', '.join(SETTINGS)}, or all",
    )
    bench.add_argument(
        "--seeds", type=_positive, default=None, help="number of seeds (default: the setting's)"
    )
    bench.add_argument("--quick", action="store_true", help="small subsets and few seeds (< 3 min)")
    bench.add_argument(
        "--budgets", type=_positive_float, nargs="+", default=None, metavar="B",
        help="GLAI budgets (glai-xB heads) as multiples of the matched MLP's parameter count, "
        "instead of the setting's",
    )  # fmt: skip
    bench.add_argument(
        "--widths", type=_positive, nargs="+", default=None, metavar="W",
        help="hidden widths of the further MLP heads (mlp-wW), instead of the setting's",
    )  # fmt: skip
    bench.add_argument(
        "--only", default=None, metavar="MODEL,...",
        help="run only these heads (and the matched MLP head, every head's target), e.g. "
        "glai-x4,glai-x8; outputs are named SETTING+MODEL+...; classification settings only",
    )  # fmt: skip
    _common(bench, "results")
    bench.set_defaults(run=_bench)


def build_parser() -> argparse.ArgumentParser:
    """The ``glai`` parser with the bench's commands, whether or not its entry point is
    installed (a source checkout on ``PYTHONPATH``)."""
    from glai.cli import build_parser as glai_parser

    return glai_parser(extensions=[register])


def _device(name: str) -> str:
    from glai.training import resolve_device

    try:
        return str(resolve_device(name))
    except ValueError as err:
        raise SystemExit(f"glai: {err}") from err


@contextmanager
def _bench_extra(command: str) -> Iterator[None]:
    """Run ``glai COMMAND``: a third-party module missing on the way (imported when the
    command starts or later, as a data set's loader) means the ``bench`` extra is not
    installed, and the command exits saying so instead of with a traceback."""
    try:
        yield
    except ModuleNotFoundError as err:
        missing = (err.name or "?").split(".")[0]
        if missing in ("glai", "glai_bench"):
            raise
        raise SystemExit(
            f"glai {command} needs the bench extra ({missing} is not installed): {BENCH_EXTRA}"
        ) from err


def _demo(args: argparse.Namespace, argv: Sequence[str]) -> int:
    with _bench_extra("demo"):
        return _run_demo(args)


def _run_demo(args: argparse.Namespace) -> int:
    from glai_bench.demo import run_demo

    start = time.perf_counter()
    report = run_demo(
        args.out, threads=args.threads, device=_device(args.device), cache_dir=args.cache_dir,
        progress=not args.no_progress,
    )  # fmt: skip
    print(report["table"])
    files = ", ".join(report["files"].values())
    print(f"wall time {time.perf_counter() - start:.0f} s; wrote {files}")
    return 0


def _bench(args: argparse.Namespace, argv: Sequence[str]) -> int:
    with _bench_extra("bench"):
        return _run_bench(args, argv)


def _run_bench(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from glai_bench.bench import run_bench
    from glai_bench.protocols.classification import scan_variant
    from glai_bench.settings import SETTINGS

    names = list(SETTINGS) if args.setting == "all" else [args.setting]
    device = _device(args.device)
    command = "glai " + shlex.join(argv)
    only = None if args.only is None else {m.strip() for m in args.only.split(",") if m.strip()}
    for name in names:
        setting = SETTINGS[name].quick_variant() if args.quick else SETTINGS[name]
        try:
            setting = scan_variant(setting, budgets=args.budgets, widths=args.widths, only=only)
        except ValueError as err:
            raise SystemExit(f"glai bench: {err}") from err
        start = time.perf_counter()
        report = run_bench(
            setting, out=args.out, seeds=args.seeds, threads=args.threads, device=device,
            cache_dir=args.cache_dir, progress=not args.no_progress, command=command, only=only,
        )  # fmt: skip
        print(Path(report["files"]["markdown"]).read_text())
        print(f"{setting.stem}: wall time {time.perf_counter() - start:.0f} s; wrote {args.out}/")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``glai`` command with the bench's subcommands (as :func:`glai.cli.main`)."""
    from glai.cli import main as glai_main

    return glai_main(argv, extensions=[register])


if __name__ == "__main__":
    raise SystemExit(main())
