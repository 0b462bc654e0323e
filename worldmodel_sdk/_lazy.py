"""Lazy package attributes (PEP 562): a name's module is imported on first access.

`import worldmodel_sdk` (and so ``wmsdk --help``) must not import torch; the public
names resolve the first time they are used, to the same objects as eager imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, origins: Mapping[str, str], namespace: dict[str, object]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` resolving ``origins`` (name -> submodule).

    Args:
        package: The package's ``__name__``.
        origins: Each lazy name and the relative module defining it (``".model"``).
        namespace: The package's ``globals()``; a resolved name is stored there, so
            ``__getattr__`` runs once per name.
    """

    def __getattr__(name: str) -> object:
        origin = origins.get(name)
        if origin is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(origin, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(origins))

    return __getattr__, __dir__
