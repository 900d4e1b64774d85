"""glai.io: saving and loading a GLAI block as safetensors, and refusing broken files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import glai
from glai import GLAI, load_glai, save_glai
from glai.io import FORMAT_VERSION, _digest
from glai.ssl import GLAIProjectionHead


def _block(phase: str, **kwargs: object) -> tuple[GLAI, torch.Tensor]:
    x = torch.randn(60, 6)
    block = GLAI(6, [10, 8], 3, **kwargs)  # type: ignore[arg-type]
    if phase == "quantitative":
        block.freeze_structure(x)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return block, x


@pytest.mark.parametrize("phase", ["structural", "quantitative"])
@pytest.mark.parametrize("kwargs", [{}, {"rho": 2.5, "budget": None, "prune_dead": False}])
def test_round_trip_gives_identical_outputs(phase: str, kwargs: dict, tmp_path: Path) -> None:
    block, x = _block(phase, **kwargs)
    path = tmp_path / "block.safetensors"
    save_glai(block, path)
    loaded = load_glai(path)
    assert isinstance(loaded, GLAI)
    assert loaded.phase == phase
    assert loaded.structural_features == block.structural_features
    assert (loaded.rho, loaded.budget, loaded.prune_dead) == (
        block.rho, block.budget, block.prune_dead,
    )  # fmt: skip
    assert torch.equal(loaded(x), block(x))
    if phase == "quantitative":
        assert loaded.num_paths == block.num_paths
        assert torch.equal(loaded.gates(x), block.gates(x))


def test_round_trip_keeps_float64_and_takes_a_string_path(tmp_path: Path) -> None:
    block, x = _block("quantitative")
    block.to(torch.float64)
    path = str(tmp_path / "block64.safetensors")
    save_glai(block, path)
    loaded = load_glai(path, map_location=torch.device("cpu"))
    assert loaded.path_model is not None and loaded.path_model.theta.dtype == torch.float64
    assert torch.equal(loaded(x.double()), block(x.double()))


def test_the_file_holds_the_config(tmp_path: Path) -> None:
    block, _ = _block("quantitative")
    path = tmp_path / "block.safetensors"
    save_glai(block, path)
    with safe_open(str(path), framework="pt") as f:
        config = json.loads(f.metadata()["glai_config"])
    assert config["format_version"] == FORMAT_VERSION == 3
    assert config["in_features"] == 6 and config["hidden_features"] == [10, 8]
    assert config["out_features"] == 3 and config["phase"] == "quantitative"
    assert config["budget"] == block.budget and config["rho"] == block.rho
    assert config["prune_dead"] is True and config["batch_norm"] is False
    assert config["glai_version"] == glai.__version__


def _saved(tmp_path: Path) -> Path:
    path = tmp_path / "block.safetensors"
    save_glai(_block("quantitative")[0], path)
    return path


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nothing.safetensors"
    with pytest.raises(ValueError, match=r"nothing\.safetensors: no such file"):
        load_glai(path)


def test_a_truncated_file(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    data = path.read_bytes()
    for keep in (len(data) - 7, len(data) // 2, 5, 0):
        path.write_bytes(data[:keep])
        with pytest.raises(ValueError, match=r"block\.safetensors is not a readable safetensors"):
            load_glai(path)


def test_corrupt_bytes_in_the_header(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[10:20] = b"\xff" * 10  # inside the JSON header
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"block\.safetensors"):
        load_glai(path)


def test_corrupt_bytes_in_the_tensor_data(tmp_path: Path) -> None:
    # safetensors alone would load these bytes as different numbers: the checksum refuses them
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"block\.safetensors: the config and tensor data do not"):
        load_glai(path)


def test_one_changed_digit_of_the_config_is_refused(tmp_path: Path) -> None:
    # The budget decides which paths a later freeze keeps: a changed digit must not load.
    path = tmp_path / "block.safetensors"
    block, _ = _block("structural")
    save_glai(block, path)
    data = path.read_bytes()
    old = f'budget\\": {block.budget},'.encode()  # the config is a JSON string in the header
    new = f'budget\\": {block.budget + 1},'.encode()
    assert data.count(old) == 1 and len(old) == len(new)  # same length: the header stays valid
    path.write_bytes(data.replace(old, new))
    with pytest.raises(ValueError, match=r"block\.safetensors: the config and tensor data do not"):
        load_glai(path)


def test_a_version_1_file_still_loads(tmp_path: Path) -> None:
    # Version 1 files digested the tensors only.
    block, x = _block("quantitative")
    path = tmp_path / "block.safetensors"
    save_glai(block, path)
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    config = json.loads(metadata["glai_config"])
    config["format_version"] = 1
    metadata = {"glai_config": json.dumps(config), "glai_sha256": _digest(tensors, None)}
    save_file(tensors, str(path), metadata=metadata)
    assert torch.equal(load_glai(path)(x), block(x))


# Every kind of block that can be saved: the plain block at depth 1 and 2 (partial-bias
# paths), and the SimCLR projection head with and without BatchNorm.
HEADS = {
    "glai-depth-1": lambda: GLAI(6, 12, 3),
    "glai-depth-2": lambda: GLAI(6, [10, 8], 3, budget=None),
    "projection-batchnorm": lambda: GLAIProjectionHead(6, 12, 4),
    "projection-plain": lambda: GLAIProjectionHead(6, 12, 4, batch_norm=False),
}


def _trained(make: Callable[[], GLAI], phase: str) -> tuple[GLAI, torch.Tensor]:
    """A head of random weights (and, with BatchNorm, running statistics off their defaults)
    in ``phase``."""
    x = torch.randn(64, 6)
    head = make()
    with torch.no_grad():
        for p in head.parameters():
            p.add_(0.1 * torch.randn_like(p))
        head.train()(x)  # BatchNorm: running statistics move
    if phase == "quantitative":
        head.freeze_structure(x)
    return head, x


@pytest.mark.parametrize("phase", ["structural", "quantitative"])
@pytest.mark.parametrize("kind", list(HEADS))
def test_every_kind_of_head_loads_back_in_either_phase(
    kind: str, phase: str, tmp_path: Path
) -> None:
    # A structural GLAIProjectionHead (BatchNorm) used to save, then fail to load.
    head, x = _trained(HEADS[kind], phase)
    path = tmp_path / "head.safetensors"
    save_glai(head, path)
    loaded = load_glai(path)
    assert loaded.phase == phase and loaded.batch_norm == head.batch_norm
    assert loaded.budget == head.budget and loaded.structural_features == head.structural_features
    assert loaded.state_dict().keys() == head.state_dict().keys()
    for key, value in head.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert torch.equal(loaded.eval()(x), head.eval()(x))
    if phase == "structural":  # training goes on from the same state (batch statistics too)
        assert torch.equal(loaded.train()(x), head.train()(x))
        probe = x[:32]
        assert torch.equal(loaded.freeze_structure(probe)(x), head.freeze_structure(probe)(x))


def test_a_version_2_file_of_a_batchnorm_head_loads(tmp_path: Path) -> None:
    # Version 2 had no "batch_norm": it is read off the tensors (BatchNorm's "norms").
    head, x = _trained(HEADS["projection-batchnorm"], "structural")
    path = tmp_path / "head.safetensors"
    save_glai(head, path)
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    config = json.loads(metadata["glai_config"])
    config["format_version"] = 2
    del config["batch_norm"]
    text = json.dumps(config)
    metadata = {"glai_config": text, "glai_sha256": _digest(tensors, text)}
    save_file(tensors, str(path), metadata=metadata)
    loaded = load_glai(path)
    assert loaded.batch_norm and torch.equal(loaded.eval()(x), head.eval()(x))


def test_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"this is not a tensor file at all" * 4)
    with pytest.raises(ValueError, match=r"garbage\.safetensors is not a readable"):
        load_glai(path)


def _rewrite_config(path: Path, change: dict) -> None:
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    config = json.loads(metadata["glai_config"])
    config.update(change)
    metadata["glai_config"] = json.dumps(config)
    # A consistent file (checksum recomputed), so that what is tested is the config itself.
    metadata["glai_sha256"] = _digest(tensors, metadata["glai_config"])
    save_file(tensors, str(path), metadata=metadata)


@pytest.mark.parametrize("version", [4, 0, None, "1", True])
def test_an_unknown_format_version(version: object, tmp_path: Path) -> None:
    path = _saved(tmp_path)
    _rewrite_config(path, {"format_version": version})
    with pytest.raises(ValueError, match=r"block\.safetensors: GLAI file format version "):
        load_glai(path)


def test_a_config_that_does_not_fit_the_tensors(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    _rewrite_config(path, {"in_features": 7})
    with pytest.raises(ValueError, match=r"block\.safetensors: the tensors do not fit"):
        load_glai(path)
    path = _saved(tmp_path)
    _rewrite_config(path, {"phase": "structural"})
    with pytest.raises(ValueError, match=r"block\.safetensors: the config says phase"):
        load_glai(path)
    path = _saved(tmp_path)
    _rewrite_config(path, {"hidden_features": "ten"})
    with pytest.raises(ValueError, match=r"block\.safetensors: the GLAI config has a bad"):
        load_glai(path)
    path = _saved(tmp_path)
    _rewrite_config(path, {"batch_norm": "yes"})
    with pytest.raises(ValueError, match=r"the GLAI config has a bad 'batch_norm'"):
        load_glai(path)
    path = _saved(tmp_path)
    _rewrite_config(path, {"batch_norm": True, "phase": "structural"})  # tensors of paths
    with pytest.raises(ValueError, match=r"block\.safetensors: the config says phase"):
        load_glai(path)


def test_a_safetensors_file_that_is_not_a_glai(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(ValueError, match=r"other\.safetensors is a safetensors file but not"):
        load_glai(path)


def test_save_needs_a_glai(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="model must be a glai.GLAI"):
        save_glai(torch.nn.Linear(2, 2), tmp_path / "x.safetensors")  # type: ignore[arg-type]


@pytest.mark.gpu
def test_load_onto_cuda(tmp_path: Path) -> None:
    block, x = _block("quantitative")
    path = tmp_path / "block.safetensors"
    save_glai(block, path)
    loaded = load_glai(path, map_location="cuda")
    assert all(p.device.type == "cuda" for p in loaded.parameters())
    torch.testing.assert_close(loaded(x.cuda()).cpu(), block(x), rtol=1e-5, atol=1e-5)
