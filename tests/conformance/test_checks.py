"""Checks not tripped by a broken model in test_broken_models.py, each made to fail here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from worldmodel_sdk import Capability, IOContract, LossOutput, ModelOutput, State, WorldModelInput
from worldmodel_sdk.conformance import (
    CheckContext,
    Status,
    Target,
    get_check,
    run_check,
    run_checks,
)
from worldmodel_sdk.payloads.action import ActionPayload

from .broken import Tiny, TinyConfig

C = Capability


class MultiAgentClaim(Tiny):
    capabilities = Tiny.capabilities | {C.MULTI_AGENT}


# The base class guards async twins written in a class body; these are patched on
# afterwards, which only the conformance checks can see.
class NoDecoderButAsync(Tiny):
    capabilities = Tiny.capabilities - {C.OBS_DECODER, C.REWARD_PRED}

    def io_contract(self) -> IOContract:
        return super().io_contract().model_copy(update={"prediction": {}})


async def _async_decode(self: Tiny, state: State, conditions: Any = None) -> ModelOutput:
    return ModelOutput({})


NoDecoderButAsync.async_decode = _async_decode  # type: ignore[method-assign]


class NoLatentButAsync(Tiny):
    capabilities = Tiny.capabilities - {C.LATENT_DYNAMICS, C.POSTERIOR_UPDATE}


async def _async_transition(
    self: Tiny, state: State, action: Any, conditions: Any = None, deterministic: bool = False
) -> State:
    return state


NoLatentButAsync.async_transition = _async_transition  # type: ignore[method-assign]


class EmptyContract(Tiny):
    def io_contract(self) -> IOContract:
        return IOContract()


class LaxValidation(Tiny):
    def validate_observation(self, obs: Any) -> None:
        return None

    def validate_state_contract(self, state: State) -> None:
        return None

    def validate_action(self, action: Any) -> None:
        return None


class EncodeDropsBatch(Tiny):
    def encode(self, obs: Any, deterministic: bool = False) -> State:
        return State({"z": super().encode(obs, deterministic)["z"][:1]})


class TransitionDropsKey(Tiny):
    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        return State({"h": super().transition(state, action, conditions, deterministic)["z"]})


class UpdateDouble(Tiny):
    def update(self, state: State, action: Any, obs: Any, conditions: Any = None) -> State:
        return State({"z": super().update(state, action, obs, conditions)["z"].double()})


class UpdateRaises(Tiny):
    def update(self, state: State, action: Any, obs: Any, conditions: Any = None) -> State:
        raise RuntimeError("not ready")


class PayloadDoubled(Tiny):
    def transition(
        self, state: State, action: Any, conditions: Any = None, deterministic: bool = False
    ) -> State:
        if isinstance(action, ActionPayload):
            action = action.tensor * 2
        return super().transition(state, action, conditions, deterministic)


class RolloutIgnoresDeterministic(Tiny):
    def rollout(
        self,
        initial_state: State,
        action_sequence: Any,
        conditions: Any = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
    ) -> Any:
        return super().rollout(initial_state, action_sequence, conditions, False, mode)


class LatentModeDecodes(Tiny):
    def rollout(
        self,
        initial_state: State,
        action_sequence: Any,
        conditions: Any = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
    ) -> Any:
        return super().rollout(initial_state, action_sequence, conditions, deterministic)


class RolloutRaises(Tiny):
    def rollout(
        self,
        initial_state: State,
        action_sequence: Any,
        conditions: Any = None,
        deterministic: bool = False,
        mode: str = "autoregressive",
    ) -> Any:
        raise ValueError("no rollouts today")


class LossVector(Tiny):
    def loss(self, batch: WorldModelInput) -> LossOutput:
        return LossOutput(total=super().loss(batch).total.reshape(1))


class WrongConfigRecord(Tiny):
    def save_pretrained(self, path: Any) -> None:
        super().save_pretrained(path)
        file = Path(path) / "config.json"
        record = json.loads(file.read_text())
        record["capabilities"] = ["representation"]
        file.write_text(json.dumps(record))


class SyncAsyncEncode(Tiny):
    def async_encode(self, obs: Any, deterministic: bool = False) -> Any:  # type: ignore[override]
        return self.encode(obs, deterministic)


class NoModelType(Tiny):
    model_type = ""


CASES: list[tuple[type[Tiny], str, str]] = [
    (
        MultiAgentClaim,
        "capabilities.multi_agent",
        "MultiAgentClaim.io_contract().agents: expected named agents; got ()",
    ),
    (
        NoDecoderButAsync,
        "capabilities.decode",
        "await NoDecoderButAsync.async_decode(...) without declaring its capability: expected "
        "CapabilityError; got it returned ModelOutput[]",
    ),
    (
        NoLatentButAsync,
        "capabilities.transition",
        "await NoLatentButAsync.async_transition(...) without declaring its capability: expected "
        "CapabilityError; got it returned State[z]",
    ),
    (
        UpdateRaises,
        "capabilities.update",
        "UpdateRaises.update(state, action, obs): expected no exception; got RuntimeError: not "
        "ready",
    ),
    (
        RolloutRaises,
        "capabilities.rollout",
        "RolloutRaises.rollout(state, actions[T=1]): expected no exception; got ValueError: no "
        "rollouts today",
    ),
    (
        EmptyContract,
        "contract.valid",
        "EmptyContract.io_contract(): expected observation or state specs; got an empty contract",
    ),
    (
        LaxValidation,
        "contract.rejects_wrong_key",
        "LaxValidation.validate_observation(<wrong_key at obs without 'obs'>): expected "
        "ContractError; got no error (the payload was accepted)",
    ),
    (
        LaxValidation,
        "contract.rejects_wrong_shape",
        "LaxValidation.validate_observation(<wrong_shape at obs['obs']>): expected ContractError; "
        "got no error (the payload was accepted)",
    ),
    (
        LaxValidation,
        "contract.rejects_wrong_dtype",
        "LaxValidation.validate_observation(<wrong_dtype at obs['obs']>): expected ContractError; "
        "got no error (the payload was accepted)",
    ),
    (
        EncodeDropsBatch,
        "outputs.encode",
        "EncodeDropsBatch.encode(obs, deterministic=True): expected batch size 3; got 1",
    ),
    (
        TransitionDropsKey,
        "outputs.transition",
        "TransitionDropsKey.transition(state, action, deterministic=True): expected a State fitting "
        "the contract's state spec; got State is missing ['z']; contract expects ['z'], got ['h']",
    ),
    (
        UpdateDouble,
        "outputs.update",
        "UpdateDouble.update(state, action, obs): expected a State fitting the contract's state "
        "spec; got State['z'] has dtype float64; contract expects float32",
    ),
    (
        PayloadDoubled,
        "outputs.action_forms",
        "PayloadDoubled.transition(state, ActionPayload(kind='continuous'), deterministic=True) vs "
        "the raw tensor: expected State['z']: identical values; got max abs difference",
    ),
    (
        RolloutIgnoresDeterministic,
        "determinism.rollout",
        "RolloutIgnoresDeterministic.rollout(state, actions[T=3], deterministic=True) twice, "
        "states[1]: expected State['z']: identical values; got max abs difference",
    ),
    (
        LatentModeDecodes,
        "rollout.latent_mode",
        "LatentModeDecodes.rollout(state, actions[T=3], deterministic=True, mode='latent'): "
        "expected no predictions; got decoded predictions",
    ),
    (
        LossVector,
        "loss.scalar",
        "LossVector.loss(batch [B, T, ...]): expected total: a floating 0-dim tensor; got "
        "Tensor(1,) float32",
    ),
    (
        WrongConfigRecord,
        "persistence.config",
        "WrongConfigRecord.save_pretrained(dir) -> config.json: expected capabilities = "
        "['latent_dynamics', 'obs_decoder', 'posterior_update', 'representation', 'reward_pred']; "
        "got ['representation']",
    ),
    (
        SyncAsyncEncode,
        "interface.async_twins",
        "SyncAsyncEncode.async_encode: expected an async def; got a plain function",
    ),
    (
        NoModelType,
        "interface.model_type",
        "NoModelType.model_type: expected a non-empty str; got ''",
    ),
]


@pytest.mark.parametrize(("cls", "name", "message"), CASES, ids=[c[1] for c in CASES])
def test_check_fails_with_message(cls: type[Tiny], name: str, message: str) -> None:
    result = run_checks(Target(model=cls(TinyConfig()), spec="t"), only=[name]).result(name)
    assert result.status is Status.FAILED
    assert result.message.startswith(f"{name}: {message}"), result.message
    assert result.message.endswith(f"Reproduce: wmsdk check t --only {name}")


def test_base_class_check_fails_for_a_plain_module() -> None:
    ctx = CheckContext(Target(model=nn.Linear(1, 1), spec="t"))  # type: ignore[arg-type]
    result = run_check(ctx, get_check("interface.base_class"))
    assert result.message.startswith(
        "interface.base_class: isinstance(model, WorldModel): expected True; got Linear"
    )


def test_wire_checks_fail_when_the_wire_loses_data(monkeypatch: pytest.MonkeyPatch) -> None:
    real = State.deserialize.__func__  # type: ignore[attr-defined]

    def lossy(cls: type[State], payload: Any, **kw: Any) -> State:
        state = real(cls, payload, **kw)
        return State({k: torch.zeros_like(v) for k, v in state.tensors.items()}, state.meta)

    monkeypatch.setattr(State, "deserialize", classmethod(lossy))
    monkeypatch.setattr(
        State,
        "from_shared_memory",
        classmethod(lambda cls, d, **kw: State({"z": torch.zeros(3, 3)})),
    )
    report = run_checks(Target(model=Tiny(), spec="t"), only=["wire"])
    assert [r.status for r in report.results] == [Status.FAILED, Status.FAILED]
    assert report.results[0].message.startswith(
        "wire.envelope_round_trip: State.deserialize(initial state.serialize()) (copy=False): "
        "expected State['z']: identical values; got max abs difference"
    )
    assert report.results[1].message.startswith(
        "wire.shared_memory_round_trip: State.from_shared_memory(initial state."
        "to_shared_memory()): expected State['z']: identical values; got max abs difference"
    )
