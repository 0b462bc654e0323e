import worldmodel_sdk.wire as wire

EXPECTED = [
    "DTYPE_BY_NAME",
    "EnvelopeInfo",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_HEADER_BYTES",
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


def test_wire_public_surface_is_pinned() -> None:
    assert sorted(wire.__all__) == sorted(EXPECTED)
    for name in EXPECTED:
        assert getattr(wire, name) is not None
