"""glai.training.checkpoint: the file's magic and checksum, and the digest of the data."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import torch

from glai.training import checkpoint as ckpt_module
from glai.training.checkpoint import (
    DATA_KEY,
    MAGIC,
    Checkpoint,
    data_digest,
    read_checkpoint,
)
from glai.training.history import History


def _saved(tmp_path: Path, config: dict | None = None) -> Path:
    path = tmp_path / "run" / "ckpt.pt"
    state = {"theta": torch.randn(50, 7), "step": torch.tensor(3)}
    Checkpoint(path, config or {"lr": 0.1}).save("quantitative", state, History())
    return path


def test_a_saved_checkpoint_reads_back(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    assert path.read_bytes().startswith(MAGIC)
    state = Checkpoint(path, {"lr": 0.1}).load()
    assert state is not None and state["phase"] == "quantitative"
    assert state["loop"]["theta"].shape == (50, 7)
    assert Checkpoint(tmp_path / "none.pt", {}).load() is None  # no file yet: a fresh run


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a checkpoint",
        bytes(range(256)) * 40,  # random-looking bytes
    ],
)
def test_a_file_that_is_not_a_checkpoint(content: bytes, tmp_path: Path) -> None:
    # Random bytes used to get torch's advice to retry with weights_only=False.
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"c\.pt is not a glai checkpoint") as err:
        Checkpoint(path, {}).load()
    assert "weights_only" not in str(err.value)


def test_a_file_of_the_version_1_format_is_not_a_glai_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    torch.save({"version": 1, "config": {}}, path)  # what version 1 wrote: a bare torch.save
    with pytest.raises(ValueError, match=r"old\.pt is not a glai checkpoint \(of version 2\)"):
        read_checkpoint(path)


def test_a_payload_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    buffer = io.BytesIO()
    torch.save([1, 2], buffer)
    payload = buffer.getvalue()
    path.write_bytes(MAGIC + hashlib.sha256(payload).digest() + payload)
    with pytest.raises(ValueError, match=r"list\.pt is not a glai checkpoint of version 2"):
        read_checkpoint(path)


def test_one_flipped_bit_anywhere_in_the_state_is_refused(tmp_path: Path) -> None:
    # A flipped bit in a tensor used to resume silently (an output weight of 9.9e35).
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    for where in (len(MAGIC) + 3, len(data) // 2, len(data) - 200):  # checksum, tensor, tail
        damaged = bytearray(data)
        damaged[where] ^= 0x10
        path.write_bytes(bytes(damaged))
        with pytest.raises(ValueError, match=r"ckpt\.pt is damaged"):
            Checkpoint(path, {"lr": 0.1}).load()


def test_a_truncated_checkpoint_is_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    data = path.read_bytes()
    for size in (len(MAGIC) + 5, len(data) - 1):
        path.write_bytes(data[:size])
        with pytest.raises(ValueError, match=r"ckpt\.pt is (damaged|not a glai checkpoint)"):
            read_checkpoint(path)


# -- the data digest -------------------------------------------------------------------------


def test_data_digest_covers_content_shape_dtype_and_order() -> None:
    x, y = torch.randn(40, 5), torch.arange(40)
    base = data_digest(x, y, None)
    assert data_digest(x.clone(), y.clone(), None) == base
    other = x.clone()
    other[17, 3] = torch.nextafter(other[17, 3], torch.tensor(10.0))  # one ulp, one value
    assert data_digest(other, y, None) != base
    assert data_digest(x.reshape(20, 10), y, None) != base
    assert data_digest(x.double(), y, None) != base
    assert data_digest(y, x, None) != base
    assert data_digest(x, y) != base and data_digest(x, None, y) != base
    assert data_digest(x, y.flip(0), None) != base  # the rows' order is part of the run


def test_data_digest_in_chunks_is_the_digest_of_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(33, 7)
    whole = data_digest(x)
    monkeypatch.setattr(ckpt_module, "_CHUNK_BYTES", 40)  # 10 floats a chunk, a partial last
    assert data_digest(x) == whole
    assert data_digest(x.t()) != whole  # a non-contiguous view: its own values, in its order
    assert data_digest(x.t()) == data_digest(x.t().contiguous())


def test_a_checkpoint_of_other_data_is_refused(tmp_path: Path) -> None:
    x = torch.randn(30, 4)
    path = _saved(tmp_path, {"lr": 0.1, DATA_KEY: data_digest(x)})
    assert Checkpoint(path, {"lr": 0.1, DATA_KEY: data_digest(x.clone())}).load() is not None
    with pytest.raises(ValueError, match="the training data's content differs"):
        Checkpoint(path, {"lr": 0.1, DATA_KEY: data_digest(x + 1)}).load()
