"""Saving and loading models: ``config.json`` + ``model.safetensors``, never pickle.

Files are written to a temporary name and renamed into place, weights first, so a
failed save leaves what was stored before intact; ``config.json`` records the
SHA-256 of the weights file, so a config and weights from different saves are
never loaded together. ``config.json`` also records the canonical contract its
fingerprint hashes, so a mismatch shows which keys differ. Loading refuses
anything that does not decode cleanly (or a fingerprint that does not hash the
saved contract) with `SerializationError`, and a model type or contract
that differs from the class's with `ContractError`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ._contract_diff import check_saved_contract
from ._jsonio import read_json
from ._version import __version__
from .errors import ContractError, SerializationError

if TYPE_CHECKING:
    from .model import WorldModel

    M = TypeVar("M", bound=WorldModel)

__all__ = [
    "CONFIG_NAME",
    "FORMAT",
    "MAX_CONFIG_BYTES",
    "WEIGHTS_NAME",
    "load",
    "read_config",
    "save",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "worldmodel-sdk/pretrained-v1"
MAX_CONFIG_BYTES = 1 << 20
_REQUIRED = ("format", "model_type", "config", "contract_fingerprint")


def save(model: WorldModel, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s config and weights into directory ``path`` (created if needed)."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    cls = type(model)
    record = {
        "format": FORMAT,
        "model_type": cls.model_type,
        "model_class": f"{cls.__module__}:{cls.__qualname__}",
        "config": model.config.model_dump(mode="json") if model.config is not None else None,
        "sdk_version": __version__,
        "api_version": cls.api_version,
        "contract_fingerprint": model.contract_fingerprint(),
        "contract": json.loads(model.contract().canonical_json()),
        "capabilities": sorted(c.value for c in cls.capabilities),
    }
    tensors = _weights(model)
    _atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(tensors, tmp, {"format": "pt"}))
    record["weights_sha256"] = _sha256(directory / WEIGHTS_NAME)
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    _atomic_write(directory / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text, "utf-8"))


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share storage (tied weights): give each its own.
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for name, value in model.state_dict().items():
        tensor = value.detach().to("cpu")
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        if key in seen or not tensor.is_contiguous():
            tensor = tensor.clone().contiguous()
        seen.add(key)
        out[name] = tensor
    return out


def _atomic_write(target: Path, write: Any) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(str(tmp))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``config.json`` of a saved model directory.

    Raises:
        SerializationError: if the file is missing, too large, not JSON, or lacks fields.
    """
    file = Path(path) / CONFIG_NAME
    try:
        record = read_json(file, max_bytes=MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise SerializationError(f"{file} not found: not a saved model directory") from None
    except OSError as exc:
        raise SerializationError(f"{file} cannot be read: {exc}") from None
    if not isinstance(record, dict):
        raise SerializationError(f"{file} must hold a JSON object; got {type(record).__name__}")
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        raise SerializationError(f"{file} lacks fields {missing}")
    if record["format"] != FORMAT:
        raise SerializationError(f"{file} has format {record['format']!r}; expected {FORMAT!r}")
    return record


def load(cls: type[M], path: str | os.PathLike[str]) -> M:
    """Build a ``cls`` from a saved directory, checking model type and fingerprint."""
    record = read_config(path)
    if record["model_type"] != cls.model_type:
        raise ContractError(
            f"{Path(path) / CONFIG_NAME} holds model type {record['model_type']!r}; "
            f"{cls.__name__} has model type {cls.model_type!r}"
        )
    config = record["config"]
    if cls.config_class is not None and not isinstance(config, Mapping):
        raise SerializationError(
            f"config.json 'config' must be an object for {cls.__name__}; got {config!r}"
        )
    try:
        model = cls(config) if cls.config_class is not None else cls()
    except (ValidationError, ContractError) as exc:
        raise SerializationError(
            f"config.json 'config' does not fit {cls.__name__}: {exc}"
        ) from None
    check_saved_contract(record, model.contract(), cls.__name__, Path(path) / CONFIG_NAME)
    _load_weights(model, Path(path) / WEIGHTS_NAME, record.get("weights_sha256"))
    model.eval()
    return model


def _load_weights(model: torch.nn.Module, file: Path, sha256: object) -> None:
    try:
        if sha256 is not None and _sha256(file) != sha256:
            mismatch = (
                f"{file} does not match the SHA-256 recorded in {CONFIG_NAME} ({sha256}): "
                "the weights were changed or come from another save"
            )
            raise SerializationError(mismatch)
        tensors = load_file(str(file))
    except FileNotFoundError:
        raise SerializationError(f"{file} not found") from None
    except SerializationError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise SerializationError(f"{file} is not a valid safetensors file: {exc}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise SerializationError(
            f"{file} does not match {type(model).__name__}: missing {missing}, "
            f"unexpected {unexpected}"
        )
    for name, value in tensors.items():
        want = expected[name]
        if value.shape != want.shape or value.dtype != want.dtype:
            raise SerializationError(
                f"{file}: tensor {name!r} is {value.dtype} {tuple(value.shape)}; the model "
                f"expects {want.dtype} {tuple(want.shape)}"
            )
    model.load_state_dict(tensors, strict=True)
