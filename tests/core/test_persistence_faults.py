"""save_pretrained under kills and I/O errors: a failed save leaves the previous one loadable."""

import errno
import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
import torch

import worldmodel_sdk._atomic as atomic
import worldmodel_sdk.persistence as persistence
from worldmodel_sdk import Capability, ContractError, SerializationError, load_pretrained
from worldmodel_sdk.models import ExampleConfig, ExampleModel

# Every step of a save that touches the file system goes through one of these.
OS_STEPS = ("open", "close", "fsync", "mkdir", "rename", "link", "symlink", "unlink", "rmdir",
            "scandir")  # fmt: skip
MAX_KILL_POINTS = 24


def _model(shift: float) -> ExampleModel:
    torch.manual_seed(0)
    model = ExampleModel(ExampleConfig(obs_dim=3, latent_dim=2, hidden_dim=4))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(shift)
    return model


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> bool:
    state = model.state_dict()
    return state.keys() == weights.keys() and all(torch.equal(state[k], weights[k]) for k in state)


class Steps:
    """Counts the file-system steps of a save and acts at step ``at`` (never, if 0)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: int, action) -> None:
        self.count, self.at, self.action = 0, at, action
        for name in OS_STEPS:
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name)))
        monkeypatch.setattr(atomic, "_exchange", self._wrap(atomic._exchange))
        monkeypatch.setattr(persistence, "save_file", self._wrap(persistence.save_file))
        monkeypatch.setattr(Path, "write_text", self._wrap(Path.write_text))

    def _wrap(self, function):
        def step(*args, **kwargs):
            self.count += 1
            if self.count == self.at:
                self.action()
            return function(*args, **kwargs)

        return step


@pytest.fixture
def previous(tmp_path) -> tuple[Path, dict[str, torch.Tensor], ExampleModel]:
    """A directory holding a save of one model (plus a user's own file), and a newer model."""
    path = tmp_path / "m"
    _model(1.0).save_pretrained(path)
    (path / "README.md").write_text("notes kept beside the weights")
    return path, _weights(_model(1.0)), _model(2.0)


def _count_steps(monkeypatch, model, path, tmp_path) -> int:
    """Steps of a save over a copy of ``path``."""
    shutil.copytree(path, tmp_path / "dry-run")
    steps = Steps(monkeypatch, 0, lambda: None)
    model.save_pretrained(tmp_path / "dry-run")
    monkeypatch.undo()
    shutil.rmtree(tmp_path / "dry-run")
    return steps.count


def _kill_points(total: int) -> list[int]:
    if total <= MAX_KILL_POINTS:
        return list(range(1, total + 1))
    return sorted(
        {1 + round(i * (total - 1) / (MAX_KILL_POINTS - 1)) for i in range(MAX_KILL_POINTS)}
    )


def test_save_killed_at_any_step_leaves_old_or_new_save(previous, tmp_path, monkeypatch):
    path, old, new = previous
    total = _count_steps(monkeypatch, new, path, tmp_path)
    assert total > 10  # the save really is counted step by step
    outcomes = {"old": 0, "new": 0}
    for at in _kill_points(total):
        pid = os.fork()
        if pid == 0:  # the child saves and is killed at step `at`
            try:
                Steps(monkeypatch, at, lambda: os.kill(os.getpid(), signal.SIGKILL))
                new.save_pretrained(path)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, at
        loaded = load_pretrained(path)
        state = "old" if _same(loaded, old) else "new"
        assert state == "old" or _same(loaded, _weights(new)), at
        assert (path / "README.md").read_text() == "notes kept beside the weights"
        outcomes[state] += 1
        if state == "new":
            _model(1.0).save_pretrained(path)  # back to the old save for the next kill
    assert outcomes["old"] and outcomes["new"]  # kills landed both before and after the swap
    new.save_pretrained(path)  # the next save tidies up what killed saves left behind
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_io_error_at_any_step_leaves_previous_save(previous, tmp_path, monkeypatch):
    path, old, new = previous
    total = _count_steps(monkeypatch, new, path, tmp_path)
    failed = 0
    for at in range(1, total + 1):

        def fail() -> None:
            raise OSError(errno.EIO, "injected I/O error")

        Steps(monkeypatch, at, fail)
        try:
            new.save_pretrained(path)
        except OSError as exc:
            assert "injected I/O error" in str(exc)
            failed += 1
            monkeypatch.undo()
            assert _same(load_pretrained(path), old), at
        else:  # the error hit the tidying after the swap: the new save stands
            monkeypatch.undo()
            assert _same(load_pretrained(path), _weights(new)), at
            _model(1.0).save_pretrained(path)  # also removes a sibling left untidied
        assert [p.name for p in tmp_path.iterdir()] == ["m"], at
        assert (path / "README.md").read_text() == "notes kept beside the weights"
    assert failed > total // 2


def test_save_over_a_file_is_refused_and_keeps_it(tmp_path):
    target = tmp_path / "file"
    target.write_text("not a directory")
    with pytest.raises(NotADirectoryError):
        _model(1.0).save_pretrained(target)
    assert target.read_text() == "not a directory"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_save_through_a_symlink_replaces_its_target(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    model = _model(3.0)
    model.save_pretrained(tmp_path / "link")
    assert (tmp_path / "link").is_symlink()
    assert _same(load_pretrained(tmp_path / "real"), _weights(model))


# -- hostile directories: nothing blocks, nothing reads without bound, nothing is built early


@pytest.fixture
def saved(tmp_path) -> Path:
    path = tmp_path / "m"
    _model(1.0).save_pretrained(path)
    return path


def _plant(path: Path, kind: str) -> None:
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "dev-null":
        path.symlink_to("/dev/null")
    else:
        path.mkdir()


KINDS = {"fifo": "a FIFO", "dev-zero": "a character device", "dev-null": "a character device",
         "dir": "a directory"}  # fmt: skip


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_special_files_are_refused_without_blocking(saved, name, kind):
    _plant(saved / name, kind)
    message = f"{saved / name} is {KINDS[kind]}, not a regular file; refusing to read it"
    with pytest.raises(SerializationError, match=re.escape(message)):
        load_pretrained(saved)


def _edit_config(path: Path, **changes) -> None:
    record = json.loads((path / "config.json").read_text())
    record["config"].update(changes)
    (path / "config.json").write_text(json.dumps(record))


@pytest.mark.timeout(20)
def test_edited_sizes_are_refused_before_the_model_is_built(saved):
    # 10**6 x 10**6 weights would need terabytes: the loader must not try.
    _edit_config(saved, hidden_dim=10**6)
    with pytest.raises(ContractError, match="contract fingerprint mismatch for ExampleModel"):
        load_pretrained(saved)
    with torch.device("meta"):  # forge the fingerprint too: the weights still give it away
        forged = ExampleModel(ExampleConfig(obs_dim=3, latent_dim=2, hidden_dim=10**6))
    record = json.loads((saved / "config.json").read_text())
    record["contract_fingerprint"] = forged.contract_fingerprint()
    record["contract"] = json.loads(forged.contract().canonical_json())
    (saved / "config.json").write_text(json.dumps(record))
    message = (
        "tensor 'cell.bias_hh' is torch.float32 (12,); the model expects torch.float32 (3000000,)"
    )
    with pytest.raises(SerializationError, match=re.escape(message)):
        load_pretrained(saved)


def test_sizes_torch_cannot_build_are_a_serialization_error(saved):
    _edit_config(saved, hidden_dim=2**62)
    with pytest.raises(
        SerializationError, match=re.escape("config.json 'config' does not fit ExampleModel: ")
    ):
        load_pretrained(saved)


def test_weights_larger_than_the_model_are_not_read(saved):
    weights = saved / "model.safetensors"
    with weights.open("ab") as handle:
        handle.truncate(weights.stat().st_size + (2 << 20))  # sparse: no disk used
    message = "bytes; more than the model's tensors need: not its weights"
    with pytest.raises(SerializationError, match=re.escape(message)):
        load_pretrained(saved)


def test_unsaved_buffers_are_capped(tmp_path, monkeypatch):
    model = _model(1.0)
    model.save_pretrained(tmp_path / "m")
    monkeypatch.setattr(persistence, "MAX_UNSAVED_BYTES", 8)
    original = ExampleModel.__init__

    def with_scratch(self, config=None):
        original(self, config)
        self.register_buffer("scratch", torch.zeros(4), persistent=False)

    monkeypatch.setattr(ExampleModel, "__init__", with_scratch)
    message = (
        "config.json 'config' makes ExampleModel allocate 16 bytes of buffers that are not "
        "saved; at most 8 are allowed"
    )
    with pytest.raises(SerializationError, match=re.escape(message)):
        load_pretrained(tmp_path / "m")


def test_a_model_that_cannot_be_built_on_meta_is_checked_on_a_real_build(tmp_path):
    from torch import nn

    from worldmodel_sdk import IOContract, LossOutput, State, TensorSpec, WorldModel
    from worldmodel_sdk.registry import register_model, unregister_model

    @register_model("needs-values-test")
    class NeedsValues(WorldModel):
        capabilities = frozenset({Capability.REPRESENTATION})

        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.scale = float(self.lin.weight.detach().numpy().sum())  # fails on meta

        def io_contract(self):
            return IOContract(observation={"obs": TensorSpec(shape=("B", 2))})

        def encode(self, obs, deterministic=False):
            return State({"z": self.lin(obs if isinstance(obs, torch.Tensor) else obs["obs"])})

        def loss(self, batch):
            return LossOutput(total=torch.zeros(()))

    try:
        model = NeedsValues()
        model.save_pretrained(tmp_path / "m")
        assert _same(load_pretrained(tmp_path / "m"), _weights(model))
    finally:
        unregister_model("needs-values-test")
