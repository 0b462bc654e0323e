"""Errors raised by worldmodel-sdk.

Every error the SDK raises on purpose derives from one root, and each leaf also
derives from the builtin that best describes it, so callers may catch either::

    WorldModelError (Exception)
    ├── ContractError (ValueError)        a tensor, payload or contract does not fit
    ├── CapabilityError (RuntimeError)    a model was asked for what it did not declare
    ├── SerializationError (ValueError)   bytes or files that cannot be decoded safely
    ├── RegistryError (LookupError)       an unknown or conflicting model name
    └── DistributedError (RuntimeError)   a rollout pool could not serve a request

Messages say where the problem is, what was expected and what arrived.
"""

from __future__ import annotations

__all__ = [
    "CapabilityError",
    "ContractError",
    "DistributedError",
    "RegistryError",
    "SerializationError",
    "WorldModelError",
]


class WorldModelError(Exception):
    """Root of every error raised by worldmodel-sdk."""


class ContractError(WorldModelError, ValueError):
    """A tensor, payload or contract does not match what was declared."""


class CapabilityError(WorldModelError, RuntimeError):
    """A model was asked to do something its class did not declare."""


class SerializationError(WorldModelError, ValueError):
    """Bytes or files could not be decoded safely (corrupt, truncated, hostile)."""


class RegistryError(WorldModelError, LookupError):
    """A model name is unknown, or registered twice for different classes."""

    def __str__(self) -> str:
        # LookupError subclasses such as KeyError quote their message; keep it plain.
        return str(self.args[0]) if self.args else ""


class DistributedError(WorldModelError, RuntimeError):
    """A rollout pool could not start, or could not serve a request (workers died)."""
