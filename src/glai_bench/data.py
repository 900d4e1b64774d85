"""Turn a :class:`~glai_bench.settings.Setting` into feature matrices.

raw data (datasets.py) -> fixed splits and subsets -> features (backbones.py, cached on disk by
features.py) -> standardised with train statistics:

    X_train [n_train, d], X_val [n_val, d], X_test [n_test, d] float32; y_* int64 in 0..C-1.

The splits depend on the setting's ``split_seed`` only, never on the training seed, so every
seed and every head sees the same data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from glai.training import resolve_device
from glai_bench import datasets
from glai_bench.features import array_digest, cached_features, key_digest
from glai_bench.settings import Setting

__all__ = ["RawData", "Splits", "LOADERS", "load_splits"]

Inputs = np.ndarray | Sequence[str]  # images / vectors [N, ...], or N texts


@dataclass
class RawData:
    """A data set before features: the train split and, when official, the test split.

    ``key`` names the source and its options (it goes into the feature cache key, since the
    split indices point into these arrays).
    """

    X_train: Inputs
    y_train: np.ndarray
    X_test: Inputs | None = None
    y_test: np.ndarray | None = None
    key: dict[str, Any] = field(default_factory=dict)


@dataclass
class Splits:
    """Standardised features and labels of the three fixed splits, and how they were made."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_val.max(), self.y_test.max())) + 1


def _fashion(setting: Setting) -> RawData:
    d = datasets.load_fashion_mnist()
    return RawData(d["X_train"], d["y_train"], d["X_test"], d["y_test"], {"source": "debian"})


def _fashion_shifted(setting: Setting) -> RawData:
    """Fashion-MNIST corrupted by the setting's ``shift`` (a :class:`RetrainSetting`)."""
    spec = getattr(setting, "shift", None)
    if spec is None:
        raise ValueError(f"setting {setting.name!r} names no shift for 'fashion-mnist-shifted'")
    d = datasets.load_fashion_mnist()
    seed = setting.split_seed
    return RawData(
        datasets.corrupt_images(d["X_train"], spec, seed), d["y_train"],
        datasets.corrupt_images(d["X_test"], spec, seed + 1), d["y_test"],
        {"source": "debian", "corruption": spec, "corruption_seed": seed},
    )  # fmt: skip


def _wordnet(setting: Setting) -> RawData:
    texts, labels, _ = datasets.load_wordnet_glosses()
    return RawData(texts, labels, key={"min_count": 100, "examples": False})


def _mnist1d(setting: Setting) -> RawData:
    n = setting.n_samples or 5000
    d = datasets.load_mnist1d(seed=setting.split_seed, num_samples=n)
    return RawData(d["X_train"], d["y_train"], d["X_test"], d["y_test"], {"n_samples": n})


# dataset name -> loader; tests register tiny data sets here.
LOADERS: dict[str, Callable[[Setting], RawData]] = {
    "fashion-mnist": _fashion,
    "fashion-mnist-shifted": _fashion_shifted,
    "wordnet": _wordnet,
    "mnist1d": _mnist1d,
}


def take_subset(x: Inputs, idx: np.ndarray) -> Inputs:
    if isinstance(x, np.ndarray):
        return x[idx]
    return [x[i] for i in idx]


