from __future__ import annotations

import re

import pytest
import torch

from worldmodel_sdk import ConditionPayload, ContractError, WorldModelInput
from worldmodel_sdk.data import read_traces, write_traces
from worldmodel_sdk.models import JOPM, RDLM, VAE, JOPMConfig, RDLMConfig, VAEConfig
from worldmodel_sdk.training import SearchDim, episodes_to_input, fit, optimize, select_input

from .models.helpers import spread_data


def vae_batch(size: int = 96) -> WorldModelInput:
    gen = torch.Generator().manual_seed(0)
    return WorldModelInput(
        obs={"obs": torch.randn(size, 6, generator=gen) @ torch.randn(6, 6, generator=gen)}
    )


def small_vae() -> VAE:
    return VAE(VAEConfig(obs_dim=6, latent_dim=3, width=16, depth=1))


def test_same_seed_gives_identical_weights() -> None:
    torch.manual_seed(1)
    a = small_vae()
    torch.manual_seed(1)
    b = small_vae()
    fit(a, vae_batch(), epochs=2, batch_size=16, seed=3, progress=False)
    fit(b, vae_batch(), epochs=2, batch_size=16, seed=3, progress=False)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_best_weights_are_restored_and_early_stopping_stops() -> None:
    model = small_vae()
    # a learning rate this large makes the validation loss bounce, so patience runs out
    result = fit(
        model, vae_batch(), epochs=30, batch_size=32, lr=0.5, patience=2, seed=0, progress=False
    )
    assert result.stopped_early and result.epochs_run < 30
    assert result.epochs_run - result.best_epoch == 2
    assert result.best_val_loss == min(h["val"] for h in result.history)
    assert not model.training
    # the restored weights reproduce the best epoch's validation loss
    val = torch.randperm(96, generator=torch.Generator().manual_seed(0))[:19]
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(0)
        again = model.loss(select_input(vae_batch(), val)).total.item()
    assert again == pytest.approx(result.best_val_loss, rel=1e-5)


@pytest.mark.parametrize("progress", ["rich", "tqdm"])
def test_progress_displays(progress) -> None:
    fit(small_vae(), vae_batch(), epochs=2, batch_size=32, seed=0, progress=progress)


def test_episodes_become_windows_shaped_by_the_contract() -> None:
    data = spread_data()
    vae = VAE(VAEConfig(obs_dim=54))
    batch = episodes_to_input(vae, data, window=8, stride=4)
    assert isinstance(batch.obs, dict) and batch.obs["obs"].shape == (len(data) * 5, 9, 54)
    rdlm = RDLM(RDLMConfig())
    with pytest.raises(
        ContractError, match=re.escape("fit: cannot build RDLM batches from an EpisodeDataset")
    ):
        fit(rdlm, data, progress=False)


def test_bad_options_and_data_are_contract_errors() -> None:
    with pytest.raises(
        ContractError,
        match=re.escape("fit: epochs, batch_size and patience must be >= 1; got 0, 64, 8"),
    ):
        fit(small_vae(), vae_batch(), epochs=0)
    bad = WorldModelInput(obs={"obs": torch.zeros(10, 5)})
    with pytest.raises(
        ContractError, match=re.escape("obs['obs'] has shape (8, 5); contract expects (B, 6)")
    ):
        fit(small_vae(), bad, progress=False)


def test_search_dims_validate() -> None:
    with pytest.raises(ValueError, match="a categorical SearchDim needs choices"):
        SearchDim(kind="categorical")
    with pytest.raises(ValueError, match="a int SearchDim needs low <= high; got 3.0, 1.0"):
        SearchDim(kind="int", low=3, high=1)
    assert set(VAEConfig.search_space) <= set(VAEConfig.model_fields)
    assert set(RDLMConfig.search_space) <= set(RDLMConfig.model_fields)


def test_optimize_searches_the_declared_space() -> None:
    pytest.importorskip("optuna")
    space = {
        "latent_dim": SearchDim(kind="int", low=2, high=4),
        "activation": VAEConfig.search_space["activation"],
    }
    base = VAEConfig(obs_dim=6, width=8, depth=1)
    result = optimize(VAE, base, vae_batch(), n_trials=2, space=space, epochs=1, batch_size=32)
    assert isinstance(result.best_config, VAEConfig)
    assert 2 <= result.best_config.latent_dim <= 4 and result.best_config.width == 8
    assert len(result.study.trials) == 2


