"""`ChangeDecoder`: JOPM's decoder of the next observation change.

It predicts the change ``x_{t+1} - x_t`` of the normalised joint observation, in
units of each feature's typical one-step change, as the sum of

- a linear map of the observable history ``[x_t, last change, last action, action]``,
  fitted by ridge regression on the training data before gradient training starts
  (`fit_linear`): the linear part of rigid-body dynamics, found in one solve;
- an MLP over the same inputs and the model's latent features (the latent before and
  after the step and the recurrent memory), which starts near zero and learns what the
  linear part misses (collisions, contacts, anything the memory must recall).

Both start near zero (their default initialisation scaled by 0.01): before
`fit_linear` and training, the decoder predicts small changes, so that an untrained
model's rollouts stay bounded yet still depend on the action and the history.
"""

from __future__ import annotations

from typing import final

import torch
from torch import nn

from .vae import Activation, mlp

__all__ = ["ChangeDecoder"]

_START_SCALE = 0.01


@final
class ChangeDecoder(nn.Module):
    """``linear(observable) + mlp(observable, latent features)``, in scaled change units.

    Args:
        observable: Size of ``[x, last change, last action, action]``.
        features: Size of the latent features the MLP also reads.
        outputs: Size of the change (the joint observation).
        depth: Hidden layers of the MLP.
        width: Units per hidden layer.
        activation: ``relu``, ``tanh`` or ``elu``.
    """

    def __init__(
        self,
        observable: int,
        features: int,
        outputs: int,
        *,
        depth: int,
        width: int,
        activation: Activation,
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(observable, outputs)
        self.mlp = mlp(
            observable + features, outputs, depth=depth, width=width, activation=activation
        )
        last = list(self.mlp.modules())[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():  # small at first: untrained rollouts neither diverge nor freeze
            for layer in (self.linear, last):
                layer.weight.mul_(_START_SCALE)
                layer.bias.mul_(_START_SCALE)

    def forward(self, observable: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """The scaled change ``[B, outputs]``."""
        both = torch.cat([observable, features], dim=-1)
        out: torch.Tensor = self.linear(observable) + self.mlp(both)
        return out

    @torch.no_grad()
    def fit_linear(self, observable: torch.Tensor, change: torch.Tensor, ridge: float) -> None:
        """Set the linear part to the ridge regression of ``change`` on ``observable``.

        Args:
            observable: ``[N, observable]`` inputs.
            change: ``[N, outputs]`` scaled changes.
            ridge: L2 penalty on the weights (not the bias), relative to ``N``.
        """
        inputs = observable.double()
        mean_in, mean_out = inputs.mean(0), change.double().mean(0)
        centred = inputs - mean_in
        gram = centred.T @ centred
        gram += ridge * len(inputs) * torch.eye(gram.shape[0], dtype=gram.dtype)
        weight = torch.linalg.solve(gram, centred.T @ (change.double() - mean_out))
        self.linear.weight.copy_(weight.T.float())
        self.linear.bias.copy_((mean_out - mean_in @ weight).float())
