from __future__ import annotations

import asyncio
import re

import pytest
import torch

from worldmodel_sdk import Capability, CapabilityError, ContractError, WorldModelInput
from worldmodel_sdk.data import concat_joint_obs
from worldmodel_sdk.models import RDLM, VAE, RDLMConfig, VAEConfig
from worldmodel_sdk.models.rdlm import start_windows
from worldmodel_sdk.training import fit

from .helpers import spread_data


def steps(model: RDLM, z0: torch.Tensor, actions: torch.Tensor, *, reset: bool) -> torch.Tensor:
    state = model.initial_state(z0)
    out = []
    for a in actions.unbind(1):
        if reset:  # what the original pipeline did: fresh memory on every call
            state = model.initial_state(state["z"])
        state = model.transition(state, a)
        out.append(state["z"])
    return torch.stack(out, 1)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_recurrent_memory_is_carried_between_calls(cell: str) -> None:
    torch.manual_seed(0)
    model = RDLM(RDLMConfig(latent_dim=4, action_size=3, cell=cell, layers=2, hidden=16)).eval()
    z0 = torch.randn(2, 4)
    actions = torch.randint(3, (2, 6))
    carried = steps(model, z0, actions, reset=False)
    # teacher forcing on the model's own latents runs one recurrent pass over the sequence
    z_seq = torch.cat([z0[:, None], carried], 1)
    flat = torch.nn.functional.one_hot(torch.cat([actions, actions[:, -1:]], 1), 3).float()
    preds, _ = model.teacher_forced(z_seq, flat)
    torch.testing.assert_close(carried, preds)
    reset = steps(model, z0, actions, reset=True)
    assert not torch.allclose(carried[:, 1:], reset[:, 1:])


def test_state_layout_follows_the_cell() -> None:
    gru = RDLM(RDLMConfig(latent_dim=2, cell="gru", layers=2, hidden=8))
    lstm = RDLM(RDLMConfig(latent_dim=2, cell="lstm", hidden=8))
    assert set(gru.initial_state(torch.zeros(3, 2)).keys()) == {"z", "h"}
    state = lstm.transition(lstm.initial_state(torch.zeros(3, 2)), torch.zeros(3, dtype=torch.long))
    assert state["c"].shape == (3, 1, 8)
    lstm.validate_state_contract(state)
    assert gru.supports(Capability.RECURRENT) and not gru.supports("representation")
    with pytest.raises(CapabilityError, match="needed by encode()"):
        gru.encode(torch.zeros(1, 2))


def test_rollout_matches_steps_and_async_twin() -> None:
    model = RDLM(RDLMConfig(latent_dim=3, action_size=4, hidden=8)).eval()
    z0 = torch.randn(2, 3)
    actions = torch.randint(4, (5, 2))
    trajectory = model.rollout(model.initial_state(z0), actions, deterministic=True)
    torch.testing.assert_close(
        trajectory.states[-1]["z"], steps(model, z0, actions.T, reset=False)[:, -1]
    )
    again = asyncio.run(model.async_rollout(model.initial_state(z0), actions, deterministic=True))
    assert torch.equal(again.states[-1]["h"], trajectory.states[-1]["h"])


def test_action_out_of_range_is_a_contract_error() -> None:
    model = RDLM(RDLMConfig(latent_dim=2, action_size=5))
    with pytest.raises(
        ContractError,
        match=re.escape("action is out of range: expected 0 <= action < 5; got min 0, max 7"),
    ):
        model.transition(model.initial_state(torch.zeros(2, 2)), torch.tensor([0, 7]))


def test_trains_on_real_latents_with_open_loop_loss(tmp_path) -> None:
    data = spread_data()
    torch.manual_seed(0)
    vae = VAE(VAEConfig(obs_dim=data.spec.joint_obs_size, latent_dim=8, width=32))
    windows = data.windows(8, stride=4)
    with torch.no_grad():
        obs = torch.cat(
            [
                concat_joint_obs(windows.obs, data.spec),
                concat_joint_obs(windows.next_obs, data.spec)[:, -1:],
            ],
            1,
        )
        vae.normalizer.fit(obs)
        z = vae.encode(obs.reshape(-1, obs.shape[-1]), deterministic=True)["z"].reshape(
            *obs.shape[:2], 8
        )
    actions = windows.actions["agent_0"]
    batch = WorldModelInput(
        obs={"z": z}, actions=torch.cat([actions, actions[:, -1:]], 1), sequence=True
    )
    model = RDLM(RDLMConfig(latent_dim=8, action_size=5, hidden=32, open_loop_horizon=3))
    before = model.loss(batch)
    assert set(before.components) == {"teacher_forced", "open_loop"}
    result = fit(model, batch, epochs=5, batch_size=32, lr=3e-3, seed=0, progress=False, threads=1)
    assert result.best_val_loss < 0.5 * before.total.item()
    model.save_pretrained(tmp_path)
    loaded = RDLM.from_pretrained(tmp_path)
    state = model.initial_state(z[:2, 0])
    assert torch.equal(
        model.transition(state, actions[:2, 0])["z"], loaded.transition(state, actions[:2, 0])["z"]
    )


def test_start_windows_match_per_start_slicing() -> None:
    series = torch.arange(2 * 7 * 3).reshape(2, 7, 3)
    starts = torch.arange(4)
    expected = torch.cat([series[:, s + 1 : s + 4] for s in range(4)])
    assert torch.equal(start_windows(series, starts, 3, offset=1), expected)
    assert torch.equal(
        start_windows(series, starts, 1)[:, 0], torch.cat([series[:, s] for s in range(4)])
    )
