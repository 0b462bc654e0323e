"""The one rule for what `State.meta` may hold: JSON that round-trips, at most 32 deep.

Every path that accepts metadata — `State.validate`, `State.clone`, encoding and
decoding envelopes — asks `meta_problem`, so metadata accepted anywhere can be
written, read back, copied and compared anywhere else, at any call depth. The walk
is iterative: a hostile nesting depth is reported, never a `RecursionError`.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_META_DEPTH", "meta_problem"]

MAX_META_DEPTH = 32
"""Deepest nesting of objects and arrays in ``State.meta`` (the meta object itself is 1)."""

_Path = tuple[Any, ...]  # (parent path, key) links, formatted only for a message


def _show(path: _Path | None) -> str:
    keys: list[str] = []
    while path is not None:
        path, key = path
        keys.append(f"[{key!r}]")
    return "meta" + "".join(reversed(keys))


def _text_problem(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _scalar_problem(value: object, path: _Path | None) -> str | None:
    if value is None or isinstance(value, (bool, int)):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return f"{_show(path)} is {value}; JSON numbers must be finite"
    if isinstance(value, str):
        if _text_problem(value):
            return f"{_show(path)} is {ascii(value)}, which holds a lone surrogate (not UTF-8)"
        return None
    return f"{_show(path)} is {type(value).__name__}; expected JSON (dict, list, str, number)"


def meta_problem(meta: object) -> str | None:
    """The first reason ``meta`` cannot round-trip as JSON, or None if it can.

    Checks nesting depth (at most `MAX_META_DEPTH`), str keys, UTF-8-encodable text
    (no lone surrogates) and finite numbers, without recursion.
    """
    stack: list[tuple[object, int, _Path | None]] = [(meta, 1, None)]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if depth > MAX_META_DEPTH:
                return (
                    f"{_show(path)} is nested {depth} levels deep; metadata may nest at most "
                    f"{MAX_META_DEPTH} levels"
                )
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        return f"{_show(path)} has key {key!r}; keys must be str"
                    if _text_problem(key):
                        return (
                            f"{_show(path)} has key {ascii(key)}, which holds a lone surrogate "
                            "(not UTF-8)"
                        )
                    stack.append((item, depth + 1, (path, key)))
            else:
                stack.extend((item, depth + 1, (path, i)) for i, item in enumerate(value))
        else:
            problem = _scalar_problem(value, path)
            if problem is not None:
                return problem
    return None
