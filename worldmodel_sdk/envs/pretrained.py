"""What a `WorldModelEnv` needs beside a saved model, so it can be rebuilt from the directory.

`save_env` writes two files next to ``config.json`` and ``model.safetensors``:

- ``env_starts.safetensors``: recorded initial observations, ``{agent: [N, ...]}``;
- ``env.json``: the format, ``max_cycles``, and the name of the task's components
  (rewards, terminations) in the components registry, or ``null`` to take them
  from the model's heads.

`load_env` (``WorldModelEnv.from_pretrained``) loads the model with
`load_pretrained`, draws episode starts from the saved observations, and finds
the components by name through `register_components` — a name in the file only
selects among factories registered in code; loading imports nothing the file names.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._jsonio import read_json
from ..errors import ContractError, RegistryError, SerializationError
from ..model import WorldModel
from ..registry import load_pretrained
from .components import ComponentFunctions

if TYPE_CHECKING:
    from .world_model_env import WorldModelEnv

__all__ = [
    "ENV_FORMAT",
    "ComponentsFactory",
    "RecordedStarts",
    "load_env",
    "register_components",
    "save_env",
]

ENV_FORMAT = "worldmodel-sdk/env-v1"
_ENV_CONFIG = "env.json"
_STARTS_NAME = "env_starts.safetensors"

ComponentsFactory = Callable[[list[str]], ComponentFunctions]
"""``(agent names) -> ComponentFunctions`` for one task."""

_COMPONENTS: dict[str, ComponentsFactory | str] = {
    "mpe2.simple_spread_v3": "worldmodel_sdk.quickstart:simple_spread_components",
}


def register_components(name: str, factory: ComponentsFactory) -> None:
    """Register a task's components under ``name``, for `save_env` and `load_env`."""
    _COMPONENTS[name] = factory


def _components(name: str, agents: list[str]) -> ComponentFunctions:
    factory = _COMPONENTS.get(name)
    if factory is None:
        known = ", ".join(sorted(_COMPONENTS))
        raise RegistryError(
            f"no components registered as {name!r}; registered: {known}. Register them with "
            "worldmodel_sdk.envs.register_components, or pass components= [WorldModelEnv]"
        )
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        factory = _COMPONENTS[name] = getattr(importlib.import_module(module), attribute)
    return factory(agents)


@final
class RecordedStarts:
    """Draw an episode's initial observations uniformly from recorded ones.

    Args:
        starts: ``{agent: array [N, ...]}``, the same ``N`` for every agent.

    Raises:
        ContractError: if no start is given or the agents disagree on ``N``.
    """

    __slots__ = ("_count", "starts")

    def __init__(self, starts: Mapping[str, np.ndarray | torch.Tensor]) -> None:
        self.starts = {name: np.asarray(value, dtype=np.float32) for name, value in starts.items()}
        counts = {name: len(value) for name, value in self.starts.items()}
        if not counts or min(counts.values()) == 0 or len(set(counts.values())) != 1:
            raise ContractError(
                f"RecordedStarts: expected N >= 1 starts for every agent; got {counts}"
            )
        self._count = next(iter(counts.values()))

    def __len__(self) -> int:
        return self._count

    def __call__(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One recorded start, per agent."""
        row = int(rng.integers(self._count))
        return {name: value[row].copy() for name, value in self.starts.items()}


def save_env(
    directory: str | os.PathLike[str],
    model: WorldModel,
    starts: Mapping[str, np.ndarray | torch.Tensor],
    *,
    components: str | None = None,
    max_cycles: int = 25,
) -> Path:
    """Save ``model`` and what a `WorldModelEnv` on it needs into ``directory``.

    Args:
        directory: The model directory (created if missing).
        model: The trained multi-agent model.
        starts: Initial observations, ``{agent: [N, ...]}``.
        components: A name registered with `register_components`, or ``None`` to take
            rewards and terminations from the model's heads.
        max_cycles: Steps before an episode is truncated.

    Returns:
        The directory.
    """
    recorded = RecordedStarts(starts)
    if components is not None and components not in _COMPONENTS:
        _components(components, [])  # raises the RegistryError listing the names
    path = Path(directory)
    model.save_pretrained(path)
    tensors = {name: torch.from_numpy(value) for name, value in recorded.starts.items()}
    save_file(tensors, str(path / _STARTS_NAME))
    config = {"format": ENV_FORMAT, "max_cycles": max_cycles, "components": components}
    (path / _ENV_CONFIG).write_text(json.dumps(config, indent=2) + "\n", "utf-8")
    return path


def _read_config(path: Path) -> dict[str, Any]:
    file = path / _ENV_CONFIG
    if not file.is_file():
        raise SerializationError(
            f"{path} has no {_ENV_CONFIG}; save the model with worldmodel_sdk.envs.save_env"
        )
    config = read_json(file)
    if not isinstance(config, dict) or config.get("format") != ENV_FORMAT:
        raise SerializationError(f"{file}: expected a JSON object with format {ENV_FORMAT!r}")
    cycles, name = config.get("max_cycles"), config.get("components")
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise SerializationError(f"{file}: max_cycles is {cycles!r}; expected an integer >= 1")
    if name is not None and not isinstance(name, str):
        raise SerializationError(f"{file}: components is {name!r}; expected a name or null")
    return config


def load_env(
    directory: str | os.PathLike[str],
    *,
    components: ComponentFunctions | None = None,
    **options: Any,
) -> WorldModelEnv:
    """Rebuild the `WorldModelEnv` saved by `save_env` (see ``WorldModelEnv.from_pretrained``)."""
    from .world_model_env import WorldModelEnv

    path = Path(directory)
    config = _read_config(path)
    model = load_pretrained(path)
    try:
        starts = load_file(str(path / _STARTS_NAME))
    except (SafetensorError, OSError) as exc:
        raise SerializationError(f"{path / _STARTS_NAME}: cannot read the starts: {exc}") from None
    if components is None:
        name = config["components"]
        agents = list(model.contract().agents)
        components = ComponentFunctions() if name is None else _components(name, agents)
    options.setdefault("max_cycles", config["max_cycles"])
    return WorldModelEnv(model, components, RecordedStarts(starts), **options)