def test_episodes_keep_team_rewards_and_continues() -> None:

    data = spread_data().subset([0, 1])
    model = JOPM(JOPMConfig.from_spec(data.spec))
    batch = episodes_to_input(model, data, window=4, stride=4)
    windows = data.windows(4, stride=4)
    assert batch.rewards is not None and batch.continues is not None
    team = torch.stack(list(windows.rewards.values())).mean(dim=0)
    assert batch.rewards.shape == (windows.size, 5)
    torch.testing.assert_close(batch.rewards[:, :4], team)
    # simple_spread only truncates: truncation is not termination, so every step continues
    assert torch.equal(batch.continues, torch.ones(windows.size, 5))
    model.validate_batch_contract(batch)


def test_traces_without_rewards_give_none(tmp_path) -> None:

    write_traces(spread_data().subset([0]), tmp_path, outcomes=False)
    data = read_traces(tmp_path, spec=spread_data().spec)
    batch = episodes_to_input(JOPM(JOPMConfig.from_spec(data.spec)), data, window=4)
    assert batch.rewards is None and batch.continues is None


def test_monitor_selects_the_epoch_and_defaults_to_the_prediction_objective() -> None:
    result = fit(small_vae(), vae_batch(), epochs=6, batch_size=32, lr=0.2, seed=0, progress=False)
    assert result.monitor == "total"
    result = fit(
        small_vae(),
        vae_batch(),
        epochs=6,
        batch_size=32,
        lr=0.2,
        seed=0,
        monitor="kl",
        progress=False,
    )
    kl = [h["val_kl"] for h in result.history]
    assert result.monitor == "kl" and [h["monitor"] for h in result.history] == kl
    assert result.best_val_loss == min(kl) and result.best_epoch == kl.index(min(kl)) + 1
    model = JOPM(JOPMConfig.from_spec(spread_data().spec, vae_width=16, rnn_hidden=16))
    result = fit(model, spread_data(), window=4, window_stride=4, epochs=1, progress=False)
    assert result.monitor == "prediction"
    assert result.history[0]["monitor"] == result.history[0]["val_prediction"]


def test_unknown_monitor_names_the_components() -> None:
    with pytest.raises(
        ContractError,
        match=re.escape(
            "fit: monitor 'one_step' is not a loss component of VAE; expected one of "
            "['total', 'recon', 'kl']"
        ),
    ):
        fit(small_vae(), vae_batch(), epochs=1, monitor="one_step", progress=False)


def test_time_budget_ends_training_after_the_current_minibatch() -> None:
    result = fit(
        small_vae(),
        vae_batch(),
        epochs=50,
        batch_size=8,
        time_budget=1e-6,
        seed=0,
        progress=False,
    )
    assert result.stop_reason == "time_budget" and result.epochs_run == 1
    assert result.stopped_early and result.best_epoch == 1
    with pytest.raises(
        ContractError, match=re.escape("fit: time_budget must be > 0 seconds or None; got 0")
    ):
        fit(small_vae(), vae_batch(), time_budget=0, progress=False)


def test_callbacks_log_to_csv_and_stop_training(tmp_path) -> None:
    from worldmodel_sdk.callbacks import CSVLogger, EarlyStopping

    path = tmp_path / "fit.csv"
    stopper = EarlyStopping("train", patience=1, min_delta=1e9)
    result = fit(
        small_vae(),
        vae_batch(),
        epochs=10,
        batch_size=32,
        seed=0,
        device="cpu",
        callbacks=[CSVLogger(path), stopper],
        progress=False,
    )
    assert result.stop_reason == "callback" and result.epochs_run == 2
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,train,val,monitor,val_recon,val_kl" and len(lines) == 3
    with pytest.raises(
        ContractError,
        match=re.escape("EarlyStopping: 'nope' is not in the epoch record; available: ["),
    ):
        fit(small_vae(), vae_batch(), epochs=1, callbacks=[EarlyStopping("nope")], progress=False)


def test_minibatches_and_the_validation_split_keep_each_rows_conditions() -> None:
    from .core.goal_models import GoalRSSM

    torch.manual_seed(0)
    goal = torch.arange(8.0).reshape(8, 1, 1).expand(8, 4, 2)
    batch = WorldModelInput(
        obs={"obs": goal[..., :1].expand(8, 4, 3).contiguous()},
        actions=torch.randint(4, (8, 4)),
        rewards=torch.randn(8, 4),
        continues=torch.ones(8, 4),
        conditions=ConditionPayload({"goal": goal.contiguous()}),
        sequence=True,
    )
    rows = select_input(batch, torch.tensor([5, 2]))
    assert rows.conditions is not None
    assert rows.conditions.tensors["goal"][:, 0, 0].tolist() == [5.0, 2.0]
    result = fit(GoalRSSM(), batch, epochs=1, batch_size=4, progress=False)
    assert result.epochs_run == 1
