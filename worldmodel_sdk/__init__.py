"""worldmodel-sdk: a typed protocol SDK for world models.

The public API is exactly ``__all__``; everything else is internal. Names are
imported on first use, so ``import worldmodel_sdk`` (and the ``wmsdk`` command's
start-up) does not import torch.
"""

import typing

from . import _lazy
from ._version import __version__

if typing.TYPE_CHECKING:
    from .batching import BatchSettings
    from .capabilities import Capability, disagreement_key
    from .contract import ActionSpec, ConditionSpec, IOContract, TensorSpec
    from .ensemble import Ensemble, EnsembleConfig
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
    "BatchSettings",
    "Capability",
    "CapabilityError",
    "ConditionPayload",
    "ConditionSpec",
    "ContractError",
    "Ensemble",
    "EnsembleConfig",
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
    "disagreement_key",
    "flatten_action",
    "list_models",
    "load_pretrained",
    "register_model",
]

_ORIGINS = {
    "BatchSettings": ".batching",
    "Capability": ".capabilities",
    "disagreement_key": ".capabilities",
    "Ensemble": ".ensemble",
    "EnsembleConfig": ".ensemble",
    "ActionSpec": ".contract",
    "ConditionSpec": ".contract",
    "IOContract": ".contract",
    "TensorSpec": ".contract",
    "CapabilityError": ".errors",
    "ContractError": ".errors",
    "RegistryError": ".errors",
    "SerializationError": ".errors",
    "WorldModelError": ".errors",
    "WorldModel": ".model",
    "ActionPayload": ".payloads.action",
    "flatten_action": ".payloads.action",
    "ConditionPayload": ".payloads.condition",
    "LossOutput": ".payloads.outputs",
    "ModelOutput": ".payloads.outputs",
    "WorldModelInput": ".payloads.outputs",
    "State": ".payloads.state",
    "Trajectory": ".payloads.trajectory",
    "create_model": ".registry",
    "list_models": ".registry",
    "load_pretrained": ".registry",
    "register_model": ".registry",
}

if not typing.TYPE_CHECKING:  # mypy sees the imports above; runtime resolves names on first use
    __getattr__, __dir__ = _lazy.lazy_attributes(__name__, _ORIGINS, globals())
