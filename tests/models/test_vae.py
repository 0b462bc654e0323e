from __future__ import annotations

import re

import pytest
import torch

from worldmodel_sdk import Capability, CapabilityError, ContractError, WorldModelInput
from worldmodel_sdk.data import concat_joint_obs
from worldmodel_sdk.models import VAE, VAEConfig
from worldmodel_sdk.registry import create_model
from worldmodel_sdk.training import fit

from .helpers import spread_data


def test_capabilities_and_registry() -> None:
    assert VAE.capabilities == {Capability.REPRESENTATION, Capability.OBS_DECODER}
    assert isinstance(create_model("vae", obs_dim=4), VAE)


def test_encode_decode_shapes_and_determinism() -> None:
    vae = VAE(VAEConfig(obs_dim=6, latent_dim=3))
    obs = torch.randn(5, 6)
    state = vae.encode(obs, deterministic=True)
    vae.validate_state_contract(state)
    assert torch.equal(state["z"], vae.encode({"obs": obs}, deterministic=True)["z"])
    assert vae.decode(state)["obs"].shape == (5, 6)
    assert not torch.equal(vae.encode(obs)["z"], vae.encode(obs)["z"])


def test_transition_is_not_declared() -> None:
    vae = VAE(VAEConfig(obs_dim=2))
    with pytest.raises(CapabilityError, match="VAE does not declare capability 'latent_dynamics'"):
        vae.transition(vae.encode(torch.zeros(1, 2)), torch.zeros(1))


def test_nan_and_wrong_size_are_contract_errors() -> None:
    vae = VAE(VAEConfig(obs_dim=3))
    bad = torch.zeros(2, 3)
    bad[1, 2] = float("nan")
    with pytest.raises(ContractError, match=re.escape("obs['obs'] contains NaN or inf")):
        vae.encode(bad)
    with pytest.raises(ContractError, match=re.escape("contract expects (B, 3) [VAE.encode]")):
        vae.encode(torch.zeros(2, 4))


def test_loss_components_and_training_on_real_data() -> None:
    data = spread_data()
    vae = VAE(VAEConfig(obs_dim=data.spec.joint_obs_size, latent_dim=24, width=64))
    result = fit(
        vae,
        data,
        window=8,
        window_stride=4,
        epochs=4,
        batch_size=32,
        seed=0,
        progress=False,
        threads=1,
    )
    history = result.history
    assert history[result.best_epoch - 1]["val"] < history[0]["train"]
    obs = concat_joint_obs(data[0].obs, data.spec)
    out = vae.loss(WorldModelInput(obs={"obs": obs}))
    assert set(out.components) == {"recon", "kl"}
    assert out.total.item() == pytest.approx(
        (out.components["recon"] + vae.config.beta * out.components["kl"]).item(), rel=0.2
    )
    # the normaliser was fitted on the data, so it is saved with the weights
    assert not torch.equal(vae.normalizer.std, torch.ones_like(vae.normalizer.std))


def test_save_load_round_trip(tmp_path) -> None:
    vae = VAE(VAEConfig(obs_dim=4, latent_dim=2))
    vae.normalizer.fit(torch.randn(10, 4) * 3 + 1)
    vae.save_pretrained(tmp_path)
    loaded = VAE.from_pretrained(tmp_path)
    obs = torch.randn(3, 4)
    a = vae.decode(vae.encode(obs, deterministic=True))["obs"]
    b = loaded.decode(loaded.encode(obs, deterministic=True))["obs"]
    assert torch.equal(a, b)
