"""`Ensemble`: contract, propagation modes, disagreement, bootstrap training, persistence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from worldmodel_sdk import (
    Capability,
    ContractError,
    IOContract,
    RegistryError,
    State,
    TensorSpec,
    WorldModelInput,
    create_model,
    load_pretrained,
)
from worldmodel_sdk.ensemble import WEIGHTS_KEY, Ensemble, EnsembleConfig
from worldmodel_sdk.models import JOPM, RDLM, VAE, ExampleModel
from worldmodel_sdk.training import fit

from .conformance.broken_uncertainty import Drift

SMALL = {"obs_dim": 4, "action_dim": 2, "latent_dim": 4, "hidden_dim": 8}


def ensemble(members: int = 3, **options: object) -> Ensemble:
    torch.manual_seed(0)
    config = EnsembleConfig(members=members, member=SMALL, **options)  # type: ignore[arg-type]
    return Ensemble.of(ExampleModel)(config).eval()


def member_outputs(model: Ensemble, state: State) -> dict[str, torch.Tensor]:
    outs = [m.decode(model.member_state(state, i)) for i, m in enumerate(model.members)]
    return {k: torch.stack([o[k] for o in outs]) for k in outs[0].predictions}


def test_one_class_per_member_class_with_the_members_capabilities() -> None:
    cls = Ensemble.of(ExampleModel)
    assert Ensemble.of(ExampleModel) is cls
    assert cls.__name__ == "Ensemble[ExampleModel]" and cls.model_type == "ensemble[example]"
    assert cls.capabilities == ExampleModel.capabilities | {Capability.EPISTEMIC_UNCERTAINTY}
    assert Ensemble.of(JOPM).fit_monitor == "prediction"  # type: ignore[attr-defined]
    assert not hasattr(cls, "fit_monitor")


def test_contract_adds_a_member_axis_and_a_disagreement_per_prediction() -> None:
    contract = ensemble().contract()
    assert {k: s.shape for k, s in contract.state.items()} == {
        "h": ("B", 3, 8),
        "z": ("B", 3, 4),
        WEIGHTS_KEY: ("B", 3),
    }
    assert {k: s.shape for k, s in contract.prediction.items()} == {
        "obs": ("B", 4),
        "reward": ("B", 1),
        "obs.disagreement": ("B", 4),
        "reward.disagreement": ("B", 1),
    }
    inner = ExampleModel(SMALL).contract()
    for field in IOContract.model_fields:
        if field not in ("state", "prediction"):
            assert getattr(contract, field) == getattr(inner, field), field


def test_disagreement_is_the_variance_across_members() -> None:
    model = ensemble(propagation="mean")
    with torch.no_grad():
        state = model.transition(model.encode(torch.randn(5, 4), True), torch.randn(5, 2), None)
        out = model.decode(state)
        each = member_outputs(model, state)
    for key, stack in each.items():
        torch.testing.assert_close(out[key], stack.mean(0))
        torch.testing.assert_close(out[f"{key}.disagreement"], stack.var(0, unbiased=False))
        assert bool((out[f"{key}.disagreement"] > 0).all())


def test_fixed_keeps_one_member_per_row_and_reports_its_prediction_exactly() -> None:
    model = ensemble(members=4, propagation="fixed")
    torch.manual_seed(1)
    with torch.no_grad():
        state = model.encode(torch.randn(6, 4))
        weights = state[WEIGHTS_KEY]
        assert torch.equal(weights.sum(1), torch.ones(6)) and set(weights.unique().tolist()) == {
            0.0,
            1.0,
        }
        traj = model.rollout(state, torch.randn(3, 6, 2))
        chosen = weights.argmax(1)
        for t, step in enumerate(traj.states[1:]):
            assert torch.equal(step[WEIGHTS_KEY], weights)
            each = member_outputs(model, step)["obs"]
            assert torch.equal(traj.predictions["obs"][t], each[chosen, torch.arange(6)])
    assert traj.predictions is not None and traj.predictions["obs.disagreement"].shape == (3, 6, 4)
    assert traj.rewards is not None and traj.rewards.shape == (3, 6)


def test_random_draws_a_member_per_row_at_every_step_unless_deterministic() -> None:
    model = ensemble(members=4, propagation="random")
    torch.manual_seed(2)
    with torch.no_grad():
        state = model.encode(torch.randn(16, 4))
        picks = [state[WEIGHTS_KEY].argmax(1)]
        for _ in range(3):
            state = model.transition(state, torch.randn(16, 2))
            picks.append(state[WEIGHTS_KEY].argmax(1))
        kept = model.transition(state, torch.randn(16, 2), deterministic=True)
    assert any(not torch.equal(picks[0], p) for p in picks[1:])
    assert set(torch.cat(picks).tolist()) == {0, 1, 2, 3}
    assert torch.equal(kept[WEIGHTS_KEY], state[WEIGHTS_KEY])


@pytest.mark.parametrize("propagation", ["random", "fixed", "mean"])
def test_deterministic_calls_draw_nothing_and_repeat(propagation: str) -> None:
    model = ensemble(propagation=propagation)
    obs, actions = torch.randn(4, 4), torch.randn(3, 4, 2)
    runs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        with torch.no_grad():
            state = model.encode(obs, deterministic=True)
            runs.append(model.rollout(state, actions, deterministic=True))
    assert torch.equal(runs[0].states[0][WEIGHTS_KEY], torch.full((4, 3), 1 / 3))
    for key, value in runs[0].predictions.items():  # type: ignore[union-attr]
        assert torch.equal(runs[1].predictions[key], value)  # type: ignore[index]


def test_mean_mode_never_draws() -> None:
    model = ensemble(propagation="mean")
    with torch.no_grad():
        state = model.transition(model.encode(torch.randn(2, 4)), torch.randn(2, 2))
    assert torch.equal(state[WEIGHTS_KEY], torch.full((2, 3), 1 / 3))


def sequence_batch(size: int = 6, steps: int = 4) -> WorldModelInput:
    torch.manual_seed(3)
    return WorldModelInput(
        obs={"obs": torch.randn(size, steps, 4)},
        actions=torch.randn(size, steps, 2),
        rewards=torch.randn(size, steps),
        sequence=True,
    )


def test_training_loss_is_the_mean_of_member_losses_on_bootstrap_resamples() -> None:
    model, batch = ensemble(), sequence_batch()
    model.train()
    torch.manual_seed(7)
    got = model.loss(batch)
    torch.manual_seed(7)
    parts = []
    for member in model.members:
        index = torch.randint(6, (6,))
        rows = WorldModelInput(
            obs={"obs": batch.obs["obs"][index]},  # type: ignore[index]
            actions=batch.actions[index],  # type: ignore[index]
            rewards=batch.rewards[index],  # type: ignore[index]
            sequence=True,
        )
        parts.append(member.loss(rows))
    torch.testing.assert_close(got.total, torch.stack([p.total for p in parts]).mean())
    assert sorted(got.components) == ["obs", "reward"]
    torch.testing.assert_close(
        got.components["obs"], torch.stack([p.components["obs"] for p in parts]).mean()
    )


def test_evaluation_and_unbootstrapped_training_use_the_whole_batch() -> None:
    model, batch = ensemble(), sequence_batch()
    whole = torch.stack([m.loss(batch).total for m in model.members]).mean()
    torch.testing.assert_close(model.loss(batch).total, whole)
    plain = ensemble(bootstrap=False).train()
    torch.testing.assert_close(plain.loss(batch).total, whole)


def test_fit_prepares_every_member_and_trains_them_apart() -> None:
    torch.manual_seed(0)
    model = Ensemble.of(VAE)({"members": 2, "member": {"obs_dim": 3, "latent_dim": 2}})
    obs = torch.randn(40, 3) * 5 + 2
    result = fit(model, WorldModelInput(obs={"obs": obs}), epochs=2, batch_size=8, progress=False)
    assert result.epochs_run == 2
    for member in model.members:
        assert float(member.normalizer.mean.mean()) > 1.0  # fitted, not the default zeros
    with torch.no_grad():
        out = model.decode(model.encode(obs[:4], deterministic=True))
    assert bool((out["obs.disagreement"] > 0).any())


def test_saves_and_loads_through_the_registry(tmp_path: Path) -> None:
    model = ensemble(members=2, propagation="fixed")
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert type(loaded) is type(model) and loaded.config == model.config
    assert loaded.config.member == ExampleModel(SMALL).config.model_dump(mode="json")
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    built = create_model("ensemble[example]", members=2, member=SMALL)
    assert type(built) is type(model) and built.config.propagation == "random"


def test_unknown_or_unfit_members_are_registry_errors() -> None:
    with pytest.raises(RegistryError, match=re.escape("unknown model 'exampel'; registered:")):
        create_model("ensemble[exampel]")
    with pytest.raises(
        RegistryError,
        match=re.escape(
            "model 'ensemble[rdlm]' cannot be built: Ensemble.of(RDLM): the members must decode"
        ),
    ):
        create_model("ensemble[rdlm]")


def test_bad_configs_and_classes_are_refused() -> None:
    cls = Ensemble.of(ExampleModel)
    with pytest.raises(ContractError, match=re.escape("invalid EnsembleConfig for Ensemble[")):
        cls({"members": 1})
    with pytest.raises(ContractError, match=re.escape("invalid ExampleConfig for ExampleModel")):
        cls({"member": {"obs_dim": 0}})
    with pytest.raises(TypeError, match=re.escape("use Ensemble.of(ModelClass)(config)")):
        Ensemble()
    with pytest.raises(TypeError, match=re.escape("Ensemble.of(RDLM): the members must decode")):
        Ensemble.of(RDLM)
    with pytest.raises(TypeError, match=re.escape("members cannot be ensembles")):
        Ensemble.of(cls)


def test_a_row_state_that_does_not_fit_names_the_ensemble() -> None:
    model = ensemble()
    state = model.encode(torch.randn(2, 4))
    wrong = state.replace(**{WEIGHTS_KEY: torch.ones(2, 5)})
    with pytest.raises(
        ContractError,
        match=re.escape(
            "State['member_weights'] has shape (2, 5); contract expects (B, 3) "
            "[Ensemble[ExampleModel].decode]"
        ),
    ):
        model.decode(wrong)


def test_training_shrinks_disagreement_on_the_data_more_than_away_from_it() -> None:
    torch.manual_seed(0)
    member = {"obs_dim": 4, "action_dim": 2, "latent_dim": 4, "hidden_dim": 8}
    model = Ensemble.of(ExampleModel)({"members": 3, "member": member})
    obs, actions = torch.randn(48, 4, 4) * 0.5, torch.randn(48, 4, 2)
    for t in range(3):  # a linear system the members can learn
        obs[:, t + 1] = 0.9 * obs[:, t] + 0.2 * actions[:, t].repeat(1, 2)

    def spread(scale: float) -> float:
        with torch.no_grad():
            state = model.encode(obs[:, 0] * scale, deterministic=True)
            state = model.transition(state, actions[:, 0] * scale, deterministic=True)
            return float(model.decode(state)["obs.disagreement"].mean())

    before = spread(1.0)
    batch = WorldModelInput(obs={"obs": obs}, actions=actions, sequence=True)
    fit(model, batch, epochs=10, batch_size=16, lr=1e-2, progress=False)
    on_data, away = spread(1.0), spread(5.0)
    assert on_data < before / 2
    assert away > 3 * on_data


@pytest.mark.parametrize("propagation", ["random", "fixed"])
def test_shared_state_steps_every_member_from_the_rows_chosen_member(propagation: str) -> None:
    torch.manual_seed(4)
    model = Ensemble.of(Drift)({"members": 3, "propagation": propagation, "share_state": True})
    with torch.no_grad():
        traj = model.rollout(model.encode(torch.randn(5, 3)), torch.randn(4, 5, 2))
        rows = torch.arange(5)
        for t in range(1, 4):
            state, nxt = traj.states[t], traj.states[t + 1]
            chosen = state[WEIGHTS_KEY].argmax(1)
            start = State({"x": state["x"][rows, chosen]})
            for i, member in enumerate(model.members):
                want = member.transition(start, traj.actions[t])["x"]
                assert torch.equal(nxt["x"][:, i], want)
            each = member_outputs(model, nxt)["obs"]  # one-step predictions from one start
            torch.testing.assert_close(
                traj.predictions["obs.disagreement"][t], each.var(0, unbiased=False)
            )


def test_shared_state_in_mean_mode_steps_from_the_members_mean() -> None:
    torch.manual_seed(5)
    model = Ensemble.of(Drift)({"members": 2, "propagation": "mean", "share_state": True})
    with torch.no_grad():
        state = model.transition(model.encode(torch.randn(2, 3)), torch.randn(2, 2))
        action = torch.randn(2, 2)
        nxt = model.transition(state, action)
        start = State({"x": (state["x"] * 0.5).sum(1)})
        for i, member in enumerate(model.members):
            assert torch.equal(nxt["x"][:, i], member.transition(start, action)["x"])


def test_shared_state_needs_floating_states() -> None:
    class Counting(Drift):
        def io_contract(self) -> IOContract:
            base = super().io_contract()
            state = {**base.state, "steps": TensorSpec(shape=("B",), dtype="int64")}
            return base.model_copy(update={"state": state})

    with pytest.raises(
        ContractError,
        match=re.escape(
            "State['steps'] of Counting is int64; share_state combines the members' states, "
            "which must be floating [Ensemble[Counting].io_contract]"
        ),
    ):
        Ensemble.of(Counting)({"share_state": True})
