"""Saving and loading models: ``config.json`` + ``model.safetensors``, never pickle.

A save writes a complete sibling directory, fsyncs it and swaps it in, so a save
that fails or is killed leaves what was stored before intact; ``config.json``
records the SHA-256 of the weights file, so a config and weights from different
saves are never loaded together. ``config.json`` also records the canonical
contract its fingerprint hashes, so a mismatch shows which keys differ. Loading
refuses anything that does not decode cleanly (or a fingerprint that does not hash
the saved contract) with `SerializationError`, and a model type or contract that
differs from the class's with `ContractError`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save_file

from ._atomic import fsync_path, replace_directory
from ._contract_diff import check_saved_contract
from ._files import read_regular
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
    "MAX_HEADER_ALLOWANCE",
    "MAX_UNSAVED_BYTES",
    "WEIGHTS_NAME",
    "load",
    "read_config",
    "save",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "worldmodel-sdk/pretrained-v1"
MAX_CONFIG_BYTES = 1 << 20
MAX_HEADER_ALLOWANCE = 1 << 20
MAX_UNSAVED_BYTES = 64 << 20
_REQUIRED = ("format", "model_type", "config", "contract_fingerprint")


def save(model: WorldModel, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s config and weights into directory ``path`` (created if needed).

    The directory is replaced as a whole (see `replace_directory`): a save that fails
    or is killed at any point leaves the previous save at ``path`` loadable.
    """
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

    def fill(stage: Path) -> tuple[str, str]:
        weights = stage / WEIGHTS_NAME
        save_file(tensors, str(weights), {"format": "pt"})
        fsync_path(weights)
        record["weights_sha256"] = _sha256(weights)
        text = json.dumps(record, indent=2, sort_keys=True) + "\n"
        (stage / CONFIG_NAME).write_text(text, "utf-8")
        fsync_path(stage / CONFIG_NAME)
        return WEIGHTS_NAME, CONFIG_NAME

    replace_directory(path, fill)


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
    """Build a ``cls`` from a saved directory, checking everything before allocating.

    The model is first built on the ``meta`` device (no memory): its contract
    fingerprint, and every weight's name, dtype and shape against the weights file,
    are checked before the real model is built, so an edited ``config.json`` cannot
    make the loader allocate more than the weights file holds (plus at most
    `MAX_UNSAVED_BYTES` of buffers that are not saved).
    """
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
    skeleton = _build_on_meta(cls, config)
    model = None if skeleton is not None else _build(cls, config)
    checked = skeleton if skeleton is not None else model
    assert checked is not None
    check_saved_contract(record, checked.contract(), cls.__name__, Path(path) / CONFIG_NAME)
    file = Path(path) / WEIGHTS_NAME
    expected = checked.state_dict()
    tensors = _read_weights(file, record.get("weights_sha256"), _weights_cap(expected))
    _check_weights(file, tensors, expected, cls.__name__)
    _check_unsaved(checked, expected)
    if model is None:
        model = _build(cls, config)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model


def _build(cls: type[M], config: Any) -> M:
    """Build ``cls`` from an untrusted config; whatever it raises is a SerializationError."""
    try:
        return cls(config) if cls.config_class is not None else cls()
    except (ValidationError, ContractError) as exc:
        raise SerializationError(
            f"config.json 'config' does not fit {cls.__name__}: {exc}"
        ) from None
    except Exception as exc:  # the class's own code, run on untrusted values
        raise SerializationError(
            f"config.json 'config' does not fit {cls.__name__}: {type(exc).__name__}: {exc}"
        ) from exc


def _build_on_meta(cls: type[M], config: Any) -> M | None:
    """``cls`` built on the meta device (no memory), or None if the class cannot be.

    A class whose constructor computes with tensor values (``.item()``, numpy) cannot
    be built on the meta device; torch says so with NotImplementedError or an error
    naming "meta", and such a class is checked on a real build instead.
    """
    try:
        with torch.device("meta"):
            return _build(cls, config)
    except SerializationError as exc:
        cause = exc.__cause__
        if isinstance(cause, NotImplementedError) or (cause is not None and "meta" in str(cause)):
            return None
        raise


def _nbytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _weights_cap(expected: Mapping[str, torch.Tensor]) -> int:
    # The data of every tensor, plus a generous allowance for the JSON header.
    return _nbytes(expected.values()) + MAX_HEADER_ALLOWANCE + 512 * len(expected)


def _read_weights(file: Path, sha256: object, cap: int) -> dict[str, torch.Tensor]:
    try:
        data = read_regular(
            file, max_bytes=cap, hint="more than the model's tensors need: not its weights"
        )
    except FileNotFoundError:
        raise SerializationError(f"{file} not found") from None
    except OSError as exc:
        raise SerializationError(f"{file} cannot be read: {exc}") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise SerializationError(
            f"{file} does not match the SHA-256 recorded in {CONFIG_NAME} ({sha256}): "
            "the weights were changed or come from another save"
        )
    try:
        return load_bytes(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise SerializationError(f"{file} is not a valid safetensors file: {exc}") from None


def _check_weights(
    file: Path, tensors: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], name: str
) -> None:
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise SerializationError(
            f"{file} does not match {name}: missing {missing}, unexpected {unexpected}"
        )
    for key in sorted(tensors):
        value, want = tensors[key], expected[key]
        if value.shape != want.shape or value.dtype != want.dtype:
            raise SerializationError(
                f"{file}: tensor {key!r} is {value.dtype} {tuple(value.shape)}; the model "
                f"expects {want.dtype} {tuple(want.shape)}"
            )


def _check_unsaved(skeleton: torch.nn.Module, saved: Mapping[str, torch.Tensor]) -> None:
    unsaved = [t for k, t in skeleton.named_buffers() if k not in saved]
    unsaved += [t for k, t in skeleton.named_parameters() if k not in saved]
    size = _nbytes(unsaved)
    if size > MAX_UNSAVED_BYTES:
        raise SerializationError(
            f"config.json 'config' makes {type(skeleton).__name__} allocate {size} bytes of "
            f"buffers that are not saved; at most {MAX_UNSAVED_BYTES} are allowed"
        )
