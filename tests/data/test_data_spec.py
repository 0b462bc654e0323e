from __future__ import annotations

import pytest
from pydantic import ValidationError

from worldmodel_sdk.data import AgentSpec, DatasetSpec
from worldmodel_sdk.errors import ContractError


def test_from_agents_sorts_naturally(mixed_spec: DatasetSpec) -> None:
    assert mixed_spec.agent_names == ("agent_2", "agent_10")
    assert mixed_spec.obs_sizes == (3, 2)
    assert mixed_spec.joint_obs_size == 5
    assert mixed_spec.action_widths == (4, 2)
    assert mixed_spec.joint_action_size == 6
    assert mixed_spec.agent("agent_2").action_shape == ()
    assert mixed_spec.agent("agent_10").action_shape == (2,)


def test_unknown_agent_lists_known(mixed_spec: DatasetSpec) -> None:
    with pytest.raises(
        ContractError, match="unknown agent 'agent_3'; expected one of: agent_2, agent_10"
    ):
        mixed_spec.agent("agent_3")


def test_unsorted_or_duplicate_agents_refused() -> None:
    a2 = AgentSpec(name="agent_2", obs_size=1, action_kind="discrete", action_size=2)
    a10 = AgentSpec(name="agent_10", obs_size=1, action_kind="discrete", action_size=2)
    with pytest.raises(ValidationError, match="natural order"):
        DatasetSpec(agents=(a10, a2))
    with pytest.raises(ValidationError, match="repeated: agent_2"):
        DatasetSpec(agents=(a2, a2))


def test_spec_is_frozen_and_strict() -> None:
    with pytest.raises(ValidationError):
        AgentSpec(name="a", obs_size=0, action_kind="discrete", action_size=2)
    with pytest.raises(ValidationError):
        AgentSpec(name="a", obs_size=1, action_kind="multi", action_size=2)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        AgentSpec.model_validate(
            {"name": "a", "obs_size": 1, "action_kind": "discrete", "action_size": 2, "x": 1}
        )
