"""Print the oldest release of each dependency that pyproject.toml allows, as pins.

``make test-min-versions`` installs these into a venv of their own and runs the tests there,
so the floors declared in ``[project] dependencies`` are the versions tested, not a guess.
Each ``name>=X`` becomes ``name==X``; ``--except NAME`` leaves a package out (torch: its older
releases are multi-GB CUDA wheels on PyPI, so the venv keeps the local CPU wheel).

    python scripts/min_requirements.py --except torch
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
_FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def floors(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """``{name: oldest version}`` of every ``[project] dependencies`` entry; a ValueError for
    an entry without a ``>=`` floor (every dependency must declare one)."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    out = {}
    for dep in deps:
        match = _FLOOR.match(dep)
        if match is None:
            raise ValueError(f"dependency {dep!r} in {pyproject} has no '>=' floor")
        out[match.group(1)] = match.group(2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--except", dest="skip", action="append", default=[], metavar="NAME")
    args = parser.parse_args()
    print(" ".join(f"{name}=={version}" for name, version in floors().items()
                   if name not in args.skip))  # fmt: skip


if __name__ == "__main__":
    main()
