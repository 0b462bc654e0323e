"""MMLF's model protocol over a world model, and an MMLF-style environment over `SingleAgentEnv`.

MMLF (the Maja Machine Learning Framework) is Python 2 code and does not install on
Python 3, so this module restates its documented interfaces instead of importing
them: `MMLFModel` answers the calls MMLF's model-based agents make on their model
(``addExperience``, ``sampleSuccessorState``, ``getExpectedReward``, ...), and
`MMLFEnvironment` answers those of its interaction server (``getInitialState``,
``getStateSpace``, ``getActionSpace``, ``evaluateAction``).

States are float vectors whose dimensions are named by `ContinuousDimension`
objects, in their given order. MMLF agents scale each dimension's range to
``[0, 1]`` before they query the model, so `MMLFModel` takes and returns scaled
vectors by default (``scaled=False`` for the raw values). Needs no extra.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, final

import numpy as np
import torch

from ..capabilities import Capability
from ..contract import ActionSpec
from ..data.dataset import EpisodeDataset
from ..data.episode import Episode
from ..data.spec import AgentSpec, DatasetSpec
from ..errors import ContractError
from ..model import WorldModel
from ..payloads.state import State
from ._common import joint_payload

__all__ = ["ContinuousDimension", "MMLFEnvironment", "MMLFModel", "StateLike", "action_names"]

StateLike = Sequence[float] | np.ndarray | Mapping[str, float]
"""A state as a vector in dimension order, or as ``{dimension name: value}``."""


@final
@dataclass(frozen=True, slots=True)
class ContinuousDimension:
    """One named state dimension and the range MMLF scales to ``[0, 1]``.

    Attributes:
        name: The dimension's name.
        low: Start of its range.
        high: End of its range (greater than ``low``).
    """

    name: str
    low: float
    high: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low < self.high):
            raise ContractError(
                f"dimension {self.name!r} has range ({self.low}, {self.high}); "
                "expected finite low < high"
            )


def _check_dims(dims: Sequence[ContinuousDimension], size: int, where: str) -> None:
    names = [dim.name for dim in dims]
    if len(set(names)) != len(names):
        raise ContractError(f"{where}: dimension names repeat: {names}")
    if len(dims) != size:
        raise ContractError(
            f"{where}: {len(dims)} dimensions given; the observation has {size} values"
        )


def _as_vector(state: StateLike, dims: Sequence[ContinuousDimension], where: str) -> np.ndarray:
    if isinstance(state, Mapping):
        missing = [dim.name for dim in dims if dim.name not in state]
        unknown = [name for name in state if name not in {dim.name for dim in dims}]
        if missing or unknown:
            raise ContractError(
                f"{where}: state has dimensions {list(state)}; expected "
                f"{[dim.name for dim in dims]}"
            )
        values = [state[dim.name] for dim in dims]
    else:
        values = list(np.asarray(state, dtype=np.float64).reshape(-1))
    vector = np.asarray(values, dtype=np.float64)
    if vector.shape != (len(dims),) or not np.isfinite(vector).all():
        raise ContractError(
            f"{where}: state is {np.asarray(state).tolist()!r}; expected {len(dims)} finite values"
        )
    return vector


def _single_agent(model: WorldModel, where: str) -> tuple[str, ActionSpec]:
    contract = model.contract()
    names = list(contract.observation)
    if len(names) != 1 or contract.action is None:
        raise ContractError(
            f"{where}: the model observes {names}; expected exactly one agent and an action"
        )
    spec = contract.action
    if spec.kind == "joint":
        spec = (spec.agents or {})[names[0]]
    if spec.kind not in ("discrete", "continuous") or len(spec.sample_shape) > 1:
        raise ContractError(
            f"{where}: the model's action is {spec.kind} of shape {spec.sample_shape}; "
            "expected discrete or a continuous vector"
        )
    return names[0], spec


def action_names(spec: ActionSpec) -> list[str]:
    """MMLF action dimension names: ``action`` (discrete), ``action_0``, ... (continuous)."""
    if spec.kind == "discrete":
        return ["action"]
    return [f"action_{i}" for i in range(spec.flat_size)]


def _action_value(action: Any, spec: ActionSpec, where: str) -> np.ndarray:
    """An MMLF action (``{dimension: value}`` or the bare value) as the model's action array."""
    if isinstance(action, Mapping):
        names = action_names(spec)
        if sorted(action) != sorted(names):
            raise ContractError(f"{where}: action has dimensions {list(action)}; expected {names}")
        action = [action[name] for name in names]
    array = np.asarray(action)
    if spec.kind == "discrete":
        return array.reshape(()).astype(np.int64)
    return array.astype(np.float32).reshape(spec.sample_shape)


