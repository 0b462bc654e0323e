"""Simple learned baselines for `worldmodel_sdk.evaluation.evaluate`.

`DeltaMLP` is the strongest simple baseline of next-observation prediction on
vector observations: an MLP that predicts the joint observation's change from the
joint observation and the one-hot joint action (with ``history=True``, also from
the previous change and the previous action). A world model that does not beat it
on held-out episodes does not earn its structure.

Example:
    ```python
    mlp = DeltaMLP(train.spec, history=True)
    mlp.fit(train, budget=60.0)
    errors = evaluate(held_out, {"JOPM": model, "mlp+hist": mlp}, horizon=5)
    ```
"""

from __future__ import annotations

import time
from typing import final

import torch
from torch import nn

from .data.dataset import EpisodeDataset
from .data.episode import Episode
from .data.joint import concat_joint_obs, encode_joint_action
from .data.spec import DatasetSpec
from .errors import ContractError
from .evaluation import Predictor

__all__ = ["DeltaMLP"]


@final
class DeltaMLP(Predictor):
    """Predicts the joint observation change; with ``history``, from the previous one too.

    Inputs are standardised per feature and the change is predicted in units of
    each feature's standard deviation; the open-loop rollouts of `rollouts` feed
    the model its own changes.

    Args:
        spec: The agents (observation sizes and action spaces).
        history: Also read the previous change and the previous joint action.
        width: Units of each of the two hidden layers.
    """

    def __init__(self, spec: DatasetSpec, *, history: bool, width: int = 256) -> None:
        self.spec, self.history = spec, history
        d, a = spec.joint_obs_size, spec.joint_action_size
        inputs = (2 * d + 2 * a) if history else d + a
        self.net = nn.Sequential(
            nn.Linear(inputs, width), nn.ELU(), nn.Linear(width, width), nn.ELU(),
            nn.Linear(width, d),
        )  # fmt: skip
        self.mean, self.std = torch.zeros(d), torch.ones(d)
        self.delta_std = torch.ones(d)

    def _inputs(
        self, x: torch.Tensor, a: torch.Tensor, dx_prev: torch.Tensor, a_prev: torch.Tensor
    ) -> torch.Tensor:
        parts = [(x - self.mean) / self.std, a]
        if self.history:
            parts += [dx_prev / self.delta_std, a_prev]
        return torch.cat(parts, dim=-1)

    def _episode_tensors(self, episode: Episode) -> tuple[torch.Tensor, ...]:
        x = concat_joint_obs(episode.obs, self.spec)  # [T+1, D]
        a = encode_joint_action(episode.actions, self.spec)  # [T, A]
        dx = x[1:] - x[:-1]
        dx_prev = torch.cat([torch.zeros_like(dx[:1]), dx[:-1]])
        a_prev = torch.cat([torch.zeros_like(a[:1]), a[:-1]])
        return x[:-1], a, dx_prev, a_prev, dx

    def _rows(self, data: EpisodeDataset) -> list[torch.Tensor]:
        return [torch.cat(p) for p in zip(*map(self._episode_tensors, data), strict=True)]

    def fit(
        self,
        data: EpisodeDataset,
        *,
        budget: float = 60.0,
        seed: int = 0,
        patience: int = 8,
        lr: float = 1e-3,
    ) -> float:
        """Train with Adam, keeping the best epoch on 20% of the episodes held out.

        Args:
            data: Training episodes.
            budget: Wall-clock seconds at most.
            seed: Seeds the split, the initial weights and the shuffling.
            patience: Stop after this many epochs without a better held-out loss.
            lr: Adam learning rate.

        Returns:
            The training time in seconds.

        Raises:
            ContractError: if ``data``'s agents differ from the spec's.
        """
        if data.spec != self.spec:
            raise ContractError(
                f"DeltaMLP.fit: the data's agents {data.spec.agent_names} differ from the "
                f"baseline's {self.spec.agent_names}"
            )
        started = time.perf_counter()
        torch.manual_seed(seed)
        train, val = data.split(val_fraction=0.2, seed=seed)
        rows, vrows = self._rows(train), self._rows(val)
        self.mean, self.std = rows[0].mean(0), rows[0].std(0).clamp_min(1e-6)
        self.delta_std = rows[4].std(0).clamp_min(1e-6)
        optimiser = torch.optim.Adam(self.net.parameters(), lr=lr)
        best, state, waited = float("inf"), self._snapshot(), 0
        while time.perf_counter() - started < budget and waited < patience:
            for index in torch.split(torch.randperm(len(rows[0])), 64):
                pred = self.net(self._inputs(*(r[index] for r in rows[:4])))
                loss = ((pred - rows[4][index] / self.delta_std) ** 2).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            with torch.no_grad():
                pred = self.net(self._inputs(*vrows[:4]))
                val_loss = float(((pred - vrows[4] / self.delta_std) ** 2).mean())
            if val_loss < best:
                best, state, waited = val_loss, self._snapshot(), 0
            else:
                waited += 1
        self.net.load_state_dict(state)
        return time.perf_counter() - started

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.net.state_dict().items()}

    @torch.no_grad()
    def rollouts(self, episode: Episode, spec: DatasetSpec, horizon: int) -> torch.Tensor:
        """Open loop from every step: the model's own changes feed the next step."""
        x, a, dx_prev, a_prev, _ = self._episode_tensors(episode)
        steps = x.shape[0]
        a_all = torch.cat([a, a[-1:].expand(horizon, -1)])  # past the end: any action
        preds = []
        for k in range(horizon):
            index = (torch.arange(steps) + k).clamp_max(len(a_all) - 1)
            dx = self.net(self._inputs(x, a_all[index], dx_prev, a_prev)) * self.delta_std
            x, dx_prev, a_prev = x + dx, dx, a_all[index]
            preds.append(x)
        return torch.stack(preds, dim=1)
