"""A row's prediction does not depend on which other rows share its batch.

A float32 matrix product sums each row in an order that the BLAS picks from the batch's shape
(MKL's kernels for a remainder of rows sum in another order), so on every
``ATEN_CPU_CAPABILITY`` the same row predicted alone, in a batch of 7 or in the whole set gave
results that differ by far more than scikit-learn's 1e-7
(``check_methods_subset_invariance`` failed on some CPUs and capabilities). The public
predictions run in float64 (:func:`glai.training.predict_batched` with ``dtype``): here every
split gives the same numbers as the whole batch. 64 features: wide enough that float32
summation-order differences are ~1e-6.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from glai import GLAIClassifier, GLAIRegressor, MLPHeadClassifier, MLPHeadRegressor
from glai.fewshot import FewShotHead
from glai.training import predict_batched

N, D = 61, 64
FAST = {"hidden_layer_sizes": 32, "max_epochs": 3, "random_state": 0}


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D)).astype(np.float32) * 3
    labels = np.arange(N) % 4
    X[:, :4] += 4 * np.eye(4, dtype=np.float32)[labels]
    return X, labels, X[:, :3].sum(1) + np.sin(X[:, 3])


def _splits(method: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> list[np.ndarray]:
    """``method`` on the rows one at a time, in batches of 7 (a remainder of 5) and of 32."""
    return [np.concatenate([method(X[i : i + size]) for i in range(0, len(X), size)])
            for size in (1, 7, 32)]  # fmt: skip


@pytest.mark.parametrize(
    "make", [GLAIClassifier, MLPHeadClassifier, GLAIRegressor, MLPHeadRegressor]
)
def test_estimator_predictions_do_not_depend_on_the_batch(make: type) -> None:
    X, labels, target = _data()
    classifier = make in (GLAIClassifier, MLPHeadClassifier)
    est = make(**FAST).fit(X, labels if classifier else target)
    methods = ["predict_proba", "predict"] if classifier else ["predict"]
    for name in methods:
        method = getattr(est, name)
        whole = method(X)
        for split in _splits(method, X):
            # float64 sums of one row in another order: ~1e-16 relative.
            np.testing.assert_allclose(split, whole, rtol=1e-12, atol=1e-15, err_msg=name)


def test_few_shot_embeddings_do_not_depend_on_the_batch() -> None:
    X, labels, _ = _data()
    head = FewShotHead(32, 16, n_way=3, k_shot=2, n_query=3, episodes=20, check_every=10,
                       val_tasks=10, random_state=0).fit(X, labels)  # fmt: skip
    whole = head.transform(X)
    assert whole.dtype == np.float32
    for split in _splits(head.transform, X):
        np.testing.assert_array_equal(split, whole)  # rounded from float64: the same floats


def test_predict_batched_in_float64_leaves_the_model_as_it_is() -> None:
    model = torch.nn.Linear(D, 3)
    x = torch.randn(10, D)
    out = predict_batched(model, (x,), dtype=torch.float64)
    assert out.dtype == torch.float64 and model.weight.dtype == torch.float32
    assert model.training  # put back in its mode, and never switched to float64
    expected = x.double() @ model.weight.double().t() + model.bias.double()
    torch.testing.assert_close(out, expected, rtol=1e-14, atol=1e-14)
    assert predict_batched(model, (x[:0],), dtype=torch.float64).dtype == torch.float64
