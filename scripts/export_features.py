"""Export the quick bench settings' cached features as small .npy folders (for a GPU machine).

    PYTHONPATH=src python scripts/export_features.py [SETTING ...] [--out gpu_features]

Each SETTING (default: every setting with a feature matrix) gets ``OUT/SETTING/`` with
``X.npy``, ``X_val.npy``, ``X_test.npy`` (float16: the set must travel in under 64 MiB),
``y.npy``, ``y_val.npy``, ``y_test.npy`` and ``info.json`` (sizes, hidden widths, rho).
Features come from the local cache (``glai bench SETTING --quick`` fills it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from glai_bench.data import load_splits
from glai_bench.settings import SETTINGS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="*", default=["fashion-effnet", "wordnet-minilm",
                                                        "mnist1d-raw"])  # fmt: skip
    parser.add_argument("--out", default="gpu_features")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    total = 0
    for name in args.settings:
        setting = SETTINGS[name].quick_variant()
        data = load_splits(setting, cache_dir=args.cache_dir, progress=False)
        folder = Path(args.out) / name
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {
            "X": data.X_train.astype(np.float16), "y": data.y_train,
            "X_val": data.X_val.astype(np.float16), "y_val": data.y_val,
            "X_test": data.X_test.astype(np.float16), "y_test": data.y_test,
        }  # fmt: skip
        for key, value in arrays.items():
            np.save(folder / f"{key}.npy", value)
            total += value.nbytes
        info = {**data.info, "setting": name, "hidden": list(setting.hidden),
                "rho": setting.rhos[0]}  # fmt: skip
        (folder / "info.json").write_text(json.dumps(info, indent=1, default=str))
        print(f"{name}: {data.X_train.shape} train, {len(data.y_val)} val -> {folder}")
    print(f"{total / 2**20:.1f} MiB written under {args.out}/")


if __name__ == "__main__":
    main()
