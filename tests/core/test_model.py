import inspect
import re

import pytest
import torch

from worldmodel_sdk import (
    ActionPayload,
    Capability,
    CapabilityError,
    ContractError,
    IOContract,
    LossOutput,
    State,
    TensorSpec,
    WorldModel,
    WorldModelInput,
)
from worldmodel_sdk.models import ExampleModel

from .models import EncodeOnly, TwoAgents, joint_action


def test_supports_and_require():
    m = EncodeOnly()
    assert m.supports(Capability.REPRESENTATION) and m.supports("representation")
    assert not m.supports(Capability.LATENT_DYNAMICS)
    m.require("representation")
    with pytest.raises(
        CapabilityError,
        match=re.escape(
            "planning ahead: EncodeOnly does not declare capability 'latent_dynamics'; declared: ['representation']"
        ),
    ):
        m.require(Capability.LATENT_DYNAMICS, "planning ahead")
    with pytest.raises(CapabilityError, match="unknown capability 'flying'; known: representation"):
        m.require("flying")


@pytest.mark.parametrize(
    ("call", "capability", "method"),
    [
        (lambda m, s: m.transition(s, torch.zeros(1, 1)), "'latent_dynamics'", "transition"),
        (
            lambda m, s: m.update(s, torch.zeros(1, 1), torch.zeros(1, 3)),
            "'posterior_update'",
            "update",
        ),
        (
            lambda m, s: m.decode(s),
            "'continue_pred' or 'obs_decoder' or 'reward_pred' or 'value'",
            "decode",
        ),
        (lambda m, s: m.plan_step(s, torch.zeros(1, 1)), "'latent_dynamics'", "transition"),
        (
            lambda m, s: m.sample_step(s),
            "'continue_pred' or 'obs_decoder' or 'reward_pred' or 'value'",
            "decode",
        ),
        (
            lambda m, s: m.teacher_forcing_step(s, torch.zeros(1, 1), torch.zeros(1, 3)),
            "'posterior_update'",
            "update",
        ),
        (lambda m, s: m.rollout(s, torch.zeros(2, 1, 1)), "'latent_dynamics'", None),
    ],
)
def test_undeclared_capability_raises_capability_error(call, capability, method):
    m = EncodeOnly()
    s = m.encode(torch.zeros(1, 3))
    needed = f", needed by {method}()" if method else ""
    with pytest.raises(
        CapabilityError,
        match=re.escape(f"EncodeOnly does not declare capability {capability}{needed}"),
    ):
        call(m, s)


def test_implemented_but_undeclared_method_is_refused():
    class Sneaky(EncodeOnly):
        def transition(self, state, action, conditions=None, deterministic=False):
            return state

    m = Sneaky()
    with pytest.raises(
        CapabilityError,
        match=re.escape(
            "Sneaky does not declare capability 'latent_dynamics', needed by transition()"
        ),
    ):
        m.transition(m.encode(torch.zeros(1, 3)), torch.zeros(1, 1))


def test_declared_but_unimplemented_is_a_type_error():
    class Liar(EncodeOnly):
        capabilities = frozenset({Capability.REPRESENTATION, Capability.POSTERIOR_UPDATE})

    with pytest.raises(
        TypeError,
        match=re.escape("Liar declares ['posterior_update'] but does not implement update()"),
    ):
        Liar()


def test_capabilities_must_be_a_frozenset_of_capability():
    with pytest.raises(TypeError, match="capabilities must be a frozenset of Capability"):

        class Bad(EncodeOnly):  # noqa: F841
            capabilities = {"representation"}  # type: ignore[assignment]


def test_loss_and_io_contract_are_abstract():
    class Half(WorldModel):
        def io_contract(self) -> IOContract:
            return IOContract()

    with pytest.raises(TypeError, match="abstract"):
        Half()  # type: ignore[abstract]


def test_protocol_signatures_are_kept():
    expected = {
        "supports": ["self", "capability"],
        "require": ["self", "capability", "message"],
        "validate_batch_contract": ["self", "batch"],
        "validate_state_contract": ["self", "state"],
        "io_contract": ["self"],
        "encode": ["self", "obs", "deterministic"],
        "transition": ["self", "state", "action", "conditions", "deterministic"],
        "update": ["self", "state", "action", "obs", "conditions", "deterministic"],
        "decode": ["self", "state", "conditions"],
        "plan_step": ["self", "state", "action", "conditions", "deterministic"],
        "sample_step": ["self", "state", "action", "conditions", "deterministic"],
        "teacher_forcing_step": [
            "self",
            "state",
            "action",
            "obs",
            "conditions",
            "deterministic",
        ],
        "rollout": [
            "self",
            "initial_state",
            "action_sequence",
            "conditions",
            "deterministic",
            "mode",
        ],
        "async_encode": ["self", "obs", "deterministic"],
        "async_transition": ["self", "state", "action", "conditions", "deterministic"],
        "async_decode": ["self", "state", "conditions"],
        "async_rollout": [
            "self",
            "initial_state",
            "action_sequence",
            "conditions",
            "deterministic",
            "mode",
        ],
        "loss": ["self", "batch"],
        "save_pretrained": ["self", "path"],
        "contract_fingerprint": ["self"],
    }
    for cls in (WorldModel, ExampleModel):
        for name, params in expected.items():
            assert list(inspect.signature(getattr(cls, name)).parameters) == params, (cls, name)
    assert list(inspect.signature(ExampleModel.from_pretrained).parameters) == ["path"]


