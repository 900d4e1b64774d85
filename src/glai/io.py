"""Save and load a :class:`~glai.block.GLAI` block, in either phase, as a safetensors file.

The file holds the block's ``state_dict`` and two metadata entries:

* ``glai_config``: JSON with what :func:`load_glai` needs to rebuild the block before loading
  the tensors: ``format_version`` (3), ``in_features``, ``hidden_features``,
  ``out_features``, ``rho``, ``budget`` (both as resolved by the block), ``prune_dead``,
  ``batch_norm`` (the structural network's kind), ``phase``, ``structural_features`` and
  ``glai_version``;
* ``glai_sha256``: a digest of the config text and of every tensor's name, dtype, shape and
  bytes. safetensors checks the layout of a file but not its contents, so without it a flipped
  byte would load as a silently wrong model; a changed digit of ``budget`` in the config would
  load too, and freeze later to another model. (Format version 1 digested the tensors only;
  such files still load. Versions 1 and 2 had no ``batch_norm``: it is read off the tensors,
  so a structural-phase :class:`~glai.ssl.GLAIProjectionHead` saved by them loads too.)

Every block saves and loads back in either phase, a subclass included: a
:class:`~glai.ssl.GLAIProjectionHead` comes back as the :class:`~glai.block.GLAI` block it is
(same ``batch_norm``, budget, tensors and phase: the same function, and the same training
from there).

A file that is missing, truncated, corrupt or of an unknown format version raises a
``ValueError`` that names the path and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from glai._version import __version__
from glai.block import GLAI

__all__ = ["FORMAT_VERSION", "save_glai", "load_glai"]

FORMAT_VERSION = 3
_READABLE_VERSIONS = (1, 2, 3)  # 1: the digest covers the tensors only; 3: batch_norm
_CONFIG_KEY = "glai_config"
_DIGEST_KEY = "glai_sha256"
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "in_features": int,
    "hidden_features": list,
    "out_features": int,
    "rho": (int, float),
    "budget": (int, type(None)),
    "prune_dead": bool,
    "phase": str,
    "structural_features": list,
}


def _digest(tensors: dict[str, torch.Tensor], config_text: str | None) -> str:
    """sha256 of ``config_text`` (None: format version 1, tensors only) and the tensors."""
    h = hashlib.sha256()
    if config_text is not None:
        h.update(f"config|{len(config_text)}|{config_text}|".encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_glai(model: GLAI, path: str | os.PathLike[str]) -> None:
    """Write ``model`` (phase "structural" or "quantitative") to the safetensors file ``path``."""
    if not isinstance(model, GLAI):
        raise TypeError(f"model must be a glai.GLAI, got {type(model).__name__}")
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = {
        "format_version": FORMAT_VERSION,
        "in_features": model.in_features,
        "hidden_features": list(model.hidden_features),
        "out_features": model.out_features,
        "rho": model.rho,
        "budget": model.budget,
        "prune_dead": model.prune_dead,
        "batch_norm": model.batch_norm,
        "phase": model.phase,
        "structural_features": list(model.structural_features),
        "glai_version": __version__,
    }
    text = json.dumps(config)
    metadata = {_CONFIG_KEY: text, _DIGEST_KEY: _digest(tensors, text)}
    save_file(tensors, os.fspath(path), metadata=metadata)


def _read_config(name: str, metadata: dict[str, str]) -> dict[str, Any]:
    if _CONFIG_KEY not in metadata:
        raise ValueError(f"{name} is a safetensors file but not a saved GLAI (no {_CONFIG_KEY!r})")
    try:
        config = json.loads(metadata[_CONFIG_KEY])
    except json.JSONDecodeError as e:
        raise ValueError(f"{name}: the GLAI config is not valid JSON ({e})") from e
    if not isinstance(config, dict):
        raise ValueError(f"{name}: the GLAI config is not a JSON object")
    version = config.get("format_version")
    if isinstance(version, bool) or version not in _READABLE_VERSIONS:
        raise ValueError(
            f"{name}: GLAI file format version {version!r} is not supported (this glai reads "
            f"versions {', '.join(map(str, _READABLE_VERSIONS))}); save it again with a "
            "matching glai"
        )
    for key, kind in _REQUIRED.items():
        if key not in config:
            raise ValueError(f"{name}: the GLAI config lacks {key!r}")
        if not isinstance(config[key], kind):
            raise ValueError(f"{name}: the GLAI config has a bad {key!r}: {config[key]!r}")
    if config["phase"] not in ("structural", "quantitative"):
        raise ValueError(f"{name}: the GLAI config has an unknown phase {config['phase']!r}")
    if version >= 3 and not isinstance(config.get("batch_norm"), bool):
        raise ValueError(f"{name}: the GLAI config has a bad 'batch_norm': "
                         f"{config.get('batch_norm', '<absent>')!r}")  # fmt: skip
    return config


def load_glai(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> GLAI:
    """Rebuild the GLAI saved by :func:`save_glai` at ``path``, on ``map_location``.

    The block is rebuilt from the saved config and its ``state_dict`` loaded, so it comes
    back in the phase it was saved in, with the dtype of the saved tensors.
    """
    name = os.fspath(path)
    try:
        with safe_open(name, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file") from None
    except (OSError, SafetensorError) as e:
        raise ValueError(f"{name} is not a readable safetensors file: {e}") from e
    config = _read_config(name, metadata)
    covered = metadata[_CONFIG_KEY] if config["format_version"] >= 2 else None
    if metadata.get(_DIGEST_KEY) != _digest(tensors, covered):
        what = "the config and tensor data" if covered is not None else "the tensor data"
        raise ValueError(f"{name}: {what} do not match their checksum (corrupt file)")
    floats = [t.dtype for t in tensors.values() if t.is_floating_point()]
    batch_norm = config.get("batch_norm")
    if batch_norm is None:  # versions 1 and 2: a BatchNorm structure has norms in its state
        batch_norm = any(key.startswith("structure.norms.") for key in tensors)
    try:
        model = GLAI(
            config["in_features"],
            config["hidden_features"],
            config["out_features"],
            rho=config["rho"],
            budget=config["budget"],
            prune_dead=config["prune_dead"],
            batch_norm=batch_norm,
            dtype=floats[0] if floats else None,
        )
        if list(model.structural_features) != config["structural_features"]:
            raise ValueError(
                f"rho {config['rho']!r} rebuilds structural widths "
                f"{list(model.structural_features)}, not the saved {config['structural_features']}"
            )
        model.load_state_dict(tensors)
    except (RuntimeError, ValueError, TypeError) as e:
        raise ValueError(f"{name}: the tensors do not fit the saved GLAI config: {e}") from e
    if model.phase != config["phase"]:
        raise ValueError(
            f"{name}: the config says phase {config['phase']!r} but the tensors are of phase "
            f"{model.phase!r}"
        )
    return model.to(map_location)
