import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from worldmodel_sdk import (
    Capability,
    ContractError,
    IOContract,
    LossOutput,
    SerializationError,
    State,
    TensorSpec,
    WorldModel,
    load_pretrained,
    register_model,
)
from worldmodel_sdk._contract_diff import fingerprint_of
from worldmodel_sdk.models import ExampleConfig, ExampleModel
from worldmodel_sdk.registry import unregister_model


@pytest.fixture
def saved(tmp_path) -> tuple[ExampleModel, Path]:
    torch.manual_seed(0)
    model = ExampleModel(ExampleConfig(obs_dim=5))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # trained weights differ from any fresh initialisation
    model.save_pretrained(tmp_path / "m")
    return model, tmp_path / "m"


def test_layout_and_config_record(saved):
    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    record = json.loads((path / "config.json").read_text())
    assert record["model_type"] == "example"
    assert record["config"] == {"obs_dim": 5, "action_dim": 2, "latent_dim": 16, "hidden_dim": 32}
    assert record["contract_fingerprint"] == model.contract_fingerprint()
    assert record["capabilities"] == sorted(c.value for c in ExampleModel.capabilities)
    assert record["api_version"] == "v0.2" and record["sdk_version"]
    assert re.fullmatch(r"[0-9a-f]{64}", record["weights_sha256"])


def test_round_trip_gives_identical_outputs(saved):
    model, path = saved
    for loaded in (ExampleModel.from_pretrained(path), load_pretrained(path)):
        assert isinstance(loaded, ExampleModel) and not loaded.training
        obs, actions = torch.randn(3, 5), torch.randn(4, 3, 2)
        a = model.rollout(model.encode(obs, True), actions, deterministic=True)
        b = loaded.rollout(loaded.encode(obs, True), actions, deterministic=True)
        assert torch.equal(a.stacked("z"), b.stacked("z")) and torch.equal(a.rewards, b.rewards)


def test_model_type_mismatch_shows_both(saved, tmp_path):
    _, path = saved

    class Other(ExampleModel.__mro__[1]):  # a WorldModel subclass with another type
        capabilities = frozenset({Capability.REPRESENTATION})

        def io_contract(self):
            return IOContract(observation={"obs": TensorSpec(shape=("B", 1))})

        def encode(self, obs, deterministic=False):
            return State({"z": obs})

        def loss(self, batch):
            return LossOutput(total=torch.zeros(()))

    with pytest.raises(
        ContractError, match=re.escape("holds model type 'example'; Other has model type 'other'")
    ):
        Other.from_pretrained(path)


def _edit_config(path: Path, edit) -> None:
    record = json.loads((path / "config.json").read_text())
    edit(record)
    (path / "config.json").write_text(json.dumps(record))


def test_config_records_the_canonical_contract(saved):
    model, path = saved
    record = json.loads((path / "config.json").read_text())
    assert record["contract"] == json.loads(model.contract().canonical_json())
    assert fingerprint_of(record["contract"]) == record["contract_fingerprint"]


def test_changed_contract_shows_what_differs(saved):
    model, path = saved

    def older_class(record):  # as if saved by a version of the class with another contract
        record["contract"]["state"]["h"]["shape"] = ["B", 64]
        del record["contract"]["prediction"]["reward"]
        record["contract_fingerprint"] = fingerprint_of(record["contract"])

    _edit_config(path, older_class)
    stored = json.loads((path / "config.json").read_text())["contract_fingerprint"]
    message = (
        f"contract fingerprint mismatch for ExampleModel: saved {stored}, this class declares "
        f"{model.contract_fingerprint()}, saved vs declared:\n"
        '  prediction.reward: saved (absent: default), declared {"shape": ["B", 1]}\n'
        '  state.h.shape: saved ["B", 64], declared ["B", 32]'
    )
    with pytest.raises(ContractError, match=f"^{re.escape(message)}$"):
        load_pretrained(path)


def test_edited_fingerprint_reads_as_a_damaged_file(saved):
    model, path = saved
    _edit_config(path, lambda r: r.update(contract_fingerprint="wmc1:" + "0" * 64))
    with pytest.raises(
        SerializationError,
        match=re.escape(
            f"{path / 'config.json'} was edited or damaged: its contract_fingerprint "
            f"wmc1:{'0' * 64} is not the fingerprint of its saved contract "
            f"({model.contract_fingerprint()}); the saved contract is the one ExampleModel "
            "declares"
        ),
    ):
        load_pretrained(path)


def test_edited_contract_reads_as_a_damaged_file_and_shows_the_edit(saved):
    model, path = saved
    _edit_config(path, lambda r: r["contract"]["observation"]["obs"].update(dtype="float64"))
    with pytest.raises(
        SerializationError,
        match=re.escape(
            f"({fingerprint_of(json.loads((path / 'config.json').read_text())['contract'])}); "
            "saved contract vs ExampleModel, saved vs declared:\n"
            '  observation.obs.dtype: saved "float64", declared (absent: default)'
        ),
    ):
        load_pretrained(path)
    _edit_config(path, lambda r: r.update(contract=["not", "an", "object"]))
    with pytest.raises(
        SerializationError, match=re.escape("'contract' must be a JSON object; got list")
    ):
        load_pretrained(path)


