"""The wire format and shared-memory transport for `State`.

The byte layout is specified in ``docs/wire-format.md`` and pinned by the golden
vectors under ``contracts/golden/``. Most code uses the `State` methods
(``serialize``, ``deserialize``, ``to_shared_memory``, ``from_shared_memory``);
this package adds streaming, in-place writes, inspection and context managers.
"""

import typing

from .. import _lazy

if typing.TYPE_CHECKING:
    from ._dtypes import DTYPE_BY_NAME
    from ._inspect import EnvelopeInfo, inspect_envelope, inspect_file
    from ._layout import FORMAT_VERSION, MAGIC, MAX_HEADER_BYTES
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
        state_handle,
        unlink_descriptor,
    )
    from .stream import read_state, write_state

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
    "state_handle",
    "unlink_descriptor",
    "write_state",
]

_ORIGINS = {
    "DTYPE_BY_NAME": "._dtypes",
    "FORMAT_VERSION": "._layout",
    "MAGIC": "._layout",
    "MAX_HEADER_BYTES": "._layout",
    "deserialize_state": ".envelope",
    "envelope_length": ".envelope",
    "serialize_into": ".envelope",
    "serialize_state": ".envelope",
    "serialized_size": ".envelope",
    "SharedStateDescriptor": ".shared_memory",
    "SharedStateHandle": ".shared_memory",
    "attach_state": ".shared_memory",
    "attached_state": ".shared_memory",
    "close_state": ".shared_memory",
    "publish_state": ".shared_memory",
    "shared_state": ".shared_memory",
    "state_handle": ".shared_memory",
    "unlink_descriptor": ".shared_memory",
    "EnvelopeInfo": "._inspect",
    "inspect_envelope": "._inspect",
    "inspect_file": "._inspect",
    "read_state": ".stream",
    "write_state": ".stream",
}

if not typing.TYPE_CHECKING:  # mypy sees the imports above; runtime resolves names on first use
    __getattr__, __dir__ = _lazy.lazy_attributes(__name__, _ORIGINS, globals())
