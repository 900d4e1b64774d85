"""Run ``glai bench`` on exported feature folders instead of the feature cache.

    PYTHONPATH=src python scripts/bench_exported.py [--features DIR] [--set SETTING FIELD=V,..]
        -- bench SETTING [ARGS ...]

For a machine that reaches neither the data sets nor the backbones' weights: the incremental and
federated settings read their splits from ``DIR/<source>/`` (``X.npy``, ``X_val.npy``,
``X_test.npy``, ``y*.npy``, ``info.json``), the folders ``scripts/export_features.py`` writes
(the quick subsets of ``wordnet-minilm`` and ``fashion-effnet``, standardised, float16, the same
5,000-row subsets these settings draw). The arrays are cast to float32; the outcome's
``data.info`` says which folder they came from. ``--set SETTING FIELD=V1,V2`` replaces a
tuple field of a registered setting for this run (e.g. ``clients=100``; the JSON's config
records the fields that ran). Without ``--features`` the settings load their own features (data
sets, backbones and the feature cache), so ``--set`` alone runs one cell of a setting's grid.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from glai_bench.cli import main
from glai_bench.data import Splits
from glai_bench.protocols.federated import Federated
from glai_bench.protocols.incremental import Incremental
from glai_bench.settings import SETTINGS

# setting's dataset -> the exported folder holding its subsets
SOURCES = {"wordnet": "wordnet-minilm", "fashion-mnist": "fashion-effnet"}


def exported_splits(folder: Path) -> Splits:
    """The six arrays of an exported folder, features as float32."""
    if not (folder / "info.json").is_file():
        raise SystemExit(f"--features: no exported folder at {folder} (no info.json)")
    names = ("X", "y", "X_val", "y_val", "X_test", "y_test")
    arr = {k: np.load(folder / f"{k}.npy") for k in names}
    info = json.loads((folder / "info.json").read_text())
    info["exported_from"] = str(folder)
    x = {k: arr[k].astype(np.float32) for k in ("X", "X_val", "X_test")}
    y = {k: arr[k].astype(np.int64) for k in ("y", "y_val", "y_test")}
    return Splits(x["X"], y["y"], x["X_val"], y["y_val"], x["X_test"], y["y_test"], info)


def override(name: str, assignments: list[str]) -> None:
    """Replace tuple fields of ``SETTINGS[name]`` (values cast like the current ones)."""
    if name not in SETTINGS:
        raise SystemExit(f"--set: unknown setting {name!r}")
    setting = SETTINGS[name]
    names = {f.name for f in fields(setting)}
    changes = {}
    for item in assignments:
        key, _, text = item.partition("=")
        current = getattr(setting, key, None) if key in names else None
        if not isinstance(current, tuple) or not current:
            raise SystemExit(f"--set: {key!r} is not a tuple field of {name!r}")
        kind = type(current[0])
        changes[key] = tuple(kind(v) for v in text.split(","))
    SETTINGS[name] = replace(setting, **changes)


def main_exported(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default=None,
                        help="folder of exported settings (default: the settings' own features)")
    parser.add_argument("--set", nargs="+", default=None, metavar="X",
                        help="SETTING FIELD=V1,V2 ...: tuple fields replaced")  # fmt: skip
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="-- then the glai arguments")
    args = parser.parse_args(argv)
    if args.set:
        override(args.set[0], args.set[1:])
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    if args.features is None:
        return main(rest)
    root = Path(args.features)

    def load(self: object, setting: object, options: object) -> Splits:
        dataset = setting.dataset  # type: ignore[attr-defined]
        if dataset not in SOURCES:
            raise SystemExit(f"--features: no exported folder for data set {dataset!r}")
        return exported_splits(root / SOURCES[dataset])

    Incremental.load = load  # type: ignore[method-assign,assignment]
    Federated.load = load  # type: ignore[method-assign,assignment]
    return main(rest)


if __name__ == "__main__":
    sys.exit(main_exported(sys.argv[1:]))