def _stratified(idx: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into ``n`` indices and the rest, class proportions kept; both sorted."""
    a, b = train_test_split(idx, train_size=n, stratify=y[idx], random_state=seed)
    return np.sort(a), np.sort(b)


def split_indices(setting: Setting, raw: RawData) -> dict[str, tuple[str, np.ndarray]]:
    """``{split: (source, indices)}``, source ``"train"`` or ``"test"`` of ``raw``."""
    seed = setting.split_seed
    n = len(raw.y_train)
    pool = np.arange(n)
    if raw.y_test is None:
        if setting.test_fraction is None:
            raise ValueError(
                f"setting {setting.name!r}: the data have no test split; set test_fraction"
            )
        test, pool = _stratified(pool, raw.y_train, round(setting.test_fraction * n), seed)
        test_source = "train"
    else:
        test, test_source = np.arange(len(raw.y_test)), "test"
    val, train = _stratified(pool, raw.y_train, round(setting.val_fraction * len(pool)), seed)
    y_test = raw.y_train if test_source == "train" else raw.y_test
    assert y_test is not None
    out = {}
    for name, idx, y, want in (
        ("train", train, raw.y_train, setting.n_train),
        ("val", val, raw.y_train, setting.n_val),
        ("test", test, y_test, setting.n_test),
    ):
        if want is not None and want < len(idx):
            idx = _stratified(idx, y, want, seed + 1)[0]
        out[name] = (test_source if name == "test" else "train", idx)
    return out


def backbone_featurizer(
    setting: Setting, device: torch.device, progress: bool
) -> tuple[dict[str, Any], Callable[[Inputs], np.ndarray]]:
    """(cache key, inputs -> features) of the setting's frozen backbone."""
    from glai_bench import backbones

    if setting.backbone == "efficientnet-lite0":
        net = backbones.EfficientNetLite0Features(
            resolution=setting.resolution or 32, device=device
        )
        return net.cache_key(), lambda x: net.extract(np.asarray(x), progress=progress)
    if setting.backbone == "all-MiniLM-L6-v2":
        enc = backbones.MiniLMEncoder(device=device)
        return enc.cache_key(), lambda x: enc.encode(list(x), progress=progress)
    raise ValueError(f"unknown backbone {setting.backbone!r}")


def raw_features(x: Inputs) -> np.ndarray:
    a = np.asarray(x)
    scale = 255.0 if a.dtype == np.uint8 else 1.0  # pixels -> [0, 1]
    return (a.reshape(len(a), -1) / scale).astype(np.float32)


def load_splits(
    setting: Setting,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Splits:
    """Features and labels of the setting's train, validation and test splits.

    Backbone features are cached per split under a key holding the data source, the split's
    indices, and the backbone's own key (weights, resolution, preprocessing, versions).
    """
    raw = LOADERS[setting.dataset](setting)
    splits = split_indices(setting, raw)
    source_x = {"train": raw.X_train, "test": raw.X_test}
    source_y = {"train": raw.y_train, "test": raw.y_test}
    backbone_key: dict[str, Any] = {}
    featurize: Callable[[Inputs], np.ndarray] = raw_features
    if setting.backbone is not None:
        backbone_key, featurize = backbone_featurizer(setting, resolve_device(device), progress)
    X, y, keys = {}, {}, {}
    for name, (source, idx) in splits.items():
        xs, ys = source_x[source], source_y[source]
        assert xs is not None and ys is not None
        inputs = take_subset(xs, idx)
        y[name] = np.asarray(ys)[idx].astype(np.int64)
        if setting.backbone is None:
            X[name] = featurize(inputs)
            continue
        key = {
            "dataset": setting.dataset, **raw.key, "source_split": source,
            "indices": array_digest(idx), **backbone_key,
        }  # fmt: skip
        stem = f"{setting.dataset}-{name}-{setting.backbone}"
        if setting.resolution is not None:
            stem += f"-{setting.resolution}px"
        X[name] = cached_features(
            stem, key, partial(featurize, inputs), cache_dir=cache_dir, shape=(len(idx), None)
        )
        keys[name] = key_digest(key)
    if setting.standardize:
        mean = X["train"].mean(axis=0, dtype=np.float64)
        std = X["train"].std(axis=0, dtype=np.float64)
        std[std == 0] = 1.0
        X = {k: ((v - mean) / std).astype(np.float32) for k, v in X.items()}
    info = {
        "dataset": setting.dataset,
        "backbone": setting.backbone,
        "resolution": setting.resolution,
        "n_features": int(X["train"].shape[1]),
        "sizes": {k: int(len(v)) for k, v in y.items()},
        "standardized": setting.standardize,
        "feature_cache_keys": keys,
        "split_digests": {k: array_digest(idx) for k, (_, idx) in splits.items()},
    }
    out = Splits(X["train"], y["train"], X["val"], y["val"], X["test"], y["test"], info)
    out.info["n_classes"] = out.n_classes
    return out
