"""A disk cache for backbone features, keyed by everything that produced them.

Extracting features of a data set through a frozen backbone takes minutes on a CPU; a GLAI or
MLP head on top of them takes seconds. The cache makes the second run of `glai bench` cost only
the heads. A file is named ``{name}-{sha256(key)[:16]}.npy``, so changing any key field
(backbone, resolution, subset, package versions) writes a new file instead of reusing a stale one.
Beside it, ``{name}-{digest}.json`` holds the key (for a human) and the sha256 of the array's
dtype, shape and bytes, checked on every read: a flipped byte is recomputed, not returned.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SIDECAR_FORMAT = 2  # 1 (no "cache_format" field): the key alone, no checksum


def default_cache_dir() -> Path:
    """``$GLAI_CACHE_DIR`` if set, else ``~/.cache/glai``."""
    env = os.environ.get("GLAI_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "glai"


def array_digest(a: np.ndarray) -> str:
    """Short hex digest of an array's dtype, shape and values, e.g. subset indices for a key."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def _content_sha256(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def key_digest(key: dict[str, object]) -> str:
    """Short hex digest of a JSON-serialisable key; field order does not matter."""
    try:
        text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    except TypeError as err:
        raise TypeError(
            f"cache key must be JSON-serialisable ({err}); "
            "use array_digest for arrays and str() for paths"
        ) from err
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    # Write a temp file in the same folder, then rename: a crash or a concurrent reader sees the
    # old entry or the new one, never half a file.
    tmp = tempfile.NamedTemporaryFile(
        "wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with tmp:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise


def _matches(array: np.ndarray, shape: tuple[int | None, ...] | None) -> bool:
    if shape is None:
        return True
    return len(array.shape) == len(shape) and all(
        want is None or want == got for want, got in zip(shape, array.shape, strict=True)
    )


def _recorded_sha256(sidecar: Path) -> str | None:
    """The checksum written beside a cached array; None if none was ever written.

    Raises ValueError when the sidecar exists but cannot be read.
    """
    if not sidecar.exists():
        return None
    try:
        content = json.loads(sidecar.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"unreadable sidecar {sidecar.name} ({err})") from err
    if not isinstance(content, dict) or content.get("cache_format") != _SIDECAR_FORMAT:
        return None  # written by a glai that kept no checksum
    digest = content.get("sha256")
    if not isinstance(digest, str):
        raise ValueError(f"sidecar {sidecar.name} has no valid sha256")
    return digest


def _write_sidecar(sidecar: Path, key: dict[str, object], digest: str) -> None:
    content = {"cache_format": _SIDECAR_FORMAT, "sha256": digest, "key": key}
    text = json.dumps(content, sort_keys=True, indent=1).encode()
    _atomic_write(sidecar, lambda f: f.write(text))


def cached_features(
    name: str,
    key: dict[str, object],
    compute: Callable[[], np.ndarray],
    cache_dir: str | os.PathLike[str] | None = None,
    shape: tuple[int | None, ...] | None = None,
) -> np.ndarray:
    """Return ``compute()``, from ``cache_dir/{name}-{key_digest(key)}.npy`` when it is there.

    A cache file that cannot be read, whose contents do not match the checksum in its ``.json``
    sidecar, or whose shape disagrees with ``shape`` is treated as a miss: a RuntimeWarning
    names it and the features are recomputed and rewritten. The sidecar also holds the key, so
    a human can tell what a file holds. (choice) An array cached before sidecars held a
    checksum is trusted once and its checksum recorded: recomputing every old cache would cost
    minutes of backbone time per data set.

    Args:
        name: readable file-name prefix, e.g. "fashion-mnist-train-effnet32".
        key: JSON-serialisable description of everything that determines the features.
        compute: produces the features, e.g. ``lambda: backbone.extract(X)``.
        cache_dir: default ``default_cache_dir()``.
        shape: expected shape, None for any size along an axis, e.g. (60000, None).
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"cache name {name!r} must be letters, digits, '.', '_' or '-'")
    folder = default_cache_dir() if cache_dir is None else Path(cache_dir)
    path = folder / f"{name}-{key_digest(key)}.npy"
    sidecar = path.with_suffix(".json")
    if path.exists():
        try:
            cached = np.load(path, allow_pickle=False)
            if not _matches(cached, shape):
                problem = f"shape {cached.shape} is not {shape}"
            else:
                recorded = _recorded_sha256(sidecar)
                actual = _content_sha256(cached)
                if recorded is None:
                    _write_sidecar(sidecar, key, actual)
                    return cached
                if recorded == actual:
                    return cached
                problem = "contents do not match the checksum in its sidecar (corrupt)"
        except (OSError, ValueError, EOFError) as err:
            problem = f"unreadable ({err})"
        warnings.warn(f"feature cache {path}: {problem}; recomputing", RuntimeWarning, stacklevel=2)
    features = np.asarray(compute())
    if not _matches(features, shape):
        raise ValueError(f"compute() returned shape {features.shape}, expected {shape}")
    folder.mkdir(parents=True, exist_ok=True)
    # The sidecar first: a crash in between leaves a checksum that the old array fails (a miss),
    # never a new array trusted without one.
    _write_sidecar(sidecar, key, _content_sha256(features))
    _atomic_write(path, lambda f: np.save(f, features, allow_pickle=False))
    return features
