"""Tests for glai_bench.backbones: the frozen EfficientNet-Lite0 and MiniLM encoders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from glai_bench.backbones import EfficientNetLite0Features, MiniLMEncoder
from glai_bench.datasets import FASHION_MNIST_DIR, load_fashion_mnist, stratified_split

needs_fashion = pytest.mark.skipif(
    not FASHION_MNIST_DIR.is_dir(), reason="Debian package dataset-fashion-mnist not installed"
)


@pytest.fixture(scope="module")
def effnet() -> EfficientNetLite0Features:
    return EfficientNetLite0Features(pretrained=True, resolution=32)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (8, 28, 28), dtype=np.uint8)


# ---- EfficientNet-Lite0 -----------------------------------------------------------------------


def test_effnet_features_shape_and_finite(effnet: EfficientNetLite0Features, images) -> None:
    features = effnet.extract(images, progress=False)
    assert features.shape == (8, 1280) and features.dtype == np.float32
    assert np.isfinite(features).all() and features.std() > 1e-3


def test_effnet_loads_the_shipped_checkpoint(effnet: EfficientNetLite0Features) -> None:
    state = torch.load(effnet.weights_path(), map_location="cpu", weights_only=True)
    torch.testing.assert_close(effnet.net._conv_stem.weight, state["_conv_stem.weight"])
    assert not any(p.requires_grad for p in effnet.parameters())


def test_effnet_batches_do_not_interact(effnet: EfficientNetLite0Features, images) -> None:
    # eval-mode BatchNorm: an image's features must not depend on its batch mates
    whole = effnet.extract(images, batch_size=8, progress=False)
    pieces = effnet.extract(images, batch_size=3, progress=False)
    np.testing.assert_allclose(whole, pieces, rtol=1e-4, atol=1e-5)


def test_effnet_preprocess(effnet: EfficientNetLite0Features) -> None:
    x = effnet.preprocess(torch.tensor([[[0, 255], [255, 0]]], dtype=torch.uint8))
    assert x.shape == (1, 3, 32, 32)
    assert x.min() >= -1.0 and x.max() <= 1.0
    torch.testing.assert_close(x[:, 0], x[:, 2])
    flat = effnet.preprocess(torch.full((1, 32, 32), 255, dtype=torch.uint8))
    torch.testing.assert_close(flat, torch.ones(1, 3, 32, 32))  # no resize at 32 px: 255 -> 1


def test_effnet_other_resolution(images) -> None:
    features = EfficientNetLite0Features(resolution=48).extract(images[:2], progress=False)
    assert features.shape == (2, 1280) and np.isfinite(features).all()


def test_effnet_random_init_is_seeded_and_leaves_global_rng(images) -> None:
    torch.manual_seed(7)
    expected = torch.rand(1)
    torch.manual_seed(7)
    a = EfficientNetLite0Features(pretrained=False, seed=1).extract(images, progress=False)
    torch.testing.assert_close(torch.rand(1), expected)
    b = EfficientNetLite0Features(pretrained=False, seed=1).extract(images, progress=False)
    c = EfficientNetLite0Features(pretrained=False, seed=2).extract(images, progress=False)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.isfinite(a).all() and a.std() > 1e-2  # He init keeps the signal alive


def test_effnet_rejects_wrong_input(effnet: EfficientNetLite0Features) -> None:
    with pytest.raises(ValueError, match="uint8 grayscale"):
        effnet.extract(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="resolution 8"):
        EfficientNetLite0Features(resolution=8)


@needs_fashion
def test_pretrained_features_beat_random_features(effnet: EfficientNetLite0Features) -> None:
    """A linear probe on 400 Fashion-MNIST images: ImageNet weights must carry information.

    Measured on this setting: pretrained ~0.66-0.69, random He-init ~0.48 test accuracy.
    """
    data = load_fashion_mnist()
    train = stratified_split(data["y_train"], 400 / 60000, seed=0)[0]
    test = stratified_split(data["y_test"], 400 / 10000, seed=0)[0]
    y_train, y_test = data["y_train"][train], data["y_test"][test]

    def probe(backbone: EfficientNetLite0Features) -> float:
        f_train = backbone.extract(data["X_train"][train], progress=False)
        f_test = backbone.extract(data["X_test"][test], progress=False)
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        # One BLAS thread: on a busy 2-core machine threaded OpenBLAS ran this fit 20x slower.
        with threadpool_limits(1):
            return float(clf.fit(f_train, y_train).score(f_test, y_test))

    pretrained = probe(effnet)
    random = probe(EfficientNetLite0Features(pretrained=False, seed=0))
    assert pretrained > 0.55
    assert pretrained > random + 0.08, (pretrained, random)


# ---- all-MiniLM-L6-v2 -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> MiniLMEncoder:
    return MiniLMEncoder()


def test_minilm_shape_and_unit_norm(minilm: MiniLMEncoder) -> None:
    e = minilm.encode(["a dog", "a puppy", "tax law"], progress=False)
    assert e.shape == (3, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_minilm_semantics(minilm: MiniLMEncoder) -> None:
    dog, puppy, tax = minilm.encode(["a dog", "a puppy", "tax law"], progress=False)
    assert dog @ puppy > dog @ tax + 0.3


def test_minilm_order_and_batching(minilm: MiniLMEncoder) -> None:
    # encode sorts by length to batch; the rows must come back in input order, padding-free
    texts = ["a much longer sentence about the history of taxation", "dog", "a small cat sat"]
    together = minilm.encode(texts, batch_size=3, progress=False)
    alone = np.concatenate([minilm.encode([t], progress=False) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_minilm_rejects_a_bare_string(minilm: MiniLMEncoder) -> None:
    with pytest.raises(TypeError, match="sequence of sentences"):
        minilm.encode("a dog")


def test_minilm_matches_sentence_transformers(minilm: MiniLMEncoder) -> None:
    """Our mean pooling + L2 norm reproduces the reference pipeline of the bundled model."""
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(MiniLMEncoder.model_path()), device="cpu")
    texts = ["a dog", "the committee approved the budget", "to move quickly on foot"]
    expected = reference.encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(minilm.encode(texts, progress=False), expected, atol=1e-5)
