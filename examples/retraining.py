"""Retraining on a frozen structure: new data, batches, and new classes, without a second
structural phase.

Once GLAI's structure is frozen, its quantitative phase is a convex problem on fixed gates:
``warm_start=True`` refits the path weights on new data from where they were,
``partial_fit`` takes one more batch, and a batch with labels the model has not seen adds
those classes while the old outputs' logits stay bit-identical.

    python examples/retraining.py
"""

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from glai import GLAIClassifier

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
rng = np.random.default_rng(0)
order = rng.permutation(len(X))
X, y = X[order], y[order]
test = slice(1400, None)
old = np.flatnonzero(y[:1400] < 8)  # the first data: digits 0-7 only
first, second = old[: len(old) // 2], old[len(old) // 2 :]

clf = GLAIClassifier((64,), warm_start=True, random_state=0).fit(X[first], y[first])
print(f"first fit: classes {clf.classes_.tolist()}, frozen after {clf.structure_frozen_epoch_}")

clf.fit(X[second], y[second])  # warm start: structure kept, path weights refit from there
known = y[test] < 8
score = clf.score(X[test][known], y[test][known])
print(f"after the second half: accuracy on digits 0-7 {score:.3f}")

clf.partial_fit(X[second[:100]], y[second[:100]])  # one more batch, the structure frozen


def logits(X_rows: np.ndarray) -> torch.Tensor:  # clf.model_ is the fitted GLAI block
    with torch.no_grad():
        return clf.model_(torch.as_tensor(X_rows, dtype=torch.float32))


before = logits(X[test])
new = np.flatnonzero(y[:1400] >= 8)
clf.partial_fit(X[new], y[new])  # labels 8 and 9 are new: those outputs are added
same = torch.equal(logits(X[test])[:, :8], before)
print(f"classes now {clf.classes_.tolist()}; the old outputs' logits unchanged: {same}")
print(f"accuracy on all ten digits {clf.score(X[test], y[test]):.3f}")
