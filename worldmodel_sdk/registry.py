"""The model registry: names to `WorldModel` classes, built in or from plugins.

Third-party packages register models with `register_model` or through the
``worldmodel_sdk.models`` entry-point group, whose entries point at a
`WorldModel` subclass::

    [project.entry-points."worldmodel_sdk.models"]
    my-model = "my_pkg.models:MyModel"
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel

from .errors import RegistryError

if TYPE_CHECKING:
    from .model import WorldModel

__all__ = [
    "ENTRY_POINT_GROUP",
    "create_model",
    "describe_models",
    "list_models",
    "load_pretrained",
    "register_model",
    "unregister_model",
]

ENTRY_POINT_GROUP = "worldmodel_sdk.models"
_C = TypeVar("_C", bound="type[WorldModel]")

_MODELS: dict[str, type[WorldModel]] = {}
# ``ensemble[<name>]`` names the `Ensemble` class of the model registered as ``<name>``.
_ENSEMBLE = "ensemble["


@overload
def register_model(name: _C, cls: None = None, *, overwrite: bool = False) -> _C: ...
@overload
def register_model(
    name: str | None = None, cls: None = None, *, overwrite: bool = False
) -> Callable[[_C], _C]: ...
@overload
def register_model(name: str, cls: _C, *, overwrite: bool = False) -> _C: ...


def register_model(name: Any = None, cls: Any = None, *, overwrite: bool = False) -> Any:
    """Register a `WorldModel` subclass under a name.

    Use as ``register_model(MyModel)``, ``register_model("name", MyModel)`` or as a
    decorator, ``@register_model`` / ``@register_model("name")``. The name defaults
    to the class's ``model_type``; registering records that name as its model type.

    Raises:
        RegistryError: if the name is taken by another class and ``overwrite`` is False.
        TypeError: if ``cls`` is not a `WorldModel` subclass.
    """
    if isinstance(name, type):
        return _register(None, name, overwrite)
    if cls is not None:
        return _register(name, cls, overwrite)

    def decorator(target: _C) -> _C:
        return _register(name, target, overwrite)

    return decorator


def _register(name: str | None, cls: _C, overwrite: bool, *, adopt: bool = True) -> _C:
    from .model import WorldModel

    if not (isinstance(cls, type) and issubclass(cls, WorldModel)):
        raise TypeError(f"register_model expects a WorldModel subclass; got {cls!r}")
    key = name or cls.model_type
    current = _MODELS.get(key)
    if current is not None and current is not cls and not overwrite:
        raise RegistryError(
            f"model name {key!r} is already registered to {_target(current)}; pass "
            f"overwrite=True to replace it with {_target(cls)}"
        )
    if adopt:
        # Explicit registration names the model type that save_pretrained records.
        cls.model_type = key
    _MODELS[key] = cls
    return cls


def unregister_model(name: str) -> None:
    """Remove a registered name (mainly for tests)."""
    _MODELS.pop(name, None)


def _target(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _entry_points() -> dict[str, metadata.EntryPoint]:
    if os.environ.get("WMSDK_DISABLE_PLUGINS") == "1":
        return {}
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _builtins() -> None:
    from . import models  # noqa: F401  (registers the built-in models)


def _lookup(name: str) -> type[WorldModel]:
    _builtins()
    if name in _MODELS:
        return _MODELS[name]
    if name.startswith(_ENSEMBLE) and name.endswith("]"):
        from .ensemble import Ensemble

        try:
            return Ensemble.of(_lookup_type(name[len(_ENSEMBLE) : -1]))
        except TypeError as exc:
            raise RegistryError(f"model {name!r} cannot be built: {exc}") from None
    ep = _entry_points().get(name)
    if ep is None:
        known = sorted(set(_MODELS) | set(_entry_points()))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise RegistryError(
            f"unknown model {name!r}; registered: {', '.join(known) or 'none'}.{hint}"
        )
    return _load_entry_point(name, ep)


def _load_entry_point(name: str, ep: metadata.EntryPoint) -> type[WorldModel]:
    try:
        target = ep.load()
    except Exception as exc:  # a plugin's import error must not look like ours
        raise RegistryError(
            f"entry point {name!r} ({ep.value}) in group {ENTRY_POINT_GROUP!r} failed to "
            f"load: {type(exc).__name__}: {exc}"
        ) from exc
    # The entry-point name is an alias: the class keeps its own model type, so what
    # save_pretrained records does not depend on whether a lookup happened first.
    registered: type[WorldModel] = _register(name, target, overwrite=False, adopt=False)
    return registered


def _lookup_type(model_type: str, model_class: object = None) -> type[WorldModel]:
    """The class whose ``model_type`` is ``model_type`` (what ``config.json`` records).

    Only an entry point named ``model_type``, or pointing at the recorded
    ``model_class`` (``"module:Class"``), is imported: no other plugin's code runs.
    """
    _builtins()
    for cls in _MODELS.values():
        if cls.model_type == model_type:
            return cls
    for name, ep in _entry_points().items():
        if name == model_type or (model_class is not None and ep.value == model_class):
            cls = _MODELS.get(name) or _load_entry_point(name, ep)
            if cls.model_type == model_type:
                return cls
    return _lookup(model_type)


def list_models() -> list[str]:
    """Names of every registered model, entry-point plugins included, sorted."""
    _builtins()
    return sorted(set(_MODELS) | set(_entry_points()))


def describe_models() -> list[tuple[str, str, str]]:
    """``(name, class or entry point, capabilities)`` rows for ``wmsdk models list``."""
    _builtins()
    rows = []
    for name in list_models():
        if name in _MODELS:
            cls = _MODELS[name]
            caps = ", ".join(sorted(c.value for c in cls.capabilities))
            rows.append((name, _target(cls), caps))
        else:
            rows.append((name, _entry_points()[name].value, "(plugin, not loaded)"))
    return rows


def create_model(
    name: str, config: BaseModel | Mapping[str, Any] | None = None, **overrides: Any
) -> WorldModel:
    """Build a registered model by name.

    Args:
        name: A registered name (see `list_models`).
        config: The model's config (pydantic model or dict); defaults to its defaults.
        **overrides: Config fields to set on top of ``config``.

    Raises:
        RegistryError: for an unknown name, with the closest known name as a hint.
        ContractError: for a config that does not validate.
    """
    cls = _lookup(name)
    if overrides:
        base: dict[str, Any] = (
            config.model_dump() if isinstance(config, BaseModel) else dict(config or {})
        )
        config = {**base, **overrides}
    return cls(config) if cls.config_class is not None or config is not None else cls()


def load_pretrained(path: str | os.PathLike[str]) -> WorldModel:
    """Load a saved model directory, finding its class through the registry."""
    from .persistence import read_config

    record = read_config(path)
    cls = _lookup_type(str(record["model_type"]), record.get("model_class"))
    return cls.from_pretrained(path)