@final
class MMLFModel:
    """The model protocol of MMLF's model-based agents, answered by a world model.

    The model needs ``representation``, ``latent_dynamics`` and ``obs_decoder``
    and one observed agent. Rewards come from ``reward_fn`` or the model's
    ``reward`` prediction; terminal states from ``terminal_fn`` or its
    ``continue`` prediction. ``sampleSuccessorState`` carries the model's
    recurrent memory: asked for the successor of a state it returned itself, it
    continues from that state's latent instead of encoding the vector afresh.

    Args:
        model: A trained single-agent world model.
        dims: The named state dimensions, in the order of the observation vector.
        start_states: Draws ``{agent: observation}`` for ``drawStartState``.
        reward_fn: ``(obs, action, next_obs) -> reward`` on raw vectors, or ``None``.
        terminal_fn: ``(obs) -> bool`` on a raw vector, or ``None``.
        scaled: States in and out are scaled to ``[0, 1]`` per dimension.
        samples: Successor samples drawn by ``getSuccessorDistribution`` of a
            stochastic model and by ``getConfidence``.
        exploration_radius: Max-norm distance (in scaled units) within which a stored
            experience counts for ``getExplorationValue``.
        deterministic: Successors use the model's deterministic predictions.
        memory_slots: Latent states remembered for memory carry-over.
        seed: Seeds ``drawStartState`` and the model's sampling.

    Raises:
        CapabilityError: if the model lacks a needed capability.
        ContractError: if the model observes more than one agent or ``dims`` does
            not match its observation size.
    """

    def __init__(
        self,
        model: WorldModel,
        dims: Sequence[ContinuousDimension],
        start_states: Callable[[np.random.Generator], Mapping[str, np.ndarray]],
        *,
        reward_fn: Callable[[np.ndarray, Any, np.ndarray], float] | None = None,
        terminal_fn: Callable[[np.ndarray], bool] | None = None,
        scaled: bool = True,
        samples: int = 8,
        exploration_radius: float = 0.05,
        deterministic: bool = True,
        memory_slots: int = 1024,
        seed: int = 0,
    ) -> None:
        where = "MMLFModel"
        for capability in (
            Capability.REPRESENTATION,
            Capability.LATENT_DYNAMICS,
            Capability.OBS_DECODER,
        ):
            model.require(capability, where)
        if reward_fn is None:
            model.require(Capability.REWARD_PRED, "MMLFModel without a reward_fn")
        if terminal_fn is None:
            model.require(Capability.CONTINUE_PRED, "MMLFModel without a terminal_fn")
        self.agent, self.action_spec = _single_agent(model, where)
        spec = model.contract().observation[self.agent]
        _check_dims(dims, int(spec.shape[-1]) if isinstance(spec.shape[-1], int) else -1, where)
        self.model, self.dims = model, tuple(dims)
        self.start_states, self.reward_fn, self.terminal_fn = start_states, reward_fn, terminal_fn
        self.scaled, self.samples, self.radius = scaled, samples, exploration_radius
        self.deterministic, self.memory_slots = deterministic, memory_slots
        self._low = np.array([dim.low for dim in dims], dtype=np.float64)
        self._span = np.array([dim.high - dim.low for dim in dims], dtype=np.float64)
        self._rng = np.random.default_rng(seed)
        self._generator = torch.Generator().manual_seed(seed)
        self._memory: OrderedDict[bytes, State] = OrderedDict()
        self._experience: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []

    # -- scaling ---------------------------------------------------------------------------

    def _raw(self, state: StateLike, where: str) -> np.ndarray:
        vector = _as_vector(state, self.dims, f"MMLFModel.{where}")
        return self._low + vector * self._span if self.scaled else vector

    def _out(self, raw: np.ndarray) -> np.ndarray:
        return (raw - self._low) / self._span if self.scaled else raw

    def _key(self, state: StateLike, where: str) -> bytes:
        return _as_vector(state, self.dims, f"MMLFModel.{where}").tobytes()

    # -- model calls -----------------------------------------------------------------------

    def _step(self, state: StateLike, action: Any, deterministic: bool) -> tuple[np.ndarray, State]:
        key = self._key(state, "sampleSuccessorState")
        value = _action_value(action, self.action_spec, "MMLFModel")
        with torch.no_grad():
            latent = self._memory.get(key)
            if latent is None:
                obs = torch.as_tensor(self._raw(state, "sampleSuccessorState"), dtype=torch.float32)
                latent = self.model.encode({self.agent: obs[None]}, deterministic=True)
            payload = joint_payload(self.model.contract(), {self.agent: value})
            nxt = self.model.transition(latent, payload, deterministic=deterministic)
            decoded = self.model.decode(nxt).predictions
        return decoded[self.agent][0].numpy().astype(np.float64), nxt

    def _remember(self, successor: np.ndarray, latent: State) -> None:
        self._memory[successor.tobytes()] = latent
        self._memory.move_to_end(successor.tobytes())
        while len(self._memory) > self.memory_slots:
            self._memory.popitem(last=False)

    def sampleSuccessorState(self, state: StateLike, action: Any) -> np.ndarray:  # noqa: N802
        """One successor of ``state`` under ``action``, in the same coordinates."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=self._generator)))
            raw, latent = self._step(state, action, self.deterministic)
        successor = self._out(raw)
        self._remember(successor, latent)
        return successor

    def getSuccessorDistribution(  # noqa: N802
        self, state: StateLike, action: Any
    ) -> list[tuple[np.ndarray, float]]:
        """``[(successor, probability)]``: one sure successor, or ``samples`` equal draws."""
        if self.deterministic:
            return [(self.sampleSuccessorState(state, action), 1.0)]
        draws = [self.sampleSuccessorState(state, action) for _ in range(self.samples)]
        return [(draw, 1.0 / len(draws)) for draw in draws]

    def getExpectedReward(self, state: StateLike, action: Any) -> float:  # noqa: N802
        """The reward expected for ``action`` in ``state``."""
        if self.reward_fn is not None:
            raw = self._raw(state, "getExpectedReward")
            nxt, _ = self._step(state, action, True)
            value = _action_value(action, self.action_spec, "MMLFModel.getExpectedReward")
            return float(self.reward_fn(raw, value, nxt))
        latent = self._step(state, action, True)[1]
        with torch.no_grad():
            return float(self.model.decode(latent).predictions["reward"].reshape(-1)[0])

    def isTerminalState(self, state: StateLike) -> bool:  # noqa: N802
        """Whether ``state`` ends an episode."""
        raw = self._raw(state, "isTerminalState")
        if self.terminal_fn is not None:
            return bool(self.terminal_fn(raw))
        obs = torch.as_tensor(raw, dtype=torch.float32)[None]
        with torch.no_grad():
            latent = self.model.encode({self.agent: obs}, deterministic=True)
            keep = self.model.decode(latent).predictions["continue"].reshape(-1)[0]
        return bool(float(keep) < 0.5)

    def drawStartState(self) -> np.ndarray:  # noqa: N802
        """A start state drawn from ``start_states``."""
        drawn = self.start_states(self._rng)
        return self._out(np.asarray(drawn[self.agent], dtype=np.float32).astype(np.float64))

    def addExperience(  # noqa: N802
        self,
        state: StateLike,
        action: Any,
        succState: StateLike,
        reward: float,  # noqa: N803
    ) -> None:
        """Record one observed transition (see `dataset` to train on them)."""
        raw = self._raw(state, "addExperience")
        nxt = self._raw(succState, "addExperience")
        value = _action_value(action, self.action_spec, "MMLFModel.addExperience")
        self._experience.append((raw, value, nxt, float(reward)))

    def getExplorationValue(self, state: StateLike, action: Any) -> int:  # noqa: N802
        """How many recorded transitions took ``action`` within the radius of ``state``."""
        scaled = (self._raw(state, "getExplorationValue") - self._low) / self._span
        value = _action_value(action, self.action_spec, "MMLFModel.getExplorationValue")
        count = 0
        for raw, taken, _, _ in self._experience:
            near = np.max(np.abs((raw - self._low) / self._span - scaled)) <= self.radius
            count += int(near and np.array_equal(taken, value))
        return count

    def getConfidence(self, state: StateLike, action: Any) -> float:  # noqa: N802
        """``1 / (1 + spread)`` of ``samples`` stochastic successors (1.0: they agree)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=self._generator)))
            draws = [self._step(state, action, False)[0] for _ in range(max(self.samples, 2))]
        spread = float(np.mean(np.std(np.stack(draws), axis=0) / self._span))
        return 1.0 / (1.0 + spread)

    def dataset(self) -> EpisodeDataset:
        """The recorded transitions as episodes of raw vectors, to train a model on.

        A transition whose state is the previous transition's successor continues
        that episode; any other starts a new one.
        """
        act = self.action_spec
        agent = AgentSpec(
            name=self.agent,
            obs_size=len(self.dims),
            action_kind="discrete" if act.kind == "discrete" else "continuous",
            action_size=act.flat_size,
        )
        spec = DatasetSpec(agents=(agent,))
        runs: list[list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]] = []
        for item in self._experience:
            if runs and np.array_equal(runs[-1][-1][2], item[0]):
                runs[-1].append(item)
            else:
                runs.append([item])
        return EpisodeDataset(spec, [self._episode(run) for run in runs])

    def _episode(self, run: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]) -> Episode:
        obs = np.stack([run[0][0], *(item[2] for item in run)]).astype(np.float32)
        actions = torch.from_numpy(np.stack([item[1] for item in run]))
        return Episode(
            obs={self.agent: torch.from_numpy(obs)},
            actions={self.agent: actions},
            rewards={self.agent: torch.tensor([item[3] for item in run], dtype=torch.float32)},
        )


