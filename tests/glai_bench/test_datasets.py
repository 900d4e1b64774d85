"""Tests for glai_bench.datasets: IDX reading, the three data sets, and the splits."""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from glai_bench.datasets import (
    FASHION_CLASSES,
    FASHION_MNIST_DIR,
    LEXNAMES,
    WORDNET_DIR,
    fixed_split,
    load_fashion_mnist,
    load_mnist1d,
    load_wordnet_glosses,
    read_idx,
    stratified_split,
)

_CODES = {np.dtype("uint8"): 0x08, np.dtype("int16"): 0x0B, np.dtype("float32"): 0x0D}


def idx_bytes(a: np.ndarray) -> bytes:
    """The IDX encoding of a: zero, zero, type code, ndim, big-endian sizes, big-endian data."""
    header = bytes([0, 0, _CODES[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, a: np.ndarray, gz: bool) -> Path:
    data = idx_bytes(a)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# ---- read_idx ---------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32"])
def test_read_idx_round_trip(tmp_path: Path, gz: bool, dtype: str) -> None:
    a = np.arange(24).reshape(2, 3, 4) * 10
    a = (a if dtype == "uint8" else a - 70).astype(dtype)  # negatives where the type has them
    got = read_idx(write_idx(tmp_path / "a.idx", a, gz))
    assert got.dtype == a.dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, a)
    got[0, 0, 0] = 1  # the result is a writable copy, not a view of the file buffer


def test_read_idx_hand_made_header(tmp_path: Path) -> None:
    # magic 0x00000801 = uint8, 1 dimension of size 3; then the 3 values.
    path = tmp_path / "labels"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 255]))
    np.testing.assert_array_equal(read_idx(path), np.array([7, 0, 255], dtype=np.uint8))


def test_read_idx_truncated_plain(tmp_path: Path) -> None:
    path = tmp_path / "short.idx"
    path.write_bytes(idx_bytes(np.zeros((2, 5), np.uint8))[:-1])
    with pytest.raises(ValueError, match=r"short\.idx.*truncated or corrupt"):
        read_idx(path)


def test_read_idx_extra_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long.idx"
    path.write_bytes(idx_bytes(np.zeros((2, 5), np.uint8)) + b"\0")  # 4 + 2 * 4 + 10 = 22 bytes
    with pytest.raises(ValueError, match=r"long\.idx.*\(22 bytes in all\) but .* holds 23 bytes"):
        read_idx(path)


def test_read_idx_truncated_gzip(tmp_path: Path) -> None:
    packed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int16)))
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz.*gzip"):
        read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path: Path) -> None:
    packed = bytearray(gzip.compress(idx_bytes(np.arange(1000, dtype=np.int16))))
    packed[-6] ^= 0xFF  # inside the CRC32 trailer
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(ValueError, match=r"bad\.gz.*gzip"):
        read_idx(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "magic"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "type code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x02\x00\x00\x00\x01", "truncated IDX header"),
    ],
)
def test_read_idx_bad_header(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"broken.*{message}"):
        read_idx(path)


# ---- Fashion-MNIST ----------------------------------------------------------------------------


def write_fake_fashion(root: Path, n_train: int, n_test: int) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_idx(root / f"{split}-images-idx3-ubyte.gz", images, gz=True)
        write_idx(root / f"{split}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 10, gz=False)


def test_fashion_mnist_from_small_files(tmp_path: Path) -> None:
    write_fake_fashion(tmp_path, n_train=12, n_test=5)
    data = load_fashion_mnist(tmp_path)
    assert data["X_train"].shape == (12, 28, 28) and data["X_test"].shape == (5, 28, 28)
    assert data["y_train"].dtype == np.int64
    np.testing.assert_array_equal(data["y_test"], [0, 1, 2, 3, 4])


def test_fashion_mnist_label_count_mismatch(tmp_path: Path) -> None:
    write_fake_fashion(tmp_path, n_train=12, n_test=5)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8), gz=False)
    with pytest.raises(ValueError, match="test labels do not match 5 images"):
        load_fashion_mnist(tmp_path)


def test_fashion_mnist_missing_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)


@pytest.mark.skipif(
    not FASHION_MNIST_DIR.is_dir(), reason="Debian package dataset-fashion-mnist not installed"
)
def test_fashion_mnist_real() -> None:
    data = load_fashion_mnist()
    assert data["X_train"].shape == (60000, 28, 28) and data["X_train"].dtype == np.uint8
    assert data["X_test"].shape == (10000, 28, 28) and data["X_test"].dtype == np.uint8
    assert len(FASHION_CLASSES) == 10
    # Fashion-MNIST is exactly balanced: 6000 / 1000 images per class.
    np.testing.assert_array_equal(np.bincount(data["y_train"]), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(data["y_test"]), [1000] * 10)
    assert 0 < data["X_train"].mean() < 255


# ---- WordNet ----------------------------------------------------------------------------------

_LICENSE = "  1 This software and database is being provided to you, the LICENSEE, by  \n"
_SYNSETS = {
    "data.noun": [
        "00001740 03 n 01 entity 0 000 | that which is perceived or known  \n",
        "02084071 05 n 02 dog 0 domestic_dog 0 000 "
        '| a member of the genus Canis; "the dog barked"  \n',
        "02121620 05 n 01 cat 0 000 | feline mammal usually having thick soft fur  \n",
    ],
    "data.verb": [
        '01835496 38 v 01 travel 0 000 | change location; move; "How fast does light travel?"  \n',
    ],
    "data.adj": ["00001740 00 a 01 able 0 000 | having the necessary means or skill  \n"],
    "data.adv": ["00001740 02 r 01 barely 0 000 | only just  \n"],
}


