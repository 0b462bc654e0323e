"""worldmodel-sdk: a typed protocol SDK for world models.

The public API is exactly ``__all__``; everything else is internal.
"""

from ._version import __version__
from .capabilities import Capability
from .contract import ActionSpec, ConditionSpec, IOContract, TensorSpec
from .errors import (
    CapabilityError,
    ContractError,
    RegistryError,
    SerializationError,
    WorldModelError,
)
from .model import WorldModel
from .payloads.action import ActionPayload, flatten_action
from .payloads.condition import ConditionPayload
from .payloads.outputs import LossOutput, ModelOutput, WorldModelInput
from .payloads.state import State
from .payloads.trajectory import Trajectory
from .registry import create_model, list_models, load_pretrained, register_model

__all__ = [
    "ActionPayload",
    "ActionSpec",
    "Capability",
    "CapabilityError",
    "ConditionPayload",
    "ConditionSpec",
    "ContractError",
    "IOContract",
    "LossOutput",
    "ModelOutput",
    "RegistryError",
    "SerializationError",
    "State",
    "TensorSpec",
    "Trajectory",
    "WorldModel",
    "WorldModelError",
    "WorldModelInput",
    "__version__",
    "create_model",
    "flatten_action",
    "list_models",
    "load_pretrained",
    "register_model",
]
