"""Saving and loading: a GLAI block as a safetensors file (either phase), an estimator with
pickle.

``glai.save_glai`` writes the block's tensors and a versioned configuration with a digest, so
``glai.load_glai`` rebuilds the same block and refuses a corrupt or truncated file. A fitted
estimator pickles like any scikit-learn estimator.

    python examples/save_load.py
"""

import pickle
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_iris

import glai

torch.manual_seed(0)
folder = Path(tempfile.mkdtemp())
x = torch.randn(256, 8)

block = glai.GLAI(8, 32, 3)  # phase "structural"
glai.save_glai(block, folder / "structural.safetensors")
block.freeze_structure(x)  # phase "quantitative"
glai.save_glai(block, folder / "quantitative.safetensors")

loaded = glai.load_glai(folder / "quantitative.safetensors")
print(f"loaded a {loaded.phase} block; same outputs: {torch.equal(loaded(x), block(x))}")
structural = glai.load_glai(folder / "structural.safetensors")
print(f"the structural file loads in phase {structural.phase!r}")

X, y = load_iris(return_X_y=True)
clf = glai.GLAIClassifier((16,), random_state=0).fit(X, y)
(folder / "clf.pkl").write_bytes(pickle.dumps(clf))
restored = pickle.loads((folder / "clf.pkl").read_bytes())
print(f"pickled estimator, same probabilities: "
      f"{np.array_equal(restored.predict_proba(X), clf.predict_proba(X))}")  # fmt: skip