def write_wordnet(root: Path) -> Path:
    for name, lines in _SYNSETS.items():
        (root / name).write_text(_LICENSE + "  2   \n" + "".join(lines), encoding="utf-8")
    return root


def test_wordnet_hand_made_exact(tmp_path: Path) -> None:
    texts, labels, names = load_wordnet_glosses(write_wordnet(tmp_path), min_count=1)
    # files are read noun, verb, adj, adv; classes are numbered in lexicographer-file order
    assert names == ["adj.all", "adv.all", "noun.Tops", "noun.animal", "verb.motion"]
    assert texts == [
        "that which is perceived or known",
        "a member of the genus Canis",  # the quoted example is dropped
        "feline mammal usually having thick soft fur",
        "change location; move",  # a plain ';' inside the definition is kept
        "having the necessary means or skill",
        "only just",
    ]
    np.testing.assert_array_equal(labels, [2, 3, 3, 4, 0, 1])
    assert labels.dtype == np.int64


def test_wordnet_examples_kept_on_request(tmp_path: Path) -> None:
    texts, _, _ = load_wordnet_glosses(write_wordnet(tmp_path), min_count=1, examples=True)
    assert texts[1] == 'a member of the genus Canis; "the dog barked"'


def test_wordnet_small_classes_dropped_and_reindexed(tmp_path: Path) -> None:
    texts, labels, names = load_wordnet_glosses(write_wordnet(tmp_path), min_count=2)
    assert names == ["noun.animal"]
    assert texts == ["a member of the genus Canis", "feline mammal usually having thick soft fur"]
    np.testing.assert_array_equal(labels, [0, 0])


def test_wordnet_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    write_wordnet(tmp_path)
    with (tmp_path / "data.verb").open("a") as f:
        f.write("01835497 99 v 01 fly 0 000 | travel through the air\n")
    with pytest.raises(ValueError, match=r"data\.verb:4: .*lex_filenum 99"):
        load_wordnet_glosses(tmp_path, min_count=1)


def test_wordnet_missing_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install wordnet-base"):
        load_wordnet_glosses(tmp_path)


def test_lexnames_table() -> None:
    assert len(LEXNAMES) == 45 and len(set(LEXNAMES)) == 45
    assert (LEXNAMES[0], LEXNAMES[3], LEXNAMES[5], LEXNAMES[29], LEXNAMES[44]) == (
        "adj.all",
        "noun.Tops",
        "noun.animal",
        "verb.body",
        "adj.ppl",
    )


@pytest.mark.skipif(
    not (WORDNET_DIR / "data.noun").is_file(), reason="Debian package wordnet-base not installed"
)
def test_wordnet_real() -> None:
    texts, labels, names = load_wordnet_glosses(min_count=100)
    counts = np.bincount(labels)
    assert 35 <= len(names) <= 45 and len(counts) == len(names)
    assert counts.min() >= 100
    assert len(texts) == len(labels) > 100_000
    assert all(t.strip() for t in texts)
    assert set(names) <= set(LEXNAMES) and "noun.animal" in names


# ---- MNIST-1D ---------------------------------------------------------------------------------


def test_mnist1d_shapes_and_dtypes() -> None:
    data = load_mnist1d(seed=0)
    assert data["X_train"].shape == (4000, 40) and data["X_train"].dtype == np.float32
    assert data["X_test"].shape == (1000, 40) and data["y_test"].dtype == np.int64
    assert set(np.unique(data["y_train"])) == set(range(10))


def test_mnist1d_deterministic_and_leaves_global_rng_alone() -> None:
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(123)
    a, b = load_mnist1d(seed=3, num_samples=200), load_mnist1d(seed=3, num_samples=200)
    assert (np.random.random(), random.random()) == expected
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    c = load_mnist1d(seed=4, num_samples=200)
    assert not np.array_equal(a["X_train"], c["X_train"])


def test_mnist1d_rejects_uneven_size() -> None:
    with pytest.raises(ValueError, match="multiple of 10"):
        load_mnist1d(num_samples=105)


# ---- splits -----------------------------------------------------------------------------------


def test_fixed_split() -> None:
    a, b = fixed_split(10, 0.3, seed=0)
    assert len(a) == 3 and len(b) == 7
    np.testing.assert_array_equal(np.sort(np.concatenate([a, b])), np.arange(10))
    assert np.all(np.diff(a) > 0) and np.all(np.diff(b) > 0)
    a2, _ = fixed_split(10, 0.3, seed=0)
    np.testing.assert_array_equal(a, a2)
    assert any(not np.array_equal(a, fixed_split(10, 0.3, seed=s)[0]) for s in range(1, 5))


@pytest.mark.parametrize("fraction", [0.0, 1.0, 0.01, 1.5])
def test_fixed_split_rejects_empty_side(fraction: float) -> None:
    with pytest.raises(ValueError, match="leaves one side empty"):
        fixed_split(10, fraction, seed=0)


def test_stratified_split_keeps_class_proportions() -> None:
    y = np.repeat([0, 1, 2], [60, 30, 10])
    a, b = stratified_split(y, 0.5, seed=1)
    np.testing.assert_array_equal(np.bincount(y[a]), [30, 15, 5])
    np.testing.assert_array_equal(np.sort(np.concatenate([a, b])), np.arange(100))
    np.testing.assert_array_equal(a, stratified_split(y, 0.5, seed=1)[0])
    assert not np.array_equal(a, stratified_split(y, 0.5, seed=2)[0])
