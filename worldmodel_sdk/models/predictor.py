"""`JOPMPredictor`: one caller's next-joint-observation predictions with its own memory.

The recurrent memory of an episode lives in the predictor, not in the model, so
two predictors of one model (threads, concurrent requests, parallel episodes)
never see each other's history.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, final

import numpy as np
import torch

from .._checked import public_call
from ..errors import ContractError
from ..payloads.action import ActionPayload
from ..payloads.state import State

if TYPE_CHECKING:
    from .jopm import JOPMBase

__all__ = ["JOPMPredictor"]


@final
class JOPMPredictor:
    """Predicts every agent's next observation, carrying the memory from call to call.

    Get one with `JOPMBase.predictor`; call `reset` at the start of each episode.

    Example:
        >>> predictor = model.predictor()
        >>> nxt = predictor.predict(obs, {"agent_0": 1, "agent_1": 4, "agent_2": 0})
        >>> predictor.memory["h"].shape
        torch.Size([1, 1, 64])
    """

    def __init__(self, model: JOPMBase) -> None:
        self.model = model
        self.memory: State | None = None
        """The history after the last call: the last normalised observation ``x``, action
        ``a`` and recurrent memory ``h`` (and ``c`` for an LSTM); ``None`` after reset."""

    def reset(self) -> None:
        """Forget the memory (a new episode starts)."""
        self.memory = None

    @torch.no_grad()
    def predict(
        self, obs: Mapping[str, Any], joint_action: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Predict every agent's next observation from the current ones and the joint action.

        Observations are ``[d_i]`` or ``[B, d_i]`` (tensors or arrays); actions are ints,
        ``[B]`` indices or vectors. A batch of another size than the memory's starts
        from zero memory.

        Returns:
            ``{agent: next observation}``, with the batch axis only if the input had one.

        Raises:
            ContractError: naming the agent and key for missing or unknown agents,
                wrong sizes, NaN, or actions out of range.
        """
        with public_call(f"{type(self.model).__name__}.predict_next_joint_observation"):
            return self._predict(obs, joint_action)

    def _predict(
        self, obs: Mapping[str, Any], joint_action: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        tensors = {k: _as_tensor(v, "obs", k, integer=False) for k, v in obs.items()}
        actions = {k: _as_tensor(v, "action", k, integer=None) for k, v in joint_action.items()}
        single = all(v.dim() == 1 for v in tensors.values())
        if single:
            tensors = {k: v.unsqueeze(0) for k, v in tensors.items()}
            actions = {k: v.unsqueeze(0) for k, v in actions.items()}
        model = self.model
        state = model.encode(tensors, deterministic=True)
        if self.memory is not None and self.memory.batch_size == state.batch_size:
            before = self.memory.tensors
            carried = {k: v for k, v in before.items() if k != "x"}
            state = state.replace(dx=state["x"] - before["x"], **carried)
        nxt = model.transition(
            state, ActionPayload(kind="joint", agents=actions), deterministic=True
        )
        kept: dict[str, torch.Tensor] = {k: nxt[k] for k in ("a", "h", "c") if k in nxt.tensors}
        self.memory = State({"x": state["x"], **kept})
        out = model.decode(nxt).predictions
        return {k: v[0] if single else v for k, v in out.items()}


def _as_tensor(value: Any, key: str, agent: str, *, integer: bool | None) -> torch.Tensor:
    """``value`` as a tensor: float32, or int64/float32 following its own kind.

    Raises:
        ContractError: naming ``key`` and ``agent`` if ``value`` is not numeric or is ragged.
    """
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        try:
            array = np.asarray(value)
        except ValueError:  # ragged nested lists
            array = np.asarray(None)
        if array.dtype.kind not in "iubf":
            expected = "numbers" if integer is False else "an integer index or a vector"
            raise ContractError(f"{key}[{agent!r}] is {reprlib.repr(value)}; expected {expected}")
        tensor = torch.as_tensor(array)
    if tensor.is_complex():
        raise ContractError(f"{key}[{agent!r}] is complex; expected real numbers")
    if integer is None:
        integer = not (tensor.is_floating_point() or tensor.is_complex())
    return tensor.to(torch.int64 if integer else torch.float32)
