"""Per-horizon prediction error of world models and baselines on recorded episodes.

`evaluate` scores every predictor the same way: from each step ``s`` of each
episode, it predicts the observations of steps ``s+1 .. s+H`` open loop (given the
true observations up to ``s`` and the recorded actions) and averages the squared
error at each horizon ``h`` over every start with ``s + h <= T``, per agent and
for the joint observation. Episodes keep their own lengths: nothing is cut to the
shortest, and a model's memory is carried from each episode's own start.

A `WorldModel` is scored through the protocol alone (`ModelPredictor`): ``encode``
the first observation, fold in each further true observation with ``update`` (the
``posterior_update`` capability; a model without it is re-encoded at each step,
which only a model without memory allows), then ``transition`` and ``decode``
open loop. Any other predictor subclasses `Predictor`; `CopyLast` is always scored.

Example:
    ```python
    errors = evaluate(held_out, {"JOPM": model, "MLP": my_baseline}, horizon=5)
    errors.mse["JOPM"]["joint"]        # MSE at h = 1, ..., 5
    errors.ratio("JOPM", "copy-last")  # below 1: better than copying
    ```
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import final

import torch

from .capabilities import Capability
from .data.dataset import EpisodeDataset
from .data.episode import Episode
from .data.joint import concat_joint_obs
from .data.spec import DatasetSpec
from .errors import CapabilityError, ContractError
from .model import Action, Obs, WorldModel
from .payloads.action import ActionPayload
from .payloads.state import State
from .training import episodes_to_input

__all__ = ["CopyLast", "HorizonErrors", "ModelPredictor", "Predictor", "evaluate"]


class Predictor(ABC):
    """Something that predicts joint observations open loop from every step of an episode."""

    @abstractmethod
    def rollouts(self, episode: Episode, spec: DatasetSpec, horizon: int) -> torch.Tensor:
        """Open-loop predictions ``[T, horizon, D]`` of one episode of ``T`` steps.

        Row ``s`` predicts the joint observations (agents in ``spec`` order) of steps
        ``s+1 .. s+horizon`` from the true observations up to step ``s`` and the
        recorded actions from step ``s`` on. Entries past the end of the episode
        are ignored (an action past the end may be any value, e.g. the last one).
        """


@final
class CopyLast(Predictor):
    """Predicts that every future observation equals the last true one."""

    def rollouts(self, episode: Episode, spec: DatasetSpec, horizon: int) -> torch.Tensor:
        """The observation of step ``s`` repeated ``horizon`` times, for each ``s``."""
        joint = concat_joint_obs(episode.obs, spec)[:-1]
        return joint.unsqueeze(1).expand(-1, horizon, -1)


@final
class ModelPredictor(Predictor):
    """Scores any `WorldModel` that encodes, transitions and decodes observations."""

    def __init__(self, model: WorldModel) -> None:
        if model.supports(Capability.RECURRENT) and not model.supports(Capability.POSTERIOR_UPDATE):
            raise CapabilityError(
                f"{type(model).__name__} is recurrent but lacks posterior_update: its memory "
                "cannot be carried along the true observations [evaluate]"
            )
        self.model = model

    @torch.no_grad()
    def rollouts(self, episode: Episode, spec: DatasetSpec, horizon: int) -> torch.Tensor:
        """Filter along the episode, then roll every start ``horizon`` steps open loop."""
        model, steps = self.model, episode.length
        data = EpisodeDataset(spec, [episode])
        batch = episodes_to_input(model, data, window=steps, stride=steps)
        assert batch.actions is not None
        state = model.encode(_obs_at(batch.obs, torch.tensor([0])), deterministic=True)
        states = [state]
        for t in range(1, steps):
            now = torch.tensor([t])
            if model.supports(Capability.POSTERIOR_UPDATE):
                state = model.update(
                    state, _action_at(batch.actions, now - 1), _obs_at(batch.obs, now)
                )
            else:
                state = model.encode(_obs_at(batch.obs, now), deterministic=True)
            states.append(state)
        state = State({k: torch.cat([s[k] for s in states]) for k in states[0].tensors})
        starts, preds = torch.arange(steps), []
        for k in range(horizon):
            index = (starts + k).clamp_max(steps)
            state = model.transition(state, _action_at(batch.actions, index), deterministic=True)
            preds.append(self._joint(model.decode(state).predictions, spec))
        return torch.stack(preds, dim=1)

    def _joint(self, predictions: Mapping[str, torch.Tensor], spec: DatasetSpec) -> torch.Tensor:
        contract = self.model.contract()
        if contract.agents:
            return concat_joint_obs({a: predictions[a] for a in spec.agent_names}, spec)
        return predictions[next(iter(contract.observation))]


def _obs_at(obs: Obs, index: torch.Tensor) -> Obs:
    """Observations at the time steps ``index`` of a one-sequence batch ``[1, T+1, ...]``."""
    if isinstance(obs, torch.Tensor):
        return obs[0, index]
    return {k: v[0, index] for k, v in obs.items()}


def _action_at(actions: Action, index: torch.Tensor) -> Action:
    """Actions at the time steps ``index`` of a one-sequence batch."""
    if isinstance(actions, ActionPayload):
        return ActionPayload(
            kind=actions.kind,
            tensor=None if actions.tensor is None else actions.tensor[0, index],
            agents=None
            if actions.agents is None
            else {k: v[0, index] for k, v in actions.agents.items()},
        )
    if isinstance(actions, torch.Tensor):
        return actions[0, index]
    raise ContractError(f"evaluate: unsupported action batch {type(actions).__name__}")


@dataclass(frozen=True, slots=True)
class HorizonErrors:
    """Mean squared errors at horizons ``1..H``.

    Attributes:
        mse: ``{predictor: {"joint" or agent: [MSE at h=1, ..., h=H]}}``.
        counts: Predictions scored at each horizon (the same for every predictor).
    """

    mse: dict[str, dict[str, list[float]]]
    counts: list[int]

    @property
    def horizon(self) -> int:
        """The largest horizon ``H``."""
        return len(self.counts)

    def ratio(self, name: str, baseline: str, *, part: str = "joint") -> list[float]:
        """``mse[name][part] / mse[baseline][part]`` at each horizon (below 1: better)."""
        pairs = zip(self.mse[name][part], self.mse[baseline][part], strict=True)
        return [a / b if b > 0 else float("inf") for a, b in pairs]


def evaluate(
    data: EpisodeDataset,
    predictors: Mapping[str, WorldModel | Predictor],
    *,
    horizon: int = 5,
) -> HorizonErrors:
    """Per-horizon MSE of ``predictors`` and of `CopyLast` (as ``copy-last``) on ``data``.

    Args:
        data: Held-out episodes; they may have different lengths.
        predictors: Models (scored with `ModelPredictor`) or `Predictor` objects, by name.
        horizon: The largest horizon ``H``.

    Raises:
        ContractError: if ``horizon`` is not a positive integer or exceeds every episode.
        CapabilityError: for a recurrent model without ``posterior_update``.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ContractError(f"evaluate: horizon must be an integer >= 1; got {horizon!r}")
    longest = max(data.lengths, default=0)
    if horizon > longest:
        raise ContractError(
            f"evaluate: horizon {horizon} exceeds the longest episode ({longest} steps)"
        )
    named: dict[str, Predictor] = {"copy-last": CopyLast()}
    for name, item in predictors.items():
        named[name] = ModelPredictor(item) if isinstance(item, WorldModel) else item
    sizes = list(data.spec.obs_sizes)
    sums = {name: torch.zeros(horizon, len(sizes)) for name in named}
    counts = torch.zeros(horizon, dtype=torch.long)
    for episode in data:
        true = concat_joint_obs(episode.obs, data.spec)
        steps = episode.length
        offsets = torch.arange(steps).unsqueeze(1) + torch.arange(1, horizon + 1)  # [T, H]
        valid = offsets <= steps
        target = true[offsets.clamp_max(steps)]
        counts += valid.sum(dim=0)
        for name, predictor in named.items():
            pred = predictor.rollouts(episode, data.spec, horizon)
            error = (pred - target).pow(2) * valid.unsqueeze(-1)
            per_agent = torch.stack([e.sum(-1) for e in torch.split(error, sizes, dim=-1)], dim=-1)
            sums[name] += per_agent.sum(dim=0)
    return _errors(sums, counts, data.spec)


def _errors(
    sums: Mapping[str, torch.Tensor], counts: torch.Tensor, spec: DatasetSpec
) -> HorizonErrors:
    sizes = torch.tensor(spec.obs_sizes, dtype=torch.float64)
    n = counts.clamp_min(1).double().unsqueeze(1)
    mse: dict[str, dict[str, list[float]]] = {}
    for name, total in sums.items():
        total = total.double()
        per_agent = total / n / sizes
        joint = total.sum(dim=1) / n[:, 0] / sizes.sum()
        mse[name] = {"joint": joint.tolist()} | {
            agent: per_agent[:, i].tolist() for i, agent in enumerate(spec.agent_names)
        }
    return HorizonErrors(mse=mse, counts=counts.tolist())
