import worldmodel_sdk

EXPECTED = [
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


def test_all_is_pinned():
    assert sorted(worldmodel_sdk.__all__) == EXPECTED


def test_every_name_in_all_is_importable():
    for name in worldmodel_sdk.__all__:
        assert getattr(worldmodel_sdk, name) is not None


def test_error_tree():
    from worldmodel_sdk import errors

    assert issubclass(errors.ContractError, (errors.WorldModelError, ValueError))
    assert issubclass(errors.CapabilityError, (errors.WorldModelError, RuntimeError))
    assert issubclass(errors.SerializationError, (errors.WorldModelError, ValueError))
    assert issubclass(errors.RegistryError, (errors.WorldModelError, LookupError))
    assert not issubclass(errors.CapabilityError, (AttributeError, NotImplementedError))
