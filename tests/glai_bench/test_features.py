"""Tests for glai_bench.features: the on-disk feature cache and its keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from glai_bench.features import (
    array_digest,
    cached_features,
    default_cache_dir,
    key_digest,
)

KEY = {"backbone": "effnet", "resolution": 32, "subset": "abc"}


class Counter:
    """A compute() that records how often it ran."""

    def __init__(self, value: np.ndarray) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.value


@pytest.fixture
def compute() -> Counter:
    return Counter(np.arange(12, dtype=np.float32).reshape(4, 3))


def only_file(folder: Path) -> Path:
    (path,) = folder.glob("*.npy")
    return path


def test_miss_computes_then_hit_reads(tmp_path: Path, compute: Counter) -> None:
    first = cached_features("feats", KEY, compute, cache_dir=tmp_path)
    second = cached_features("feats", KEY, compute, cache_dir=tmp_path)
    assert compute.calls == 1
    np.testing.assert_array_equal(first, compute.value)
    np.testing.assert_array_equal(second, compute.value)
    assert second.dtype == np.float32
    path = only_file(tmp_path)
    assert path.name == f"feats-{key_digest(KEY)}.npy"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["key"] == KEY and len(sidecar["sha256"]) == 64
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_key_change_recomputes(tmp_path: Path, compute: Counter) -> None:
    cached_features("feats", KEY, compute, cache_dir=tmp_path)
    cached_features("feats", {**KEY, "resolution": 64}, compute, cache_dir=tmp_path)
    assert compute.calls == 2 and len(list(tmp_path.glob("*.npy"))) == 2
    reordered = dict(reversed(list(KEY.items())))  # field order is not part of the key
    cached_features("feats", reordered, compute, cache_dir=tmp_path)
    assert compute.calls == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(b"not a numpy file"),
        lambda p: p.write_bytes(p.read_bytes()[:-5]),  # truncated data
        lambda p: p.write_bytes(b""),
    ],
    ids=["garbage", "truncated", "empty"],
)
def test_corrupt_file_recomputes_with_warning(
    tmp_path: Path, compute: Counter, damage: Callable[[Path], None]
) -> None:
    cached_features("feats", KEY, compute, cache_dir=tmp_path)
    damage(only_file(tmp_path))
    with pytest.warns(RuntimeWarning, match="unreadable.*recomputing"):
        again = cached_features("feats", KEY, compute, cache_dir=tmp_path)
    assert compute.calls == 2
    np.testing.assert_array_equal(again, compute.value)
    np.testing.assert_array_equal(np.load(only_file(tmp_path)), compute.value)  # repaired


def test_a_flipped_byte_in_the_cached_array_recomputes_with_warning(
    tmp_path: Path, compute: Counter
) -> None:
    cached_features("feats", KEY, compute, cache_dir=tmp_path)
    path = only_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # a readable file of the right shape, one value slightly off
    path.write_bytes(bytes(data))
    assert np.load(path).shape == compute.value.shape
    with pytest.warns(RuntimeWarning, match="do not match the checksum.*recomputing"):
        again = cached_features("feats", KEY, compute, cache_dir=tmp_path)
    assert compute.calls == 2
    np.testing.assert_array_equal(again, compute.value)
    np.testing.assert_array_equal(np.load(path), compute.value)  # repaired
    cached_features("feats", KEY, compute, cache_dir=tmp_path)
    assert compute.calls == 2


def test_a_cache_written_without_a_checksum_is_adopted_once(
    tmp_path: Path, compute: Counter
) -> None:
    cached_features("feats", KEY, compute, cache_dir=tmp_path)
    sidecar = only_file(tmp_path).with_suffix(".json")
    sidecar.write_text(json.dumps(KEY))  # the format of earlier glai versions: the key alone
    np.testing.assert_array_equal(
        cached_features("feats", KEY, compute, cache_dir=tmp_path), compute.value
    )
    assert compute.calls == 1
    assert json.loads(sidecar.read_text())["key"] == KEY  # the checksum is recorded now
    path = only_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="checksum"):
        cached_features("feats", KEY, compute, cache_dir=tmp_path)
    assert compute.calls == 2


def test_an_unreadable_sidecar_recomputes_with_warning(tmp_path: Path, compute: Counter) -> None:
    cached_features("feats", KEY, compute, cache_dir=tmp_path)
    only_file(tmp_path).with_suffix(".json").write_bytes(b"\xff{not json")
    with pytest.warns(RuntimeWarning, match="unreadable sidecar"):
        cached_features("feats", KEY, compute, cache_dir=tmp_path)
    assert compute.calls == 2


def test_wrong_shape_recomputes_with_warning(tmp_path: Path, compute: Counter) -> None:
    cached_features("feats", KEY, compute, cache_dir=tmp_path)
    np.save(only_file(tmp_path), np.zeros((2, 3), np.float32))
    with pytest.warns(RuntimeWarning, match=r"shape \(2, 3\) is not \(4, None\)"):
        cached_features("feats", KEY, compute, cache_dir=tmp_path, shape=(4, None))
    assert compute.calls == 2


def test_compute_of_wrong_shape_is_an_error(tmp_path: Path, compute: Counter) -> None:
    with pytest.raises(ValueError, match="expected"):
        cached_features("feats", KEY, compute, cache_dir=tmp_path, shape=(5, 3))
    assert not list(tmp_path.glob("*.npy"))


def test_default_dir_follows_environment(
    tmp_path: Path, compute: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLAI_CACHE_DIR", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    cached_features("feats", KEY, compute)
    assert only_file(tmp_path / "cache").name.startswith("feats-")
    monkeypatch.delenv("GLAI_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "glai"


def test_bad_names_and_keys(tmp_path: Path, compute: Counter) -> None:
    with pytest.raises(ValueError, match="cache name"):
        cached_features("../escape", KEY, compute, cache_dir=tmp_path)
    with pytest.raises(TypeError, match="array_digest"):
        cached_features("feats", {"subset": np.arange(3)}, compute, cache_dir=tmp_path)
    assert compute.calls == 0


def test_array_digest() -> None:
    a = np.arange(10, dtype=np.int64)
    assert array_digest(a) == array_digest(a.copy())
    assert array_digest(a[::2]) == array_digest(np.ascontiguousarray(a[::2]))
    assert array_digest(a) != array_digest(a.astype(np.int32))  # dtype is part of the digest
    assert array_digest(a) != array_digest(a.reshape(2, 5))  # and so is shape
    b = a.copy()
    b[-1] += 1
    assert array_digest(a) != array_digest(b)
    assert len(array_digest(a)) == 16