@final
class MMLFEnvironment:
    """An MMLF-style environment over a Gymnasium env such as `SingleAgentEnv`.

    States are ``{dimension name: float}`` dicts in the order of ``dims``; the
    values are the env's observation values, unchanged. The action space is one
    discrete dimension ``action`` for a ``Discrete`` env, or one continuous
    dimension per component (``action_0``, ...) for a ``Box`` env. An episode that
    terminates reports its last state as ``terminalState``; one that is truncated
    reports ``terminalState`` ``None``. Either way ``nextState`` is then the first
    state of the next episode and ``startNewEpisode`` is true.

    Args:
        env: A Gymnasium env with a flat ``Box`` observation space (e.g. a
            `SingleAgentEnv` over a `WorldModelEnv`).
        dims: The named state dimensions, one per observation value.
        seed: Seeds the first ``reset``; later episodes continue its generator.

    Raises:
        ContractError: if ``dims`` does not match the observation size, or the action
            space is neither ``Discrete`` nor a flat ``Box``.
    """

    def __init__(self, env: Any, dims: Sequence[ContinuousDimension], *, seed: int | None = None):
        from gymnasium import spaces

        size = int(np.prod(env.observation_space.shape))
        _check_dims(dims, size, "MMLFEnvironment")
        space = env.action_space
        if isinstance(space, spaces.Discrete):
            self.action_spec = ActionSpec(kind="discrete", num_actions=int(space.n))
            self._offset, self._bounds = int(space.start), []
        elif isinstance(space, spaces.Box) and len(space.shape) == 1:
            self.action_spec = ActionSpec(
                kind="continuous",
                shape=space.shape,
                low=[float(v) for v in space.low],
                high=[float(v) for v in space.high],
            )
            self._offset = 0
            self._bounds = list(zip(space.low.tolist(), space.high.tolist(), strict=True))
        else:
            raise ContractError(
                f"MMLFEnvironment: action space {space}; expected Discrete or a flat Box"
            )
        self.env, self.dims, self._seed = env, tuple(dims), seed
        self._state: dict[str, float] | None = None

    def _named(self, obs: Any) -> dict[str, float]:
        values = np.asarray(obs).reshape(-1)
        return {dim.name: float(value) for dim, value in zip(self.dims, values, strict=True)}

    def getInitialState(self) -> dict[str, float]:  # noqa: N802
        """Start an episode and return its first state."""
        obs, _ = self.env.reset(seed=self._seed)
        self._seed = None
        self._state = self._named(obs)
        return dict(self._state)

    def getStateSpace(self) -> dict[str, tuple[str, list[tuple[float, float]]]]:  # noqa: N802
        """``{name: ("continuous", [(low, high)])}`` in MMLF's dict form, in dimension order."""
        return {dim.name: ("continuous", [(dim.low, dim.high)]) for dim in self.dims}

    def getActionSpace(self) -> dict[str, tuple[str, list[Any]]]:  # noqa: N802
        """``{"action": ("discrete", [0, ..., n-1])}`` or one continuous range per component."""
        spec = self.action_spec
        if spec.kind == "discrete":
            return {"action": ("discrete", list(range(int(spec.num_actions or 1))))}
        return {
            name: ("continuous", [bounds])
            for name, bounds in zip(action_names(spec), self._bounds, strict=True)
        }

    def evaluateAction(self, action: Any) -> dict[str, Any]:  # noqa: N802
        """Apply ``action`` (``{dimension: value}`` or the bare value) and report the outcome.

        Returns:
            ``{"reward", "terminalState", "nextState", "startNewEpisode"}``.

        Raises:
            ContractError: if called before ``getInitialState`` or the action does not fit.
        """
        if self._state is None:
            raise ContractError("MMLFEnvironment.evaluateAction called before getInitialState()")
        value = _action_value(action, self.action_spec, "MMLFEnvironment.evaluateAction")
        env_action = int(value) + self._offset if self.action_spec.kind == "discrete" else value
        obs, reward, terminated, truncated, _ = self.env.step(env_action)
        state = self._named(obs)
        outcome = {"reward": float(reward), "terminalState": None, "nextState": state}
        if terminated or truncated:
            outcome["terminalState"] = state if terminated else None
            state = self.getInitialState()
            outcome["nextState"] = state
        self._state = state
        return {**outcome, "startNewEpisode": bool(terminated or truncated)}
