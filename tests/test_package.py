"""Tests for the package boundary: the library ``glai`` never imports the bench."""

from __future__ import annotations

import subprocess
import sys

import glai


def test_library_imports_neither_bench_nor_matplotlib() -> None:
    # A fresh interpreter: this test process has imported the bench through other tests.
    code = (
        "import sys, glai, glai.training, glai.estimators, glai.io, glai.solvers\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('glai_bench', 'matplotlib'))\n"
        "print(' '.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_version_is_exported() -> None:
    from glai._version import __version__

    assert glai.__version__ == __version__ and __version__.count(".") == 2


def test_the_package_says_it_is_typed() -> None:
    # PEP 561: type checkers read an installed package's annotations only if it ships py.typed
    # (pyproject.toml's package-data puts it in the wheel).
    from importlib.resources import files

    assert files("glai").joinpath("py.typed").is_file()
