"""The built-in checks, one module per area (importing this package registers them)."""

from . import (  # noqa: F401
    capabilities,
    contract,
    determinism,
    env,
    generated,
    imagination,
    interface,
    loss,
    outputs,
    persistence,
    rollout,
    sensitivity,
    uncertainty,
    wire,
)
