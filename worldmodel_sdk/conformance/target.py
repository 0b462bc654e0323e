"""What the suite checks: a `Target` loaded from ``module:factory`` or a registry name.

A factory is any callable taking no arguments that returns one of:

* a `WorldModel`;
* a pair ``(model, sample)`` where ``sample`` is a `WorldModelInput` the model's
  ``loss`` accepts (a sequence batch ``[B, T, ...]`` when ``sequence=True``);
* a `Target`, to also declare expected failures.

Without a sample, inputs are generated from the model's `IOContract`. A directory
written by ``save_pretrained`` is a target too: it is loaded through the registry.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import WorldModel
from ..payloads.outputs import WorldModelInput

__all__ = ["PROFILES", "Profile", "Target", "load_target", "registered_targets", "resolve_factory"]


@dataclass(frozen=True, slots=True)
class Profile:
    """How hard to try.

    Attributes:
        name: ``default`` (quick, reproducible) or ``thorough`` (nightly).
        max_examples: Hypothesis examples per property check.
        derandomize: Derive Hypothesis examples from the test, not from a random seed.
        seed: Seed of the generated inputs.
        batch_size: Batch size ``B`` of generated inputs.
        horizon: Rollout horizon ``T`` of generated action sequences.
    """

    name: str = "default"
    max_examples: int = 12
    derandomize: bool = True
    seed: int = 0
    batch_size: int = 3
    horizon: int = 3


PROFILES: dict[str, Profile] = {
    "default": Profile(),
    "thorough": Profile(name="thorough", max_examples=200, derandomize=False),
}


@dataclass(slots=True)
class Target:
    """A model to check, with an optional sample batch and declared expected failures.

    Attributes:
        model: The model.
        sample: A batch the model's ``loss`` accepts; generated from the contract if None.
        xfail: Expected failures: check name to reason.
        spec: How the target was named (``pkg.mod:factory`` or a registry name).
        factory: The callable that built it (used to build fresh copies), if any.
        train_dropout: Declares that the model uses dropout in train mode: the train-mode
            checks then hold its dropout layers in eval mode (everything else, batch norm
            included, stays in train mode).
        built_in_train_mode: Whether the model was in train mode when the factory returned
            it (any submodule training); recorded when the target is loaded.
    """

    model: WorldModel
    sample: WorldModelInput | None = None
    xfail: Mapping[str, str] = field(default_factory=dict)
    spec: str = ""
    factory: Callable[[], Any] | None = None
    train_dropout: bool = False
    built_in_train_mode: bool | None = None

    @property
    def model_name(self) -> str:
        """The model class as ``module:QualName``."""
        cls = type(self.model)
        return f"{cls.__module__}:{cls.__qualname__}"


def _training(model: WorldModel) -> bool:
    return any(m.training for m in model.modules())


def _coerce(value: object, spec: str, factory: Callable[[], Any] | None) -> Target:
    if isinstance(value, Target):
        value.spec = value.spec or spec
        value.factory = value.factory or factory
        if value.built_in_train_mode is None:
            value.built_in_train_mode = _training(value.model)
        return value
    sample: object = None
    if isinstance(value, tuple) and len(value) == 2:
        value, sample = value
    if not isinstance(value, WorldModel):
        raise TypeError(
            f"{spec} must return a WorldModel, a (WorldModel, WorldModelInput) pair or a "
            f"Target; got {type(value).__name__}"
        )
    if sample is not None and not isinstance(sample, WorldModelInput):
        raise TypeError(
            f"{spec} returned a sample of type {type(sample).__name__}; expected a "
            "WorldModelInput (or None)"
        )
    return Target(
        model=value,
        sample=sample,
        spec=spec,
        factory=factory,
        built_in_train_mode=_training(value),
    )


def load_target(spec: str | Callable[[], Any] | WorldModel | Target) -> Target:
    """Load a target from ``module:factory``, a registry name, a callable or a model.

    Args:
        spec: ``"pkg.mod:factory"`` (``factory`` may be a dotted attribute path), a
            registered model name such as ``"example"``, a directory written by
            ``save_pretrained`` (loaded through the registry), a factory callable, a
            model or a `Target`.

    Raises:
        ValueError: if ``spec`` cannot be imported or resolved.
        TypeError: if the factory returns something that is not a model.
    """
    if isinstance(spec, Target):
        return _coerce(spec, spec.spec, spec.factory)
    if isinstance(spec, WorldModel):
        return _coerce(spec, type(spec).model_type, None)
    if callable(spec):
        name = f"{getattr(spec, '__module__', '?')}:{getattr(spec, '__qualname__', spec)}"
        return _coerce(spec(), name, spec)
    if Path(spec).is_dir():
        from ..registry import load_pretrained

        def reload() -> WorldModel:
            return load_pretrained(spec)

        return _coerce(reload(), spec, reload)
    if ":" not in spec:
        from ..registry import create_model

        def build() -> WorldModel:
            return create_model(spec)

        return _coerce(build(), spec, build)
    factory = resolve_factory(spec)
    return _coerce(factory(), spec, factory)


def resolve_factory(spec: str) -> Callable[[], Any]:
    """Import ``module:attr.path`` and return the callable it names.

    The current directory is importable, as for ``python -m``.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"target {spec!r} must look like 'pkg.module:factory'")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} for target {spec!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise ValueError(f"{spec} is not callable; got {type(obj).__name__}")
    return obj  # type: ignore[no-any-return]


def registered_targets() -> list[str]:
    """Names of every registered model (built in and entry-point plugins)."""
    from ..registry import list_models

    return list_models()
