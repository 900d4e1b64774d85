"""``glai train`` on a saved feature matrix: the command line, in one process or several.

The data are an ``.npz`` file (or a folder of ``.npy`` files) with ``X [n, n_0]`` and ``y [n]``
(optionally ``X_val``, ``y_val``, ``sample_weight``). This script writes one, then runs the
same as the shell command

    glai train features.npz --model glai --hidden 64 --epochs 30 --out run/
    # or, in two processes: torchrun --nproc_per_node 2 -m glai train features.npz ...

and loads the model it wrote.

    python examples/train_on_npz.py
"""

import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

import glai
from glai.cli import main

folder = Path(tempfile.mkdtemp())
X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X).astype(np.float32)
np.savez(folder / "features.npz", X=X[:1500], y=y[:1500])  # X_val, y_val may join them

argv = ["train", str(folder / "features.npz"), "--model", "glai", "--hidden", "64",
        "--epochs", "30", "--out", str(folder / "run")]  # fmt: skip
print("glai " + " ".join(argv))
main(argv)  # what the `glai` command runs

model = glai.load_glai(folder / "run" / "model.safetensors")
history = json.loads((folder / "run" / "history.json").read_text())
with torch.no_grad():
    accuracy = (model(torch.from_numpy(X[1500:])).argmax(1).numpy() == y[1500:]).mean()
print(f"{model.phase} GLAI, {len(history['records'])} epochs; unseen rows' accuracy {accuracy:.3f}")
