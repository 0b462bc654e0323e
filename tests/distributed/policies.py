"""Policies that pool workers build by reference (importable on every worker)."""

from __future__ import annotations

import torch

from worldmodel_sdk import State


class LatentPolicy(torch.nn.Module):
    """Continuous actions in [-1, 1] from an `ExampleModel` state (``h`` and ``z``)."""

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(32 + 16, 2)

    def forward(self, state: State) -> torch.Tensor:
        return torch.tanh(self.head(torch.cat([state["h"], state["z"]], -1)))


def make_policy() -> LatentPolicy:
    return LatentPolicy()


def broken_factory() -> LatentPolicy:
    raise RuntimeError("no policy today")
