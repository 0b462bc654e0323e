"""Batches for training: episodes cut into model-shaped windows, minibatches, devices."""

from __future__ import annotations

import torch

from ._outcomes import per_agent
from .contract import IOContract
from .data.dataset import EpisodeDataset
from .data.joint import concat_joint_obs
from .data.windows import WindowBatch
from .errors import ContractError
from .model import WorldModel
from .payloads.action import ActionPayload
from .payloads.condition import ConditionPayload
from .payloads.outputs import WorldModelInput

__all__ = ["episodes_to_input", "select_input", "to_device"]


def episodes_to_input(
    model: WorldModel, data: EpisodeDataset, *, window: int, stride: int = 1
) -> WorldModelInput:
    """Cut ``data`` into windows of ``window`` steps, shaped for ``model``'s contract.

    Each window gives ``window + 1`` observations ``[N, window + 1, ...]`` and as many
    actions (the last one is a copy and is never used by a loss). A multi-agent
    contract gets per-agent observations and a joint `ActionPayload`; a contract
    with one observation key gets the joint observation vector under that key
    (and, for one agent, its action tensor).

    When every episode records them, ``rewards`` ``[N, window + 1]`` hold the mean
    reward over agents after each action (the team reward) and ``continues`` hold 1
    while no agent has terminated, 0 on the step an agent terminates (a truncation
    is not a termination); their last column is a copy, like the actions'. A model
    whose contract predicts ``reward`` / ``continue`` per agent (an ``"A"`` axis)
    gets them per agent instead, ``[N, window + 1, A]`` in the contract's agent
    order: each agent's own reward, and 1 until that agent terminates.

    Raises:
        ContractError: if the model's contract cannot be fed from episodes.
    """
    contract = model.contract()
    windows = data.windows(window, stride=stride)
    obs = {k: torch.cat([v, windows.next_obs[k][:, -1:]], dim=1) for k, v in windows.obs.items()}
    actions = {k: torch.cat([v, v[:, -1:]], dim=1) for k, v in windows.actions.items()}
    rewards, continues = _rewards_and_continues(windows, contract)
    if contract.agents:
        payload = ActionPayload(kind="joint", agents=actions) if contract.action else None
        return WorldModelInput(
            obs=obs, actions=payload, sequence=True, rewards=rewards, continues=continues
        )
    if len(contract.observation) == 1:
        key = next(iter(contract.observation))
        joint = concat_joint_obs(obs, data.spec)
        if contract.action is None:
            return WorldModelInput(
                obs={key: joint}, sequence=True, rewards=rewards, continues=continues
            )
        if len(actions) == 1:
            return WorldModelInput(
                obs={key: joint},
                actions=next(iter(actions.values())),
                sequence=True,
                rewards=rewards,
                continues=continues,
            )
    raise ContractError(
        f"fit: cannot build {type(model).__name__} batches from an EpisodeDataset (observation "
        f"keys {list(contract.observation)}); pass a WorldModelInput instead"
    )


def _rewards_and_continues(
    windows: WindowBatch, contract: IOContract
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Rewards and continue flags ``[N, L + 1]`` (team) or ``[N, L + 1, A]`` (per agent)."""
    rewards = continues = None

    def by_agent(values: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[N, L, A]`` in the contract's agent order (the windows' order otherwise).

        Agents that are not the contract's keep the windows' order: the batch check
        then names the agents that do not match, as it does for the observations.
        """
        agents = list(contract.agents)
        order = agents if sorted(agents) == sorted(values) else list(values)
        return torch.stack([values[n] for n in order], dim=-1)

    if windows.rewards is not None:
        stacked = by_agent(windows.rewards)
        team = stacked if per_agent(contract, "reward") else stacked.mean(dim=-1)
        rewards = torch.cat([team, team[:, -1:]], dim=1)
    if windows.terminated is not None:
        ended = by_agent(windows.terminated)
        flags = (~(ended if per_agent(contract, "continue") else ended.any(dim=-1))).float()
        continues = torch.cat([flags, flags[:, -1:]], dim=1)
    return rewards, continues


def select_input(batch: WorldModelInput, index: torch.Tensor) -> WorldModelInput:
    """The rows ``index`` of every tensor of ``batch`` (a minibatch), side conditions included."""

    def pick(value: torch.Tensor | None) -> torch.Tensor | None:
        return None if value is None else value[index]

    obs = (
        batch.obs[index]
        if isinstance(batch.obs, torch.Tensor)
        else {k: v[index] for k, v in batch.obs.items()}
    )
    actions: ActionPayload | torch.Tensor | None = batch.actions
    if isinstance(actions, ActionPayload):
        actions = ActionPayload(
            kind=actions.kind,
            tensor=pick(actions.tensor),
            agents=None
            if actions.agents is None
            else {k: v[index] for k, v in actions.agents.items()},
        )
    elif actions is not None:
        actions = actions[index]
    return WorldModelInput(
        obs=obs,
        actions=actions,
        rewards=pick(batch.rewards),
        continues=pick(batch.continues),
        conditions=None
        if batch.conditions is None
        else ConditionPayload(
            {k: v[index] for k, v in batch.conditions.tensors.items()}, batch.conditions.extras
        ),
        mask=pick(batch.mask),
        sequence=batch.sequence,
    )


def to_device(batch: WorldModelInput, device: str | torch.device) -> WorldModelInput:
    """``batch`` with every tensor moved to ``device``."""

    def move(value: torch.Tensor | None) -> torch.Tensor | None:
        return None if value is None else value.to(device)

    obs = (
        batch.obs.to(device)
        if isinstance(batch.obs, torch.Tensor)
        else {k: v.to(device) for k, v in batch.obs.items()}
    )
    actions: ActionPayload | torch.Tensor | None = batch.actions
    if isinstance(actions, ActionPayload):
        actions = ActionPayload(
            kind=actions.kind,
            tensor=move(actions.tensor),
            agents=None
            if actions.agents is None
            else {k: v.to(device) for k, v in actions.agents.items()},
        )
    elif actions is not None:
        actions = actions.to(device)
    return WorldModelInput(
        obs=obs,
        actions=actions,
        rewards=move(batch.rewards),
        continues=move(batch.continues),
        conditions=batch.conditions,
        mask=move(batch.mask),
        sequence=batch.sequence,
    )


def _batch_size_of(batch: WorldModelInput) -> int:
    first = batch.obs if isinstance(batch.obs, torch.Tensor) else next(iter(batch.obs.values()))
    return int(first.shape[0])


def _split_input(
    batch: WorldModelInput, val_fraction: float, generator: torch.Generator
) -> tuple[WorldModelInput, WorldModelInput]:
    size = _batch_size_of(batch)
    if size < 2:
        raise ContractError(f"fit: needs at least 2 samples to split off validation; got {size}")
    order = torch.randperm(size, generator=generator)
    n_val = min(max(round(val_fraction * size), 1), size - 1)
    return select_input(batch, order[n_val:]), select_input(batch, order[:n_val])