def test_contract_is_cached_once_per_instance():
    calls = []

    class Counting(EncodeOnly):
        def io_contract(self):
            calls.append(1)
            return super().io_contract()

    m = Counting()
    m.contract_fingerprint()
    m.validate_observation(torch.zeros(2, 3))
    m.contract()
    assert len(calls) == 1


def test_io_contract_must_return_a_contract():
    class Wrong(EncodeOnly):
        def io_contract(self):
            return {"obs": 1}

    with pytest.raises(
        ContractError, match="Wrong.io_contract\\(\\) must return an IOContract; got dict"
    ):
        Wrong().contract()


def test_multi_agent_observation_errors_name_the_agent():
    m = TwoAgents()
    good = {"agent_2": torch.zeros(2, 4), "agent_10": torch.zeros(2, 6)}
    m.validate_observation(good)
    cases = [
        (
            {"agent_2": torch.zeros(2, 4)},
            "obs agent keys do not match the contract: missing ['agent_10']",
        ),
        ({**good, "agent_3": torch.zeros(2, 1)}, "unexpected ['agent_3']"),
        (
            {**good, "agent_10": torch.zeros(2, 5)},
            "obs['agent_10'] has shape (2, 5); contract expects (B, 6) "
            "[TwoAgents.validate_observation]",
        ),
        (
            {**good, "agent_2": torch.full((2, 4), float("nan"))},
            "obs['agent_2'] contains NaN or inf",
        ),
        (torch.zeros(2, 10), "obs must be a mapping with keys 'agent_2', 'agent_10'; got Tensor"),
    ]
    for obs, message in cases:
        with pytest.raises(ContractError, match=re.escape(message)):
            m.validate_observation(obs)


def test_joint_action_errors_name_the_agent():
    m = TwoAgents()
    m.validate_action(joint_action(3))
    bad_range = ActionPayload(
        kind="joint", agents={"agent_2": torch.tensor([3]), "agent_10": torch.zeros(1, 2)}
    )
    with pytest.raises(
        ContractError,
        match=re.escape(
            "action['agent_2'] is out of range: expected 0 <= action < 3; got min 3, max 3"
        ),
    ):
        m.validate_action(bad_range)
    bad_bound = ActionPayload(
        kind="joint", agents={"agent_2": torch.tensor([0]), "agent_10": torch.full((1, 2), 2.0)}
    )
    with pytest.raises(
        ContractError, match=re.escape("action['agent_10'] has values above high=1.0: max 2.0")
    ):
        m.validate_action(bad_bound)
    missing = ActionPayload(kind="joint", agents={"agent_2": torch.tensor([0])})
    with pytest.raises(
        ContractError,
        match=re.escape("action agent keys do not match the contract: missing ['agent_10']"),
    ):
        m.validate_action(missing)
    with pytest.raises(
        ContractError,
        match=re.escape(
            "action must be a joint ActionPayload over ['agent_2', 'agent_10']; got Tensor(1, 3)"
        ),
    ):
        m.validate_action(torch.zeros(1, 3))


def test_validate_batch_contract_sequence():
    m = ExampleModel()
    batch = WorldModelInput(
        obs=torch.zeros(2, 5, 8),
        actions=torch.zeros(2, 5, 2),
        rewards=torch.zeros(2, 5),
        sequence=True,
    )
    m.validate_batch_contract(batch)
    bad = WorldModelInput(
        obs=torch.zeros(2, 5, 8),
        actions=torch.zeros(2, 5, 2),
        rewards=torch.zeros(2, 4),
        sequence=True,
    )
    message = "batch.rewards has shape (2, 4); contract expects (B, T) with T=5"
    with pytest.raises(
        ContractError, match=re.escape(f"{message} [ExampleModel.validate_batch_contract]")
    ):
        m.validate_batch_contract(bad)
    with pytest.raises(ContractError, match=re.escape(f"{message} [ExampleModel.loss]")):
        m.loss(bad)
    with pytest.raises(ContractError, match=re.escape("batch must be a WorldModelInput; got dict")):
        m.validate_batch_contract({"obs": 1})  # type: ignore[arg-type]


def test_validate_state_contract():
    m = ExampleModel()
    s = m.encode(torch.zeros(2, 8))
    m.validate_state_contract(s)
    with pytest.raises(
        ContractError,
        match=re.escape("State is missing ['z']; contract expects ['h', 'z'], got ['h']"),
    ):
        m.validate_state_contract(State({"h": s["h"]}))
    with pytest.raises(
        ContractError, match=re.escape("State['z'] has shape (2, 3); contract expects (B, 16)")
    ):
        m.validate_state_contract(s.replace(z=torch.zeros(2, 3)))


