"""Checkpoints at the end of every epoch, so that a killed run resumes where it stopped.

A checkpoint holds everything the rest of a run depends on: the run's ``config`` (a JSON-able
dict that identifies it), the ``phase`` (``"mlp"``, ``"structural"`` or ``"quantitative"``),
the loop's state in that phase (model, optimiser, generator, early stopping and the best epoch
so far, the structure monitor's ``m_t`` history and last patterns), the :class:`History`, and
torch's global RNG states. Resuming from it replays the same minibatches with the same
optimiser state, so the run ends with the same model as one never interrupted.

Files are written atomically (a temporary file in the same folder, then ``os.replace``): a kill
during a write leaves the previous checkpoint intact. Under ``torch.distributed`` only rank 0
writes (every rank holds the same state); every rank reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from glai.training.history import EpochRecord, History

__all__ = ["CHECKPOINT_VERSION", "Checkpoint", "restore_history", "restore_rng"]

CHECKPOINT_VERSION = 1


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

        Raises ValueError when the file is unreadable or was written by another configuration,
        naming the keys that differ.
        """
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises several kinds for a damaged file
            raise ValueError(f"checkpoint {self.path} is not readable: {err}") from err
        if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(
                f"checkpoint {self.path} is not a glai checkpoint of version "
                f"{CHECKPOINT_VERSION}; delete it or choose another checkpoint path"
            )
        saved = state.get("config", {})
        keys = sorted(set(saved) | set(self.config), key=str)
        diff = [
            f"{k}: saved {saved.get(k, '<absent>')!r}, now {self.config.get(k, '<absent>')!r}"
            for k in keys
            if _plain(saved.get(k, "<absent>")) != _plain(self.config.get(k, "<absent>"))
        ]
        if diff:
            raise ValueError(
                f"checkpoint {self.path} was written by another configuration ("
                + "; ".join(diff)
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            torch.save(state, f)
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
