"""Reading JSON files with a size cap, so a hostile or corrupt file cannot exhaust memory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._files import read_regular
from .errors import SerializationError

__all__ = ["DEFAULT_MAX_JSON_BYTES", "read_json"]

DEFAULT_MAX_JSON_BYTES = 256 * 1024 * 1024


def read_json(path: Path, *, max_bytes: int = DEFAULT_MAX_JSON_BYTES) -> Any:
    """Decode a UTF-8 JSON file of at most ``max_bytes`` bytes.

    Raises:
        SerializationError: naming the file, if it is not a regular file, too large, not
            UTF-8 or not JSON.
        FileNotFoundError: if the file does not exist.
    """
    raw = read_regular(path, max_bytes=max_bytes)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise SerializationError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    except json.JSONDecodeError as error:
        raise SerializationError(
            f"{path}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise SerializationError(f"{path}: JSON nested too deeply to decode") from None
    except ValueError as error:  # e.g. an integer past Python's digit limit
        raise SerializationError(f"{path}: JSON value out of range ({error})") from None
