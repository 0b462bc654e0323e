"""The wire format and shared-memory transport for `State`.

The byte layout is specified in ``docs/wire-format.md`` and pinned by the golden
vectors under ``contracts/golden/``. Most code uses the `State` methods
(``serialize``, ``deserialize``, ``to_shared_memory``, ``from_shared_memory``);
this package adds streaming, in-place writes, inspection and context managers.
"""

from ._layout import DTYPE_BY_NAME, FORMAT_VERSION, MAGIC, MAX_HEADER_BYTES
from .envelope import (
    deserialize_state,
    envelope_length,
    serialize_into,
    serialize_state,
    serialized_size,
)
from .shared_memory import (
    SharedStateDescriptor,
    SharedStateHandle,
    attach_state,
    attached_state,
    close_state,
    publish_state,
    shared_state,
    unlink_descriptor,
)
from .stream import EnvelopeInfo, inspect_envelope, inspect_file, read_state, write_state

__all__ = [
    "DTYPE_BY_NAME",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_HEADER_BYTES",
    "EnvelopeInfo",
    "SharedStateDescriptor",
    "SharedStateHandle",
    "attach_state",
    "attached_state",
    "close_state",
    "deserialize_state",
    "envelope_length",
    "inspect_envelope",
    "inspect_file",
    "publish_state",
    "read_state",
    "serialize_into",
    "serialize_state",
    "serialized_size",
    "shared_state",
    "unlink_descriptor",
    "write_state",
]
