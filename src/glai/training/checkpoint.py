"""Checkpoints at the end of every epoch, so that a killed run resumes where it stopped.

A checkpoint holds everything the rest of a run depends on: the run's ``config`` (a JSON-able
dict that identifies it), the ``phase`` (``"mlp"``, ``"structural"`` or ``"quantitative"``),
the loop's state in that phase (model, optimiser, generator, early stopping and the best epoch
so far, the structure monitor's ``m_t`` history and last patterns), the :class:`History`, and
torch's global RNG states. Resuming from it replays the same minibatches with the same
optimiser state, so the run ends with the same model as one never interrupted.

The file is ``MAGIC`` (8 bytes), the sha256 of the payload (32 bytes), then the payload (the
state, written by ``torch.save`` and read back with ``weights_only=True``). A file without the
magic (random bytes, another program's file, a checkpoint of glai's version 1 format) is "not a
glai checkpoint"; a payload that does not match its checksum (a flipped bit in a tensor) is
"damaged"; both are refused before anything is unpickled.

A run ties its checkpoint to its data by putting :func:`data_digest` of the tensors it trains
on under ``config[DATA_KEY]``: their content, not only their shape, so a checkpoint never
resumes on other data of the same shape.

Files are written atomically (a temporary file in the same folder, then ``os.replace``): a kill
during a write leaves the previous checkpoint intact. Under ``torch.distributed`` only rank 0
writes (every rank holds the same state); every rank reads.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import torch

from glai.training.history import EpochRecord, History

__all__ = [
    "CHECKPOINT_VERSION",
    "DATA_KEY",
    "Checkpoint",
    "data_digest",
    "read_checkpoint",
    "restore_history",
    "restore_rng",
]

CHECKPOINT_VERSION = 2  # 2: magic and checksum before the payload; 1 was a bare torch.save
MAGIC = b"GLAICKPT"
_DIGEST_SIZE = hashlib.sha256().digest_size
DATA_KEY = "data_sha256"  # the config entry that holds data_digest() of the run's tensors
_CHUNK_BYTES = 1 << 26  # data_digest hashes 64 MiB at a time (a device tensor: one copy each)


def data_digest(*tensors: torch.Tensor | None) -> str:
    """sha256 of the content of ``tensors``, in order: each one's dtype, shape and bytes
    (``None``: an absent argument, e.g. no sample weights), hex.

    Under ``torch.distributed`` every rank digests its own tensors (its shard of the rows) and
    the result is the sha256 of every rank's digest in rank order, the same on every rank.

    Cost: one pass over the bytes, once per run (not per epoch), in chunks of 64 MiB copied to
    the host one at a time, so the memory it needs does not grow with the data. Measured on
    the 2-core dev machine under load, one thread: 0.65 s for ``X`` of 50000 x 1280 float32
    (0.39 GB/s), a third of the time of one *forward* pass of those rows through 300 paths
    (1.9 s); an epoch is a forward and a backward pass, and a run is many epochs.
    """
    h = hashlib.sha256()
    for t in tensors:
        if t is None:
            h.update(b"none|")
            continue
        t = t.detach()
        h.update(f"{t.dtype}|{tuple(t.shape)}|".encode())
        flat = t.reshape(-1)
        step = max(1, _CHUNK_BYTES // max(1, t.element_size()))
        for i in range(0, flat.numel(), step):
            chunk = flat[i : i + step].contiguous().cpu()
            h.update(chunk.view(torch.uint8).numpy().data)
    digest = h.hexdigest()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        every: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(every, digest)
        digest = hashlib.sha256("|".join(every).encode()).hexdigest()
    return digest


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The state saved in the checkpoint file ``path``, its magic and checksum verified.

    Raises ValueError naming the file when it is not a glai checkpoint, is damaged (checksum)
    or cannot be read.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(f"checkpoint {path} is not readable: {err}") from err
    header = len(MAGIC) + _DIGEST_SIZE
    if not raw.startswith(MAGIC) or len(raw) < header:
        raise ValueError(
            f"{path} is not a glai checkpoint (of version {CHECKPOINT_VERSION}): delete it or "
            "choose another checkpoint path"
        )
    digest, payload = raw[len(MAGIC) : header], raw[header:]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError(
            f"checkpoint {path} is damaged (its content does not match its checksum): delete "
            "it to start the run afresh"
        )
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several kinds for a damaged file
        raise ValueError(f"checkpoint {path} is not readable: {err}") from err
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} is not a glai checkpoint of version {CHECKPOINT_VERSION}; delete it or "
            "choose another checkpoint path"
        )
    return state


class Checkpoint:
    """The checkpoint file of one run at ``path``, tied to the run's ``config``.

    Args:
        path: the file (its folder is created on the first save).
        config: what identifies the run (model, sizes, solvers, seeds, data shape...); a
            checkpoint written under another ``config`` is refused by :meth:`load`.
    """

    def __init__(self, path: str | os.PathLike[str], config: dict[str, Any]) -> None:
        self.path = Path(path)
        self.config = dict(config)
        # State of the caller saved with every checkpoint (e.g. the structure monitor once the
        # structure is frozen and the loop no longer carries it).
        self.extra: dict[str, Any] = {}

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is no checkpoint yet (a fresh run).

        Raises ValueError when the file is not a glai checkpoint, is damaged or unreadable
        (:func:`read_checkpoint`), or was written by another configuration, naming the keys
        that differ.
        """
        if not self.path.exists():
            return None
        state = read_checkpoint(self.path)
        saved = state.get("config", {})
        keys = sorted(set(saved) | set(self.config), key=str)
        diff = [
            f"{k}: saved {saved.get(k, '<absent>')!r}, now {self.config.get(k, '<absent>')!r}"
            for k in keys
            if _plain(saved.get(k, "<absent>")) != _plain(self.config.get(k, "<absent>"))
        ]
        if diff:
            other_data = _plain(saved.get(DATA_KEY)) != _plain(self.config.get(DATA_KEY))
            raise ValueError(
                f"checkpoint {self.path} was written by another configuration ("
                + "; ".join(diff)
                + ("; the training data's content differs" if other_data else "")
                + "): resume with the same settings, or delete it / choose another checkpoint path"
            )
        return state

    def save(self, phase: str, loop: dict[str, Any], history: History) -> None:
        """Write the state at the end of an epoch of ``phase`` (rank 0 only), atomically."""
        if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
            return
        state = {
            "version": CHECKPOINT_VERSION,
            "config": self.config,
            "phase": phase,
            "loop": loop,
            "extra": self.extra,
            "history": {
                "records": history.to_dicts(),
                "events": dict(history.events),
                "elapsed": history.elapsed(),
            },
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
            },
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getvalue()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(MAGIC + hashlib.sha256(payload).digest() + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def restore_history(history: History, saved: dict[str, Any]) -> None:
    """Put the saved records and events into ``history``; its clock continues from the saved
    elapsed time."""
    history.records[:] = [EpochRecord(**r) for r in saved["records"]]
    history.events.update(saved["events"])
    history.start -= float(saved["elapsed"]) - history.elapsed()


def restore_rng(saved: dict[str, Any]) -> None:
    """torch's global RNG states as they were at the checkpoint."""
    torch.set_rng_state(saved["torch"])
    if saved["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda"])


def _plain(value: Any) -> Any:
    """Tuples and lists compare equal (a config read back from a file has lists)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