def test_config_coercion():
    m = ExampleModel({"obs_dim": 3})  # type: ignore[arg-type]
    assert m.config.obs_dim == 3
    with pytest.raises(ContractError, match="invalid ExampleConfig for ExampleModel"):
        ExampleModel({"obs_dim": 0})  # type: ignore[arg-type]
    with pytest.raises(ContractError, match="EncodeOnly takes no config; got dict"):
        WorldModel.__init__(EncodeOnly.__new__(EncodeOnly), {"a": 1})


def test_loss_of_example_model_trains():
    torch.manual_seed(0)
    m = ExampleModel()
    batch = WorldModelInput(
        obs=torch.randn(4, 6, 8),
        actions=torch.randn(4, 6, 2),
        rewards=torch.randn(4, 6),
        sequence=True,
    )
    loss = m.loss(batch)
    assert loss.total.dim() == 0 and torch.isfinite(loss.total)
    loss.total.backward()
    assert all(p.grad is not None for p in m.parameters())
    assert isinstance(loss, LossOutput) and set(loss.components) == {"obs", "reward"}


def test_plain_model_returns_identity_of_tensor_spec():
    assert TensorSpec(shape=("B", 2)).show() == "(B, 2)"


def test_public_protocol_calls_check_their_inputs():
    m = ExampleModel()
    s = m.encode(torch.zeros(2, 8))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "obs['obs'] has shape (2, 7); contract expects (B, 8) [ExampleModel.encode]"
        ),
    ):
        m.encode(torch.zeros(2, 7))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "action contains NaN or inf; contract expects finite values [ExampleModel.transition]"
        ),
    ):
        m.transition(s, torch.full((2, 2), float("nan")))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "State is missing ['z']; contract expects ['h', 'z'], got ['h'] [ExampleModel.decode]"
        ),
    ):
        m.decode(State({"h": s["h"]}))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "State['h'] has shape (2, 3); contract expects (B, 32) [ExampleModel.update]"
        ),
    ):
        m.update(s.replace(h=torch.zeros(2, 3)), torch.zeros(2, 2), torch.zeros(2, 8))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "the model takes no conditions; got a non-empty payload [ExampleModel.transition]"
        ),
    ):
        from worldmodel_sdk import ConditionPayload

        m.transition(s, torch.zeros(2, 2), ConditionPayload(extras={"acme.x": 1}))


def test_overridden_async_twin_is_guarded_too():
    import asyncio

    class AsyncSneaky(EncodeOnly):
        async def async_transition(self, state, action, conditions=None, deterministic=False):
            return state

    m = AsyncSneaky()
    with pytest.raises(
        CapabilityError,
        match=re.escape(
            "AsyncSneaky does not declare capability 'latent_dynamics', needed by async_transition()"
        ),
    ):
        asyncio.run(m.async_transition(m.encode(torch.zeros(1, 3)), torch.zeros(1, 1)))


def test_continuous_actions_must_have_the_declared_dtype():
    m = ExampleModel()
    s = m.encode(torch.zeros(2, 8))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "action has dtype float64; contract expects float32 [ExampleModel.transition]"
        ),
    ):
        m.transition(s, torch.zeros(2, 2, dtype=torch.float64))


def test_batch_sizes_must_agree_across_arguments():
    m = ExampleModel()
    s = m.encode(torch.zeros(4, 8))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "batch sizes disagree: state 4, action 3; expected one B [ExampleModel.transition]"
        ),
    ):
        m.transition(s, torch.zeros(3, 2))
    with pytest.raises(
        ContractError,
        match=re.escape(
            "batch sizes disagree: state 4, action 4, obs 3; expected one B [ExampleModel.update]"
        ),
    ):
        m.update(s, torch.zeros(4, 2), torch.zeros(3, 8))


def test_nested_protocol_calls_are_checked_once(monkeypatch):
    import worldmodel_sdk.model as model_module

    class Chained(ExampleModel):  # type: ignore[misc]
        def transition(self, state, action, conditions=None, deterministic=False):
            return super().transition(state, action, conditions, deterministic)

    calls = []
    original = model_module._check_inputs

    def counting(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(model_module, "_check_inputs", counting)
    m = ExampleModel()
    s = m.encode(torch.zeros(2, 8))
    m.transition(s, torch.zeros(2, 2))
    assert calls == ["encode", "transition"]
    calls.clear()
    chained = Chained()
    chained.transition(s, torch.zeros(2, 2))
    assert calls == ["transition"]
    calls.clear()
    m.rollout(s, torch.zeros(6, 2, 2))
    chained.rollout(s, torch.zeros(6, 2, 2))
    m.loss(WorldModelInput(obs=torch.zeros(2, 4, 8), actions=torch.zeros(2, 4, 2), sequence=True))
    assert calls == []
