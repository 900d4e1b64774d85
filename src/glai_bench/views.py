"""Augmented views of the images of an SSL setting, through the frozen backbone, cached.

The backbone is frozen, so the features of a fixed number ``V`` of augmented views of every
image (:func:`augment`) are extracted once and cached (:func:`load_views`); each epoch a head
sees two different views per image (:func:`glai.ssl.fit_projection_head`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from glai.training import resolve_device
from glai_bench.data import (
    LOADERS,
    Splits,
    backbone_featurizer,
    load_splits,
    raw_features,
    split_indices,
    take_subset,
)
from glai_bench.features import array_digest, cached_features, key_digest
from glai_bench.settings import SSLSetting

__all__ = ["SSLData", "augment", "load_views"]


def augment(
    images: np.ndarray,
    n_views: int,
    *,
    seed: int,
    scale: tuple[float, float] = (0.5, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    max_rotation: float = 10.0,
    max_translation: float = 0.1,
    flip: bool = True,
) -> np.ndarray:
    """``n_views`` random views of each grayscale image: uint8 ``[N, H, W] -> [N, V, H, W]``.

    One affine resampling per view (bilinear, zero padding: Fashion-MNIST's background is 0),
    mapping output coordinates ``u`` in ``[-1, 1]^2`` to input ones
    ``x = R(a) diag(f w, h) u + c``: a random resized crop of area ``w h`` in ``scale`` (of the
    image) and aspect ``w / h`` in ``ratio`` (log-uniform; sides capped at the image's),
    centred at ``c`` anywhere the crop fits plus a shift of up to ``max_translation`` (of the
    half-side); a horizontal flip ``f = -1`` with probability 1/2; a rotation ``a`` of up to
    ``max_rotation`` degrees either way.
    (choice) No colour jitter or blur: the images are grayscale and 28 px.
    """
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"images must be uint8 [N, H, W], got {images.dtype} {images.shape}")
    if n_views < 1:
        raise ValueError(f"n_views must be >= 1, got {n_views}")
    g = torch.Generator().manual_seed(seed)
    n = images.shape[0] * n_views

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=g)

    area = uniform(*scale)
    log_ratio = uniform(math.log(ratio[0]), math.log(ratio[1]))
    w = (area * log_ratio.exp()).sqrt().clamp(max=1.0)
    h = (area / log_ratio.exp()).sqrt().clamp(max=1.0)
    cx = (1 - w) * uniform(-1, 1) + max_translation * uniform(-1, 1)
    cy = (1 - h) * uniform(-1, 1) + max_translation * uniform(-1, 1)
    f = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    a = torch.deg2rad(uniform(-max_rotation, max_rotation))
    cos, sin = a.cos(), a.sin()
    theta = torch.stack(
        [torch.stack([cos * f * w, -sin * h, cx], 1), torch.stack([sin * f * w, cos * h, cy], 1)],
        dim=1,
    )  # [N V, 2, 3]
    x = torch.from_numpy(images).float().repeat_interleave(n_views, dim=0)[:, None]
    out = []
    for xs, ts in zip(x.split(4096), theta.split(4096)):
        grid = F.affine_grid(ts, list(xs.shape), align_corners=False)
        out.append(F.grid_sample(xs, grid, mode="bilinear", padding_mode="zeros",
                                 align_corners=False))  # fmt: skip
    views = torch.cat(out).round().clamp(0, 255).to(torch.uint8)[:, 0]
    return views.reshape(images.shape[0], n_views, *images.shape[1:]).numpy()


@dataclass(kw_only=True)
class SSLData(Splits):
    """The clean images' splits (:class:`~glai_bench.data.Splits`: ``X_*``, ``y_*``, whose labels
    only feed the probes) and the views: ``views [N, V, d]`` of the training images,
    ``views_val [M, V', d]`` of the validation images; all standardised with the clean training
    images' statistics."""

    views: np.ndarray
    views_val: np.ndarray


def load_views(
    setting: SSLSetting,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> SSLData:
    """Clean features of the setting's splits and cached features of augmented views.

    The views' cache key holds everything the clean features' key holds (source, subset
    indices, backbone) plus the augmentation and its seed, so a change to any of them
    extracts afresh.
    """
    clean = load_splits(
        replace(setting, standardize=False), cache_dir=cache_dir, device=device,
        progress=progress,
    )  # fmt: skip
    raw = LOADERS[setting.dataset](setting)
    indices = split_indices(setting, raw)
    backbone_key: dict[str, Any] = {"backbone": None}
    featurize: Callable[[Any], np.ndarray] = raw_features
    if setting.backbone is not None:
        backbone_key, featurize = backbone_featurizer(setting, resolve_device(device), progress)
    aug = setting.augmentation()
    all_views: dict[str, np.ndarray] = {}
    keys: dict[str, str] = {}
    for name, n_views in (("train", setting.n_views), ("val", setting.n_val_views)):
        source, idx = indices[name]
        assert source == "train"
        images = np.asarray(take_subset(raw.X_train, idx))
        seed = setting.split_seed * 1000 + (1 if name == "train" else 2)
        key = {
            "dataset": setting.dataset, **raw.key, "source_split": source,
            "indices": array_digest(idx), **backbone_key, "views": n_views,
            "augment": aug, "augment_seed": seed,
        }  # fmt: skip

        def compute(images: np.ndarray = images, n_views: int = n_views,
                    seed: int = seed) -> np.ndarray:  # fmt: skip
            views = augment(images, n_views, seed=seed, **aug)
            flat = views.reshape(-1, *views.shape[2:])
            return featurize(flat).reshape(len(images), n_views, -1)

        stem = f"{setting.dataset}-{name}-views{n_views}-{setting.backbone or 'raw'}"
        if setting.resolution is not None:
            stem += f"-{setting.resolution}px"
        all_views[name] = cached_features(
            stem, key, partial(compute), cache_dir=cache_dir, shape=(len(idx), n_views, None)
        )
        keys[name] = key_digest(key)
    mean = clean.X_train.mean(axis=0, dtype=np.float64)
    std = clean.X_train.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0

    def scale(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(np.float32) if setting.standardize else x

    info = {
        **clean.info, "standardized": setting.standardize,
        "views": {"train": setting.n_views, "val": setting.n_val_views},
        "augmentation": aug, "view_cache_keys": keys,
    }  # fmt: skip
    return SSLData(
        X_train=scale(clean.X_train), y_train=clean.y_train, X_val=scale(clean.X_val),
        y_val=clean.y_val, X_test=scale(clean.X_test), y_test=clean.y_test, info=info,
        views=scale(all_views["train"]), views_val=scale(all_views["val"]),
    )  # fmt: skip
