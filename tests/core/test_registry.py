import json
import re
import sys
import textwrap

import pytest

from worldmodel_sdk import create_model, list_models, load_pretrained, register_model
from worldmodel_sdk.errors import RegistryError
from worldmodel_sdk.models import ExampleModel
from worldmodel_sdk.registry import unregister_model

from .models import EncodeOnly


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """A fake installed distribution exposing models through the entry-point group."""
    pkg = tmp_path / "acme_models"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
        import torch
        from worldmodel_sdk import Capability, IOContract, LossOutput, State, TensorSpec, WorldModel

        class AcmeModel(WorldModel):
            capabilities = frozenset({Capability.REPRESENTATION})

            def io_contract(self):
                return IOContract(observation={"obs": TensorSpec(shape=("B", 2))})

            def encode(self, obs, deterministic=False):
                return State({"z": obs if isinstance(obs, torch.Tensor) else obs["obs"]})

            def loss(self, batch):
                return LossOutput(total=torch.zeros(()))
        """
        )
    )
    (pkg / "broken.py").write_text("raise ImportError('no such backend')\n")
    info = tmp_path / "acme_models-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-models\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[worldmodel_sdk.models]\nacme-broken = acme_models.broken:Model\nacme = acme_models:AcmeModel\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    unregister_model("acme")
    sys.modules.pop("acme_models", None)


def test_builtin_models_are_listed():
    assert "example" in list_models()
    assert isinstance(create_model("example", obs_dim=3), ExampleModel)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(
        RegistryError,
        match=re.escape("unknown model 'exampel'; registered: ")
        + ".*"
        + re.escape("Did you mean 'example'?"),
    ):
        create_model("exampel")


def test_register_forms_and_conflicts():
    try:
        register_model("enc-a", EncodeOnly)
        assert create_model("enc-a").__class__ is EncodeOnly
        with pytest.raises(
            RegistryError,
            match=re.escape(
                "model name 'example' is already registered to worldmodel_sdk.models.example:ExampleModel"
            ),
        ):
            register_model("example", EncodeOnly)

        @register_model("enc-b")
        class Sub(EncodeOnly):
            pass

        assert "enc-b" in list_models() and Sub.model_type == "enc-b"
        with pytest.raises(
            TypeError, match="register_model expects a WorldModel subclass; got <class 'int'>"
        ):
            register_model("x", int)  # type: ignore[type-var]
    finally:
        unregister_model("enc-a")
        unregister_model("enc-b")


def test_entry_point_plugins(plugin_dist):
    assert {"acme", "acme-broken"} <= set(list_models())
    model = create_model("acme")
    # The entry-point name is an alias: the class keeps its own model type.
    assert type(model).__name__ == "AcmeModel" and type(model).model_type == "acmemodel"
    with pytest.raises(
        RegistryError,
        match=re.escape(
            "entry point 'acme-broken' (acme_models.broken:Model) in group 'worldmodel_sdk.models' failed to load: ImportError: no such backend"
        ),
    ):
        create_model("acme-broken")


def test_plugin_models_load_whatever_was_looked_up_first(plugin_dist, tmp_path):
    import acme_models

    # Saved before any registry lookup: config.json records the class's own type.
    acme_models.AcmeModel().save_pretrained(tmp_path / "m")
    assert type(load_pretrained(tmp_path / "m")).__name__ == "AcmeModel"
    unregister_model("acme")
    assert type(load_pretrained(tmp_path / "m")).__name__ == "AcmeModel"
    create_model("acme").save_pretrained(tmp_path / "n")
    assert type(load_pretrained(tmp_path / "n")).__name__ == "AcmeModel"


def test_plugins_can_be_disabled(plugin_dist, monkeypatch):
    monkeypatch.setenv("WMSDK_DISABLE_PLUGINS", "1")
    assert "acme" not in list_models()


def test_loading_imports_only_the_matching_plugin(plugin_dist, tmp_path):
    import acme_models

    marker = tmp_path / "imported"
    (tmp_path / "acme_models" / "noisy.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\nModel = None\n"
    )
    info = tmp_path / "acme_models-1.0.dist-info" / "entry_points.txt"
    info.write_text(info.read_text() + "acme-noisy = acme_models.noisy:Model\n")
    acme_models.AcmeModel().save_pretrained(tmp_path / "m")
    unregister_model("acme")
    # Found through the entry point that names its class; the other plugins stay unimported.
    assert type(load_pretrained(tmp_path / "m")).__name__ == "AcmeModel"
    record = json.loads((tmp_path / "m" / "config.json").read_text())
    record.update(model_type="nobody", model_class="nowhere:Nothing")
    (tmp_path / "m" / "config.json").write_text(json.dumps(record))
    with pytest.raises(RegistryError, match=re.escape("unknown model 'nobody'")):
        load_pretrained(tmp_path / "m")
    assert not marker.exists()
    assert "acme_models.broken" not in sys.modules
