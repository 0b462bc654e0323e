import os
import re
import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError

from worldmodel_sdk import ActionSpec, ConditionSpec, ContractError, IOContract, TensorSpec
from worldmodel_sdk.contract import dtype_from_name, natural_sort_key


def _contract(**extra) -> IOContract:
    return IOContract(
        observation={"obs": TensorSpec(shape=("B", 8))},
        action=ActionSpec(kind="continuous", shape=(2,)),
        state={"h": TensorSpec(shape=("B", 16))},
        **extra,
    )


def test_tensor_spec_binds_symbols_across_tensors():
    spec_a, spec_b = TensorSpec(shape=("B", 8)), TensorSpec(shape=("B", 4))
    bindings: dict[str, int] = {}
    spec_a.check("a", torch.zeros(3, 8), bindings)
    with pytest.raises(
        ContractError, match=re.escape("b has shape (5, 4); contract expects (B, 4) with B=3")
    ):
        spec_b.check("b", torch.zeros(5, 4), bindings)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (torch.zeros(3, 7), "x has shape (3, 7); contract expects (B, 8)"),
        (torch.zeros(3), "x has shape (3,); contract expects (B, 8)"),
        (torch.zeros(3, 8, dtype=torch.float64), "x has dtype float64; contract expects float32"),
        (torch.full((3, 8), float("nan")), "x contains NaN or inf; contract expects finite values"),
        ([1, 2], "x must be a torch.Tensor; got list"),
    ],
)
def test_tensor_spec_errors_name_key_expected_and_got(value, message):
    with pytest.raises(ContractError, match=re.escape(message)):
        TensorSpec(shape=("B", 8)).check("x", value, {})


def test_time_axis_is_inserted_after_batch():
    TensorSpec(shape=("B", 8)).check("x", torch.zeros(2, 5, 8), {}, time_axis=True)


def test_nonfinite_allowed_when_declared():
    TensorSpec(shape=("B",), allow_nonfinite=True).check("x", torch.tensor([float("inf")]), {})


def test_specs_are_frozen_and_refuse_unknown_fields():
    spec = TensorSpec(shape=("B", 8))
    with pytest.raises(ValidationError):
        spec.dtype = "int64"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        TensorSpec(shape=("B",), colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="unknown dtype 'float31'"):
        TensorSpec(shape=("B",), dtype="float31")
    with pytest.raises(ValidationError, match="fixed axis sizes must be >= 0"):
        TensorSpec(shape=("B", -1))


def test_action_spec_kinds_are_checked():
    with pytest.raises(ValidationError, match="needs num_actions >= 1"):
        ActionSpec(kind="discrete")
    with pytest.raises(ValidationError, match="needs a positive shape"):
        ActionSpec(kind="continuous")
    with pytest.raises(ValidationError, match="nvec of sizes >= 1"):
        ActionSpec(kind="multi_discrete", nvec=(2, 0))
    with pytest.raises(ValidationError, match="cannot nest"):
        ActionSpec(
            kind="joint",
            agents={
                "a": ActionSpec(
                    kind="joint", agents={"b": ActionSpec(kind="discrete", num_actions=2)}
                )
            },
        )
    joint = ActionSpec(
        kind="joint",
        agents={
            "agent_10": ActionSpec(kind="discrete", num_actions=5),
            "agent_2": ActionSpec(kind="multi_discrete", nvec=(2, 3)),
            "agent_1": ActionSpec(kind="continuous", shape=(2, 2)),
        },
    )
    assert joint.agent_names == ("agent_1", "agent_2", "agent_10")
    assert joint.flat_size == 4 + 5 + 5


def test_multi_agent_contract_requires_natural_order_and_joint_action():
    obs = {"agent_2": TensorSpec(shape=("B", 3)), "agent_10": TensorSpec(shape=("B", 5))}
    with pytest.raises(ValidationError, match="natural order"):
        IOContract(agents=("agent_10", "agent_2"), observation=obs)
    with pytest.raises(ValidationError, match="keys observation by agent"):
        IOContract(agents=("agent_2", "agent_10"), observation={"agent_2": obs["agent_2"]})
    with pytest.raises(ValidationError, match="needs a joint action"):
        IOContract(
            agents=("agent_2", "agent_10"),
            observation=obs,
            action=ActionSpec(kind="discrete", num_actions=2),
        )


def test_natural_sort():
    names = ["agent_10", "agent_2", "agent_1", "adversary_0"]
    assert sorted(names, key=natural_sort_key) == ["adversary_0", "agent_1", "agent_2", "agent_10"]


def test_fingerprint_is_versioned_and_sensitive():
    fp = _contract().fingerprint
    assert re.fullmatch(r"wmc1:[0-9a-f]{64}", fp)
    changed = IOContract(
        observation={"obs": TensorSpec(shape=("B", 9))},
        action=ActionSpec(kind="continuous", shape=(2,)),
        state={"h": TensorSpec(shape=("B", 16))},
    )
    assert changed.fingerprint != fp


def test_fingerprint_ignores_optional_fields_left_at_default():
    base = _contract().fingerprint
    # Every optional field given explicitly at its default: same canonical form.
    explicit = IOContract(
        observation={
            "obs": TensorSpec(
                shape=("B", 8), dtype="float32", allow_nonfinite=False, description=""
            )
        },
        action=ActionSpec(kind="continuous", shape=(2,), num_actions=None, low=None, high=None),
        state={"h": TensorSpec(shape=("B", 16))},
        prediction={},
        condition=None,
        agents=(),
    )
    assert explicit.fingerprint == base


def test_fingerprint_unchanged_by_a_new_optional_field(monkeypatch):
    """Simulates a later release adding an optional field: existing fingerprints hold."""
    from pydantic import create_model

    Extended = create_model("Extended", __base__=TensorSpec, units=(str, ""))
    old = IOContract(observation={"obs": TensorSpec(shape=("B", 8))}).fingerprint
    new = IOContract.model_construct(observation={"obs": Extended(shape=("B", 8))}).fingerprint
    assert new == old


def test_fingerprint_stable_across_processes_and_hash_seeds():
    code = (
        "from worldmodel_sdk.models import ExampleModel;"
        "print(ExampleModel().contract_fingerprint())"
    )
    prints = set()
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        prints.add(out.stdout.strip())
    from worldmodel_sdk.models import ExampleModel

    assert prints == {ExampleModel().contract_fingerprint()}


def test_condition_spec_in_contract():
    c = _contract(
        condition=ConditionSpec(tensors={"goal": TensorSpec(shape=("B", 2))}, required=("goal",))
    )
    assert c.condition is not None and c.condition.required == ("goal",)


def test_dtype_from_name():
    assert dtype_from_name("bfloat16") is torch.bfloat16
    with pytest.raises(ContractError, match="unknown dtype 'floaty'"):
        dtype_from_name("floaty")


def test_fingerprint_ignores_descriptions():
    plain = IOContract(observation={"obs": TensorSpec(shape=("B", 8))})
    described = IOContract(observation={"obs": TensorSpec(shape=("B", 8), description="joint obs")})
    assert plain.fingerprint == described.fingerprint
