"""Distributed rollout on Ray (optional extra ``distributed``).

`RolloutPool` serves rollouts of a saved model from a pool of Ray actors, on this
machine or on a cluster. Importing this package without Ray raises an
ImportError naming the extra to install.
"""

from ..errors import DistributedError
from .pool import RolloutPool

__all__ = ["DistributedError", "RolloutPool"]
