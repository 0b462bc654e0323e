"""MMLF's documented interfaces, restated in Python 3 to test the shim against.

MMLF itself is Python 2 code and cannot be imported here. What follows is written
from its published API pages (framework.spaces, framework.state, the model and
environment protocols), not from its source: spaces are dicts of named dimensions,
a state is a float vector that knows its dimensions and scales each range to
[min, max], environments answer getInitialState / getStateSpace / getActionSpace /
evaluateAction, and model-based agents call the model methods listed below.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

# Parameter names of each documented method, in order.
MODEL_PROTOCOL = {
    "addExperience": ("state", "action", "succState", "reward"),
    "sampleSuccessorState": ("state", "action"),
    "getExpectedReward": ("state", "action"),
    "isTerminalState": ("state",),
    "drawStartState": (),
    "getSuccessorDistribution": ("state", "action"),
    "getExplorationValue": ("state", "action"),
    "getConfidence": ("state", "action"),
}
ENVIRONMENT_PROTOCOL = {
    "getInitialState": (),
    "getStateSpace": (),
    "getActionSpace": (),
    "evaluateAction": ("action",),
}
EVALUATE_ACTION_KEYS = {"reward", "terminalState", "nextState", "startNewEpisode"}


class Dimension:
    """A named continuous or discrete dimension."""

    def __init__(self, name: str, kind: str, values: list[Any], limit_type: str | None = None):
        assert kind in ("continuous", "discrete"), kind
        self.name, self.kind, self.values, self.limit_type = name, kind, values, limit_type

    def isContinuous(self) -> bool:
        return self.kind == "continuous"

    def isDiscrete(self) -> bool:
        return self.kind == "discrete"

    def getValueRanges(self) -> list[tuple[float, float]]:
        assert self.isContinuous()
        return self.values

    def getValues(self) -> list[Any]:
        assert self.isDiscrete()
        return self.values


class Space(dict):
    """Dimension name -> Dimension, in insertion order."""

    def addContinuousDimension(
        self, name: str, ranges: list[tuple[float, float]], limitType: str = "soft"
    ) -> None:
        self[name] = Dimension(name, "continuous", ranges, limitType)

    def addDiscreteDimension(self, name: str, values: list[Any]) -> None:
        self[name] = Dimension(name, "discrete", values)

    def addOldStyleSpace(
        self, old: dict[str, tuple[str, list[Any]]], limitType: str = "soft"
    ) -> None:
        for name, (kind, values) in old.items():
            if kind == "continuous":
                self.addContinuousDimension(name, values, limitType)
            else:
                self.addDiscreteDimension(name, values)

    def getDimensionNames(self) -> list[str]:
        return list(self)

    def getNumberOfDimensions(self) -> int:
        return len(self)


class StateSpace(Space):
    pass


class ActionSpace(Space):
    def getActionList(self) -> list[dict[str, Any]]:
        assert all(dim.isDiscrete() for dim in self.values())
        actions: list[dict[str, Any]] = [{}]
        for name, dim in self.items():
            actions = [{**a, name: v} for a in actions for v in dim.getValues()]
        return actions


class State(np.ndarray):
    """A float vector that knows its dimensions; hashable; ``scale`` maps ranges to [lo, hi]."""

    def __new__(cls, values: Any, dimensions: list[Dimension]) -> State:
        obj = np.asarray(values, dtype=np.float64).view(cls)
        obj.dimensions = dimensions
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.dimensions = getattr(obj, "dimensions", None)

    def __hash__(self) -> int:  # type: ignore[override]
        return int(hashlib.sha1(np.ascontiguousarray(self).tobytes()).hexdigest(), 16)

    def scale(self, minValue: float = 0.0, maxValue: float = 1.0) -> State:
        out = np.array(self, dtype=np.float64)
        for i, dim in enumerate(self.dimensions):
            low, high = dim.getValueRanges()[0]
            out[i] = minValue + (out[i] - low) / (high - low) * (maxValue - minValue)
        return State(out, self.dimensions)


def state_from_dict(values: dict[str, float], space: StateSpace) -> State:
    """How the framework turns an environment's state dict into a State, in space order."""
    return State([values[name] for name in space.getDimensionNames()], list(space.values()))


def run_interaction(environment: Any, choose: Any, steps: int) -> list[dict[str, Any]]:
    """The interaction loop: the agent sees scaled states, the environment takes actions.

    ``choose(scaled_state, action_space)`` returns an action dict. Returns each
    evaluateAction result, after checking it has exactly the documented keys.
    """
    space = StateSpace()
    space.addOldStyleSpace(environment.getStateSpace())
    actions = ActionSpace()
    actions.addOldStyleSpace(environment.getActionSpace())
    state = state_from_dict(environment.getInitialState(), space)
    results = []
    for _ in range(steps):
        result = environment.evaluateAction(choose(state.scale(0, 1), actions))
        assert set(result) == EVALUATE_ACTION_KEYS, sorted(result)
        results.append(result)
        state = state_from_dict(result["nextState"], space)
    return results
