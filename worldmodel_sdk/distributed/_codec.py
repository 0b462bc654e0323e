"""Requests and trajectories as wire-format envelopes, for crossing process boundaries.

A rollout request (initial state, action sequence, conditions) and its result
(a `Trajectory`) each travel as one envelope of the wire format: a `State`
whose tensor names carry a role prefix and whose metadata records what is not
a tensor. Nothing is pickled; the receiver decodes with the same bounds checks
as any other envelope.

Tensor names: ``state/<key>``, ``action`` or ``action/<agent>`` (``[T, B, ...]``),
``condition/<name>``; in a trajectory ``states/<key>`` (``[T + 1, B, ...]``, so
that each step is a contiguous slice), ``actions``, ``rewards``, ``values``,
``continues`` and ``predictions/<name>``. Trajectories whose states do not all
share one layout store each step as ``states.<t>/<key>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ContractError, SerializationError
from ..payloads.action import ActionPayload
from ..payloads.condition import ConditionPayload
from ..payloads.state import State
from ..payloads.trajectory import Trajectory

__all__ = [
    "ActionSequence",
    "decode_request",
    "decode_trajectory",
    "encode_request",
    "encode_trajectory",
]

ActionSequence = torch.Tensor | ActionPayload | Sequence[ActionPayload]
_SERIES = ("rewards", "values", "continues")


def _as_array(state: State) -> np.ndarray:
    return np.frombuffer(state.serialize(checksum=True), dtype=np.uint8)


def _open(payload: object, what: str) -> State:
    if not isinstance(payload, np.ndarray) or payload.dtype != np.uint8 or payload.ndim != 1:
        got = type(payload).__name__
        if isinstance(payload, np.ndarray):
            got = f"ndarray of {payload.dtype} with shape {payload.shape}"
        raise SerializationError(f"a {what} must be one envelope as a uint8 array; got {got}")
    # Buffers out of Ray's object store are read-only: decode into owned tensors,
    # verifying the checksum, because the bytes were written by another process.
    return State.deserialize(payload.data, copy=True, verify=True)


def stack_actions(sequence: ActionSequence) -> torch.Tensor | ActionPayload:
    """One tensor or payload over ``[T, B, ...]`` for any accepted action sequence."""
    if isinstance(sequence, (torch.Tensor, ActionPayload)):
        return sequence
    steps = list(sequence)
    if not steps or not all(isinstance(s, ActionPayload) for s in steps):
        kinds = sorted({type(s).__name__ for s in steps}) or ["nothing"]
        raise ContractError(
            "action_sequence must be a tensor [T, B, ...], an ActionPayload over [T, B, ...] "
            f"or a non-empty sequence of ActionPayload; got a sequence of {', '.join(kinds)} "
            "[RolloutPool.rollout]"
        )
    first = steps[0]
    if first.agents is not None:
        names = list(first.agents)
        return ActionPayload(
            kind=first.kind,
            agents={n: torch.stack([s.agents[n] for s in steps]) for n in names},  # type: ignore[index]
        )
    return ActionPayload(kind=first.kind, tensor=torch.stack([s.tensor for s in steps]))  # type: ignore[misc]


def encode_request(
    initial_state: State,
    action_sequence: ActionSequence | None,
    conditions: ConditionPayload | None,
) -> np.ndarray:
    """One envelope holding a rollout's inputs (no actions for an imagination)."""
    actions = None if action_sequence is None else stack_actions(action_sequence)
    tensors = {f"state/{k}": v for k, v in initial_state.tensors.items()}
    meta: dict[str, Any] = {"state_meta": initial_state.meta, "conditions": conditions is not None}
    if actions is None:
        meta["actions"] = False
    elif isinstance(actions, torch.Tensor):
        tensors["action"] = actions
        meta["action_kind"] = None
    else:
        meta["action_kind"] = actions.kind
        if actions.agents is not None:
            meta["agents"] = list(actions.agents)
            tensors.update({f"action/{n}": v for n, v in actions.agents.items()})
        elif actions.tensor is not None:
            tensors["action"] = actions.tensor
    if conditions is not None:
        tensors.update({f"condition/{k}": v for k, v in conditions.tensors.items()})
        meta["extras"] = conditions.extras
    return _as_array(State(tensors, meta))


def decode_request(
    payload: object,
) -> tuple[State, torch.Tensor | ActionPayload | None, ConditionPayload | None]:
    """Inverse of `encode_request`."""
    envelope = _open(payload, "rollout request")
    meta = envelope.meta or {}
    state = State(_group(envelope, "state/"), meta.get("state_meta"))
    kind: Any = meta.get("action_kind")
    actions: torch.Tensor | ActionPayload | None
    if meta.get("actions") is False:
        actions = None
    elif kind is None:
        actions = envelope.tensors["action"]
    elif "agents" in meta:
        actions = ActionPayload(
            kind=kind, agents={n: envelope.tensors[f"action/{n}"] for n in meta["agents"]}
        )
    else:
        actions = ActionPayload(kind=kind, tensor=envelope.tensors["action"])
    conditions = None
    if meta.get("conditions"):
        conditions = ConditionPayload(
            tensors=_group(envelope, "condition/"), extras=dict(meta.get("extras") or {})
        )
    return state, actions, conditions


def _group(envelope: State, prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in envelope.tensors.items() if k.startswith(prefix)}


def _stackable(states: Sequence[State]) -> bool:
    first = states[0].tensors
    return all(
        s.tensors.keys() == first.keys()
        and all(
            s.tensors[k].shape == v.shape and s.tensors[k].dtype == v.dtype
            for k, v in first.items()
        )
        for s in states[1:]
    )


def encode_trajectory(trajectory: Trajectory) -> np.ndarray:
    """One envelope holding a whole trajectory (time-major, as in `Trajectory`)."""
    states = trajectory.states
    tensors: dict[str, torch.Tensor] = {}
    stacked = _stackable(states)
    if stacked:
        tensors.update(
            {f"states/{k}": torch.stack([s.tensors[k] for s in states]) for k in states[0].tensors}
        )
    else:
        for t, s in enumerate(states):
            tensors.update({f"states.{t}/{k}": v for k, v in s.tensors.items()})
    tensors["actions"] = trajectory.actions
    for name in _SERIES:
        value = getattr(trajectory, name)
        if value is not None:
            tensors[name] = value
    for name, value in (trajectory.predictions or {}).items():
        tensors[f"predictions/{name}"] = value
    metas = [s.meta for s in states]
    meta = {
        "horizon": trajectory.horizon,
        "stacked": stacked,
        "predictions": trajectory.predictions is not None,
        "state_meta": metas if any(m is not None for m in metas) else None,
    }
    return _as_array(State({k: v.detach() for k, v in tensors.items()}, meta))


def decode_trajectory(payload: object) -> Trajectory:
    """Inverse of `encode_trajectory`; each state's tensors are contiguous slices."""
    envelope = _open(payload, "trajectory")
    meta = envelope.meta or {}
    horizon = int(meta["horizon"])
    metas = meta.get("state_meta") or [None] * (horizon + 1)
    if meta.get("stacked"):
        grouped = _group(envelope, "states/")
        states = [
            State({k: v[t] for k, v in grouped.items()}, metas[t]) for t in range(horizon + 1)
        ]
    else:
        states = [State(_group(envelope, f"states.{t}/"), metas[t]) for t in range(horizon + 1)]
    predictions = _group(envelope, "predictions/") if meta.get("predictions") else None
    return Trajectory(
        states=states,
        actions=envelope.tensors["actions"],
        predictions=predictions,
        **{name: envelope.tensors.get(name) for name in _SERIES},
    )
