"""How SSL papers score an embedding: a kNN vote and a linear probe on labelled images.

Both fit on the embeddings of the training images and score another split; the probes are the
only use of labels in the SSL bench (:mod:`glai_bench.protocols.ssl`).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from glai.training import predict_batched

__all__ = ["knn_accuracy", "linear_probe_accuracy", "embed"]


def knn_accuracy(
    z_ref: np.ndarray, y_ref: np.ndarray, z: np.ndarray, y: np.ndarray, k: int = 20
) -> float:
    """Accuracy of a k-nearest-neighbour vote (cosine similarity) of ``z`` among ``z_ref``."""
    knn = KNeighborsClassifier(n_neighbors=min(k, len(y_ref)), metric="cosine",
                               algorithm="brute")  # fmt: skip
    return float(knn.fit(z_ref, y_ref).score(z, y))


def linear_probe_accuracy(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray
) -> float:
    """Test accuracy of logistic regression on standardised embeddings of the training images."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return float(probe.fit(z_train, y_train).score(z_test, y_test))


def embed(head: nn.Module, x: torch.Tensor) -> np.ndarray:
    """The head's embeddings of ``x [N, d]``: ``[N, out_features]`` on the host."""
    return predict_batched(head, (x,)).numpy()
