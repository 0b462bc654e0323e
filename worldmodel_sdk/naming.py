"""Natural ordering of agent names: ``agent_2`` sorts before ``agent_10``."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["NaturalKey", "natural_sort_key", "natural_sorted"]

_DIGITS = re.compile(r"(\d+)")

NaturalKey = tuple[tuple[str | int, ...], str]


def natural_sort_key(name: str) -> NaturalKey:
    """Return a sort key that orders runs of digits by their numeric value.

    The name is split into alternating text and digit runs (text first, possibly
    empty), so keys always compare text with text and numbers with numbers. The
    original string breaks ties, which keeps ``agent_1`` and ``agent_01`` distinct
    and the order total.

    Args:
        name: The string to order, typically an agent name.

    Returns:
        A key usable with ``sorted(..., key=natural_sort_key)``.

    Example:
        >>> sorted(["agent_10", "agent_2"], key=natural_sort_key)
        ['agent_2', 'agent_10']
    """
    parts = _DIGITS.split(name)
    key = tuple(int(part) if index % 2 else part for index, part in enumerate(parts))
    return key, name


def natural_sorted(names: Iterable[str]) -> list[str]:
    """Return the names in natural order (digit runs compared as numbers).

    Args:
        names: Any iterable of strings.

    Returns:
        A new list, naturally sorted.

    Example:
        >>> natural_sorted(["agent_10", "agent_2", "agent_1"])
        ['agent_1', 'agent_2', 'agent_10']
    """
    return sorted(names, key=natural_sort_key)