def test_saves_without_a_recorded_contract_still_load_and_explain(saved):
    model, path = saved
    _edit_config(path, lambda r: r.pop("contract"))
    assert isinstance(load_pretrained(path), ExampleModel)
    _edit_config(path, lambda r: r.update(contract_fingerprint="wmc1:" + "0" * 64))
    with pytest.raises(
        ContractError,
        match=re.escape(
            f"saved wmc1:{'0' * 64}, this class declares {model.contract_fingerprint()}; "
            f"{path / 'config.json'} predates recorded contracts, so the differing keys cannot "
            "be shown (save the model again to record them)"
        ),
    ):
        load_pretrained(path)


def _drop_digest(path: Path) -> None:
    """Remove the recorded weights digest, so the safetensors checks themselves are exercised."""
    record = json.loads((path / "config.json").read_text())
    del record["weights_sha256"]
    (path / "config.json").write_text(json.dumps(record))


@pytest.mark.parametrize("cut", [0, 7, 100, -1])
def test_truncated_weights_are_refused(saved, cut):
    _, path = saved
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[:cut] if cut >= 0 else data[: len(data) // 2])
    with pytest.raises(
        SerializationError, match="does not match the SHA-256 recorded in config.json"
    ):
        load_pretrained(path)
    _drop_digest(path)
    with pytest.raises(SerializationError, match="is not a valid safetensors file"):
        load_pretrained(path)


def test_corrupt_header_is_refused(saved):
    _, path = saved
    _drop_digest(path)
    data = bytearray((path / "model.safetensors").read_bytes())
    data[8:20] = b"\xff" * 12
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="is not a valid safetensors file"):
        load_pretrained(path)


def test_weights_from_another_save_are_refused(saved, tmp_path):
    model, path = saved
    with torch.no_grad():
        model.obs_head.bias.add_(1.0)
    model.save_pretrained(tmp_path / "later")
    (path / "model.safetensors").write_bytes(
        (tmp_path / "later" / "model.safetensors").read_bytes()
    )
    with pytest.raises(
        SerializationError, match="the weights were changed or come from another save"
    ):
        load_pretrained(path)


def test_pickle_payload_is_refused_not_executed(saved, tmp_path):
    _, path = saved
    marker = tmp_path / "pwned"
    # A pickle that would create a file when unpickled: must never run.
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    (path / "model.safetensors").write_bytes(payload)
    _drop_digest(path)
    with pytest.raises(SerializationError, match="is not a valid safetensors file"):
        load_pretrained(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{not json",
            "config.json: not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2)",
        ),
        ("[" * 100000, "config.json: JSON nested too deeply to decode"),
        ("1" * 5000, "config.json: JSON value out of range"),
        ("[1, 2]", "must hold a JSON object; got list"),
        (
            '{"format": "worldmodel-sdk/pretrained-v1"}',
            "lacks fields ['model_type', 'config', 'contract_fingerprint']",
        ),
    ],
)
def test_bad_config_json(saved, text, message):
    _, path = saved
    (path / "config.json").write_text(text)
    with pytest.raises(SerializationError, match=re.escape(message)):
        load_pretrained(path)


def test_wrong_format_and_missing_dir(saved, tmp_path):
    _, path = saved
    record = json.loads((path / "config.json").read_text())
    record["format"] = "other/1"
    (path / "config.json").write_text(json.dumps(record))
    with pytest.raises(
        SerializationError,
        match=re.escape("has format 'other/1'; expected 'worldmodel-sdk/pretrained-v1'"),
    ):
        load_pretrained(path)
    with pytest.raises(SerializationError, match="not found: not a saved model directory"):
        load_pretrained(tmp_path / "nowhere")


def test_config_that_does_not_fit_is_refused(saved):
    _, path = saved
    record = json.loads((path / "config.json").read_text())
    record["config"]["obs_dim"] = -3
    (path / "config.json").write_text(json.dumps(record))
    with pytest.raises(SerializationError, match="config.json 'config' does not fit ExampleModel"):
        load_pretrained(path)


def test_weights_of_wrong_shape_are_refused(saved, tmp_path):
    _, path = saved
    other = ExampleModel(ExampleConfig(obs_dim=5, hidden_dim=8))
    other.save_pretrained(tmp_path / "other")
    (path / "model.safetensors").write_bytes(
        (tmp_path / "other" / "model.safetensors").read_bytes()
    )
    _drop_digest(path)
    with pytest.raises(
        SerializationError,
        match=re.escape(
            "tensor 'cell.bias_hh' is torch.float32 (24,); the model expects torch.float32 (96,)"
        ),
    ):
        load_pretrained(path)


def test_failed_save_keeps_previous_files(saved, monkeypatch):
    model, path = saved
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    import worldmodel_sdk.persistence as persistence

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(persistence, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(path)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before


def test_tied_weights_and_buffers_round_trip(tmp_path):
    @register_model("tied-test")
    class Tied(WorldModel):
        capabilities = frozenset({Capability.REPRESENTATION})

        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 3)
            self.b.weight = self.a.weight
            self.register_buffer("running", torch.zeros(3))

        def io_contract(self):
            return IOContract(observation={"obs": TensorSpec(shape=("B", 3))})

        def encode(self, obs, deterministic=False):
            x = obs if isinstance(obs, torch.Tensor) else obs["obs"]
            return State({"z": self.b(self.a(x)) + self.running})

        def loss(self, batch):
            return LossOutput(total=torch.zeros(()))

    try:
        m = Tied()
        m.running.fill_(2.5)
        m.save_pretrained(tmp_path / "t")
        loaded = load_pretrained(tmp_path / "t")
        assert torch.equal(loaded.running, m.running)
        x = torch.randn(2, 3)
        assert torch.equal(loaded.encode(x)["z"], m.encode(x)["z"])
    finally:
        unregister_model("tied-test")
