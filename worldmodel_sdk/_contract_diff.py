"""What differs between a saved contract and the one a class declares.

``config.json`` records the canonical contract next to its fingerprint. On a
fingerprint mismatch at load, `check_saved_contract` first checks the file
against itself (a fingerprint that does not hash the saved contract means the
file was edited or damaged), then lists the differing keys, saved vs declared.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .contract import FINGERPRINT_PREFIX, IOContract
from .errors import ContractError, SerializationError

MAX_LINES = 12
_VALUE_CHARS = 60
_KEY_CHARS = 40
_ABSENT = object()
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def fingerprint_of(canonical: Mapping[str, Any]) -> str:
    """The fingerprint of a contract given as its canonical JSON object."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return FINGERPRINT_PREFIX + hashlib.sha256(text.encode("ascii")).hexdigest()


def contract_diff(saved: Any, declared: Any, *, limit: int = MAX_LINES) -> list[str]:
    """One line per differing leaf, ``path: saved X, declared Y``, at most ``limit`` lines.

    Keys left at their defaults are absent from a canonical contract and shown so.
    """
    lines = list(_walk(saved, declared, ""))
    if len(lines) > limit:
        lines[limit - 1 :] = [f"... and {len(lines) - limit + 1} more"]
    return lines


def _walk(saved: Any, declared: Any, path: str) -> Iterator[str]:
    if isinstance(saved, dict) and isinstance(declared, dict):
        for key in sorted(set(saved) | set(declared)):
            sub = _join(path, key)
            yield from _walk(saved.get(key, _ABSENT), declared.get(key, _ABSENT), sub)
    elif _show(saved, None) != _show(declared, None):
        yield f"{path or '(contract)'}: saved {_show(saved)}, declared {_show(declared)}"


def _join(path: str, key: str) -> str:
    if len(key) > _KEY_CHARS:
        key = key[: _KEY_CHARS - 3] + "..."
    if _NAME.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _show(value: Any, limit: int | None = _VALUE_CHARS) -> str:
    if value is _ABSENT:
        return "(absent: default)"
    text = json.dumps(value, sort_keys=True, separators=(", ", ": "))
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def check_saved_contract(
    record: Mapping[str, Any], declared: IOContract, owner: str, file: Path
) -> None:
    """Refuse a saved model whose contract differs from ``owner``'s, showing how.

    Args:
        record: The parsed ``config.json`` (holds ``contract_fingerprint`` and, since
            the canonical contract is recorded, ``contract``).
        declared: The contract the loading class declares.
        owner: Name of the loading class, for messages.
        file: The ``config.json`` the record was read from, for messages.

    Raises:
        SerializationError: if the recorded fingerprint does not hash the recorded
            contract (the file was edited or damaged).
        ContractError: if the saved and declared contracts differ.
    """
    stored, actual = record["contract_fingerprint"], declared.fingerprint
    mismatch = (
        f"contract fingerprint mismatch for {owner}: saved {stored}, this class declares {actual}"
    )
    if "contract" not in record:
        if stored != actual:
            raise ContractError(
                f"{mismatch}; {file} predates recorded contracts, so the differing keys "
                "cannot be shown (save the model again to record them)"
            )
        return
    saved = record["contract"]
    if not isinstance(saved, dict):
        raise SerializationError(
            f"{file}: 'contract' must be a JSON object; got {type(saved).__name__}"
        )
    canonical = json.loads(declared.canonical_json())
    recomputed = fingerprint_of(saved)
    if recomputed != stored:
        damaged = (
            f"{file} was edited or damaged: its contract_fingerprint {stored} is not the "
            f"fingerprint of its saved contract ({recomputed})"
        )
        if recomputed == actual:
            raise SerializationError(f"{damaged}; the saved contract is the one {owner} declares")
        lines = contract_diff(saved, canonical)
        raise SerializationError(_listing(f"{damaged}; saved contract vs {owner}", lines))
    if stored != actual:
        raise ContractError(_listing(mismatch, contract_diff(saved, canonical)))


def _listing(header: str, lines: list[str]) -> str:
    return header + ", saved vs declared:\n" + "\n".join(f"  {line}" for line in lines)
