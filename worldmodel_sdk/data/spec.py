"""`AgentSpec` and `DatasetSpec`: what each agent observes and how it acts."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..contract import ActionSpec
from ..errors import ContractError
from ..naming import natural_sorted

__all__ = ["ActionKind", "AgentSpec", "DatasetSpec"]

ActionKind = Literal["discrete", "continuous"]


class AgentSpec(BaseModel):
    """One agent's flat observation size and action space.

    Attributes:
        name: The agent's name, as the environment reports it.
        obs_size: Length of the agent's flattened float observation vector.
        action_kind: ``"discrete"`` (one integer per step) or ``"continuous"``
            (a float vector per step).
        action_size: ``n`` of a ``Discrete(n)`` space, or the length of a
            continuous action vector.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    obs_size: int = Field(ge=1)
    action_kind: ActionKind
    action_size: int = Field(ge=1)

    @cached_property
    def action_spec(self) -> ActionSpec:
        """The agent's per-sample `ActionSpec`."""
        return ActionSpec.sized(self.action_kind, self.action_size)

    @property
    def action_shape(self) -> tuple[int, ...]:
        """Per-step action shape: ``()`` when discrete, ``(action_size,)`` when continuous."""
        return self.action_spec.sample_shape


class DatasetSpec(BaseModel):
    """The agents of a dataset, in natural order, with their sizes.

    Agents need not share observation or action sizes. The order is always the
    natural order of the names (``agent_2`` before ``agent_10``); joint vectors
    concatenate agents in that order.

    Example:
        >>> spec = DatasetSpec.from_agents([
        ...     AgentSpec(name="b", obs_size=2, action_kind="discrete", action_size=5),
        ...     AgentSpec(name="a", obs_size=3, action_kind="continuous", action_size=2),
        ... ])
        >>> spec.agent_names, spec.joint_obs_size
        (('a', 'b'), 5)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    agents: tuple[AgentSpec, ...] = Field(min_length=1)

    @field_validator("agents")
    @classmethod
    def _natural_and_unique(cls, agents: tuple[AgentSpec, ...]) -> tuple[AgentSpec, ...]:
        names = [agent.name for agent in agents]
        if len(set(names)) != len(names):
            duplicates = sorted({name for name in names if names.count(name) > 1})
            raise ValueError(f"agent names must be unique; repeated: {', '.join(duplicates)}")
        if names != natural_sorted(names):
            raise ValueError(
                f"agents must be in natural order {natural_sorted(names)}; got {names}"
            )
        return agents

    @classmethod
    def from_agents(cls, agents: Iterable[AgentSpec]) -> DatasetSpec:
        """Build a spec from agents given in any order (they are naturally sorted)."""
        by_name = {agent.name: agent for agent in agents}
        return cls(agents=tuple(by_name[name] for name in natural_sorted(by_name)))

    def agent(self, name: str) -> AgentSpec:
        """Return the spec of the agent called ``name``.

        Raises:
            ContractError: if no agent has that name; the message lists the known ones.
        """
        for agent in self.agents:
            if agent.name == name:
                return agent
        raise ContractError(
            f"unknown agent {name!r}; expected one of: {', '.join(self.agent_names)}"
        )

    @property
    def agent_names(self) -> tuple[str, ...]:
        """Agent names in natural order."""
        return tuple(agent.name for agent in self.agents)

    @property
    def obs_sizes(self) -> tuple[int, ...]:
        """Per-agent observation sizes, in agent order."""
        return tuple(agent.obs_size for agent in self.agents)

    @property
    def joint_obs_size(self) -> int:
        """Size of the concatenated joint observation."""
        return sum(self.obs_sizes)

    @property
    def action_widths(self) -> tuple[int, ...]:
        """Per-agent width of an encoded action (one-hot ``n`` or vector length)."""
        return tuple(agent.action_size for agent in self.agents)

    @property
    def joint_action_size(self) -> int:
        """Size of the encoded joint action (one-hot discrete, raw continuous)."""
        return sum(self.action_widths)
