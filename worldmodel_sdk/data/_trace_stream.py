"""A trace file's steps, decoded one at a time with bounded work per step.

Decoding a whole trace with ``json.loads`` costs up to ~25x its size in Python
objects (``[],`` is 3 bytes of text and 64 bytes of list) before a single step is
checked. Here the top-level list is walked step by step: before a step is decoded,
a scan that visits only its brackets and strings finds where it ends and counts its
lists, objects and values against `StepLimits`; then only that step is decoded,
checked by the caller and dropped. Peak memory is the file's text plus one step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .._files import read_regular
from ..errors import ContractError, SerializationError

__all__ = ["StepLimits", "a", "iter_steps", "read_text"]

_TOKEN = re.compile(r'[\[\]{}"]')
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class StepLimits:
    """What one step may hold before it is refused undecoded."""

    containers: int
    """Lists and objects (a valid step has ``3 + agents + continuous agents``)."""
    values: int
    """Commas and strings (a valid step has about one per number)."""


def a(value: object) -> str:
    """``"a list"``, ``"an int"``: the type of ``value`` with its article."""
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def read_text(path: Path, max_bytes: int) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes`` bytes."""
    raw = read_regular(path, max_bytes=max_bytes)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SerializationError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None


def _json_error(path: Path, error: json.JSONDecodeError) -> SerializationError:
    return SerializationError(
        f"{path}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
    )


def _decode(text: str, at: int, path: Path) -> tuple[object, int]:
    try:
        return _DECODER.raw_decode(text, at)
    except json.JSONDecodeError as error:
        raise _json_error(path, error) from None
    except RecursionError:
        raise SerializationError(f"{path}: JSON nested too deeply to decode") from None
    except ValueError as error:  # e.g. an integer past Python's digit limit
        raise SerializationError(f"{path}: JSON value out of range ({error})") from None


def _step_end(text: str, at: int, limits: StepLimits, where: str) -> int:
    """Where the value starting at ``at`` ends, visiting only brackets and strings.

    Returns ``len(text)`` when the value is unterminated: decoding then says why.
    """
    if text[at] not in "[{":
        return at
    depth = opened = strings = 0
    position = at
    while (token := _TOKEN.search(text, position)) is not None:
        position = token.end()
        char = token.group()
        if char == '"':
            strings += 1
            rest = _STRING_REST.match(text, position)
            if rest is None:
                return len(text)
            position = rest.end()
        elif char in "[{":
            depth, opened = depth + 1, opened + 1
            if opened > limits.containers:
                raise ContractError(
                    f"{where}: the step holds more than {limits.containers} lists or objects"
                )
        else:
            depth -= 1
            if depth <= 0:
                break
        if strings > limits.values:
            raise ContractError(f"{where}: the step holds more than {limits.values} strings")
    else:
        return len(text)
    if text.count(",", at, position) > limits.values:
        raise ContractError(f"{where}: the step holds more than {limits.values} values")
    return position


def _space(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    return at if match is None else match.end()


def _not_a_list(text: str, at: int, path: Path) -> ContractError | SerializationError:
    if at < len(text) and text[at] in '{"':
        got = "a dict" if text[at] == "{" else "a str"  # not decoded: it may be huge
    else:
        value, end = _decode(text, at, path)
        if _space(text, end) != len(text):
            return _json_error(path, json.JSONDecodeError("Extra data", text, _space(text, end)))
        got = a(value)
    return ContractError(
        f"{path}: expected a non-empty list of [joint observation, joint action] pairs; got {got}"
    )


def iter_steps(text: str, path: Path, limits: Callable[[int], StepLimits]) -> Iterator[object]:
    """Decode the items of the JSON list ``text`` one by one (``limits(step)`` bounds each).

    Raises:
        ContractError: the text is not a non-empty list, or a step exceeds its limits.
        SerializationError: the text is not valid JSON (found as the walk reaches it).
    """
    at = _space(text, 0)
    if at == len(text) or text[at] != "[":
        raise _not_a_list(text, at, path)
    at = _space(text, at + 1)
    if at < len(text) and text[at] == "]":
        raise ContractError(
            f"{path}: expected a non-empty list of [joint observation, joint action] pairs; "
            "got an empty list"
        )
    step = 0
    while True:
        if at == len(text):
            raise _json_error(path, json.JSONDecodeError("Expecting value", text, at))
        _step_end(text, at, limits(step), f"{path}, step {step}")
        value, at = _decode(text, at, path)
        yield value
        at = _space(text, at)
        if at < len(text) and text[at] == "]":
            end = _space(text, at + 1)
            if end != len(text):
                raise _json_error(path, json.JSONDecodeError("Extra data", text, end))
            return
        if at == len(text) or text[at] != ",":
            raise _json_error(path, json.JSONDecodeError("Expecting ',' delimiter", text, at))
        at, step = _space(text, at + 1), step + 1
