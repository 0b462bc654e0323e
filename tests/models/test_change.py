from __future__ import annotations

import torch

from worldmodel_sdk.models.change import ChangeDecoder


def test_linear_part_is_the_least_squares_fit_and_the_mlp_starts_near_zero() -> None:
    torch.manual_seed(0)
    weight, bias = torch.randn(3, 6), torch.randn(3)
    inputs = torch.randn(500, 6)
    decoder = ChangeDecoder(6, 4, 3, depth=2, width=16, activation="elu")
    decoder.fit_linear(inputs, inputs @ weight.T + bias, ridge=0.0)
    torch.testing.assert_close(decoder.linear.weight, weight, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(decoder.linear.bias, bias, atol=1e-4, rtol=1e-4)
    features = torch.randn(500, 4)
    residual = decoder(inputs, features) - (inputs @ weight.T + bias)
    assert 0 < residual.abs().max() < 0.05  # the MLP's share, small before training


def test_ridge_shrinks_the_weights() -> None:
    torch.manual_seed(1)
    inputs = torch.randn(200, 4)
    target = inputs @ torch.randn(4, 2)
    plain, shrunk = (ChangeDecoder(4, 1, 2, depth=1, width=8, activation="elu") for _ in range(2))
    plain.fit_linear(inputs, target, ridge=0.0)
    shrunk.fit_linear(inputs, target, ridge=1.0)
    assert shrunk.linear.weight.norm() < 0.7 * plain.linear.weight.norm()
