"""`VAE`: a β-VAE over vector observations, and the MLP pieces the reference models share.

The encoder maps a (normalised) observation to the mean and log-variance of a
Gaussian latent; the decoder maps a latent back to the observation. Inputs are
normalised with per-feature statistics held as buffers (so they are saved with
the weights); `VAE.prepare_for_training` fits them on the training data.
"""

from __future__ import annotations

from typing import ClassVar, Literal, final

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ..capabilities import Capability
from ..contract import IOContract, TensorSpec
from ..model import Obs, WorldModel
from ..payloads.condition import ConditionPayload
from ..payloads.outputs import LossOutput, ModelOutput, WorldModelInput
from ..payloads.state import State
from ..registry import register_model
from ..training import SearchDim

__all__ = ["Activation", "Normalizer", "VAE", "VAEConfig", "mlp"]

Activation = Literal["relu", "tanh", "elu"]
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


def mlp(inputs: int, outputs: int, *, depth: int, width: int, activation: Activation) -> nn.Module:
    """A multilayer perceptron with ``depth`` hidden layers of ``width`` units.

    Args:
        inputs: Input features.
        outputs: Output features.
        depth: Number of hidden layers (0 gives one linear layer).
        width: Units per hidden layer.
        activation: ``relu``, ``tanh`` or ``elu``.
    """
    layers: list[nn.Module] = []
    size = inputs
    for _ in range(depth):
        layers += [nn.Linear(size, width), _ACTIVATIONS[activation]()]
        size = width
    layers.append(nn.Linear(size, outputs))
    return nn.Sequential(*layers)


@final
class Normalizer(nn.Module):
    """Per-feature ``(x - mean) / std`` with statistics kept as buffers.

    Features that never vary (std below ``1e-6``) get a std of 1, so they pass
    through centred instead of exploding.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, size: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))

    def fit(self, values: torch.Tensor) -> None:
        """Set the statistics from ``values`` ``[..., size]``."""
        flat = values.detach().reshape(-1, values.shape[-1]).double()
        std = flat.std(dim=0, unbiased=False) if flat.shape[0] > 1 else torch.ones_like(flat[0])
        self.mean.copy_(flat.mean(dim=0).float())
        self.std.copy_(torch.where(std < 1e-6, torch.ones_like(std), std).float())

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """Normalise ``values``."""
        return (values - self.mean) / self.std

    def inverse(self, values: torch.Tensor) -> torch.Tensor:
        """Undo `forward`."""
        return values * self.std + self.mean


class VAEConfig(BaseModel):
    """Sizes and loss weight of `VAE`.

    Attributes:
        obs_dim: Length of the observation vector.
        latent_dim: Size of the latent ``z``.
        depth: Hidden layers of the encoder and of the decoder.
        width: Units per hidden layer.
        activation: ``relu``, ``tanh`` or ``elu``.
        beta: Weight of the KL term (β).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    obs_dim: int = Field(8, ge=1)
    latent_dim: int = Field(16, ge=1)
    depth: int = Field(2, ge=0)
    width: int = Field(128, ge=1)
    activation: Activation = "elu"
    beta: float = Field(1e-3, ge=0.0)

    search_space: ClassVar[dict[str, SearchDim]] = {
        "latent_dim": SearchDim(kind="int", low=8, high=64, log=True),
        "depth": SearchDim(kind="int", low=1, high=3),
        "width": SearchDim(kind="categorical", choices=(64, 128, 256)),
        "activation": SearchDim(kind="categorical", choices=("relu", "tanh", "elu")),
        "beta": SearchDim(kind="float", low=1e-4, high=1e-1, log=True),
    }


@final
@register_model("vae")
class VAE(WorldModel):
    """β-VAE over one vector observation ``obs``.

    ``encode`` gives ``State{"z"}`` (sampled, or the mean when ``deterministic``);
    ``decode`` gives ``{"obs": reconstruction}`` in observation units.

    Example:
        >>> vae = VAE(VAEConfig(obs_dim=18, latent_dim=8))
        >>> vae.decode(vae.encode(torch.zeros(4, 18), deterministic=True))["obs"].shape
        torch.Size([4, 18])
    """

    capabilities = frozenset({Capability.REPRESENTATION, Capability.OBS_DECODER})
    config_class = VAEConfig
    config: VAEConfig

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.normalizer = Normalizer(c.obs_dim)
        self.encoder = mlp(
            c.obs_dim, 2 * c.latent_dim, depth=c.depth, width=c.width, activation=c.activation
        )
        self.decoder = mlp(
            c.latent_dim, c.obs_dim, depth=c.depth, width=c.width, activation=c.activation
        )

    def io_contract(self) -> IOContract:
        """Observation ``obs`` ``(B, obs_dim)``, state ``z``, prediction ``obs``."""
        c = self.config
        return IOContract(
            observation={"obs": TensorSpec(shape=("B", c.obs_dim))},
            state={"z": TensorSpec(shape=("B", c.latent_dim))},
            prediction={"obs": TensorSpec(shape=("B", c.obs_dim))},
        )

    # -- normalised-space pieces, used by JOPM ---------------------------------------------

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``z`` given a normalised observation ``x``."""
        mean, logvar = self.encoder(x).chunk(2, dim=-1)
        return mean, logvar.clamp(-10.0, 5.0)

    def reconstruct(self, z: torch.Tensor) -> torch.Tensor:
        """Decode ``z`` to a normalised observation."""
        out: torch.Tensor = self.decoder(z)
        return out

    def elbo_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(reconstruction MSE, KL, latent mean)`` of normalised observations ``x``."""
        mean, logvar = self.posterior(x)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        recon = (self.reconstruct(z) - x).pow(2).mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).mean()
        return recon, kl, mean

    # -- protocol ---------------------------------------------------------------------------

    def _obs(self, obs: Obs) -> torch.Tensor:
        return obs if isinstance(obs, torch.Tensor) else obs["obs"]

    def encode(self, obs: Obs, deterministic: bool = False) -> State:
        """Encode observations ``[B, obs_dim]`` to ``State{"z"}``."""
        mean, logvar = self.posterior(self.normalizer(self._obs(obs)))
        if deterministic:
            return State({"z": mean})
        return State({"z": mean + torch.randn_like(mean) * (0.5 * logvar).exp()})

    def decode(self, state: State, conditions: ConditionPayload | None = None) -> ModelOutput:
        """Reconstruct observations from ``state["z"]``."""
        x = self.reconstruct(state["z"])
        return ModelOutput({"obs": self.normalizer.inverse(x)}, state)

    def prepare_for_training(self, batch: WorldModelInput) -> None:
        """Fit the input normaliser on the training batch's observations."""
        self.normalizer.fit(_obs_of(batch))

    def loss(self, batch: WorldModelInput) -> LossOutput:
        """Reconstruction MSE (normalised units) + β·KL over ``[B, obs_dim]`` or ``[B, T, ...]``."""
        x = self.normalizer(_obs_of(batch))
        recon, kl, _ = self.elbo_terms(x.reshape(-1, x.shape[-1]))
        total = recon + self.config.beta * kl
        return LossOutput(total=total, components={"recon": recon.detach(), "kl": kl.detach()})


def _obs_of(batch: WorldModelInput) -> torch.Tensor:
    return batch.obs if isinstance(batch.obs, torch.Tensor) else batch.obs["obs"]
