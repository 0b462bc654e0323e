"""Pinned contract fingerprints: saved models stay loadable across refactors.

A change here means every saved model of that contract stops loading. Only a
deliberate, versioned change of the canonical form may update these values.
"""

import pytest

from worldmodel_sdk import ActionSpec, ConditionSpec, IOContract, TensorSpec
from worldmodel_sdk.models.example import ExampleModel
from worldmodel_sdk.models.jopm import JOPM, JOPMWithHeads
from worldmodel_sdk.models.rdlm import RDLM, RDLMConfig
from worldmodel_sdk.models.vae import VAE

REFERENCE = {
    "VAE": (VAE, "dfcd2998c262bc54829673257b60829436e432efc68c05dc6053bae9dc230d54"),
    "RDLM": (RDLM, "274cd60dd47078cc47ecc52ebdda0fe1e79ad829f2b129438f4249f20a7d12ec"),
    "RDLM-continuous": (
        lambda: RDLM(RDLMConfig(action_kind="continuous")),
        "7960af5974368ed391e90b0aff59999dfd061456887db4aabd092762aed703a2",
    ),
    "JOPM": (JOPM, "6d721658f9ce32770ab4563a15e845d82b0f9ba2e66adf15b59bb8b4ff8d451f"),
    "JOPMWithHeads": (
        JOPMWithHeads,
        "2832036ce3fe2f1737a7291e78e0ac3a5b65087069cc0dab774879234e7b50d3",
    ),
    "ExampleModel": (
        ExampleModel,
        "3296c18d427d595b50186fe3e1caf81361c5e8be0f307745cf9103614afb325a",
    ),
}


@pytest.mark.parametrize("name", list(REFERENCE))
def test_reference_model_fingerprints_are_pinned(name):
    factory, digest = REFERENCE[name]
    assert factory().contract_fingerprint() == "wmc1:" + digest


def _with_action(action: ActionSpec) -> IOContract:
    return IOContract(observation={"obs": TensorSpec(shape=("B", 4))}, action=action)


ACTIONS = {
    "continuous": (
        lambda: ActionSpec(kind="continuous", shape=(2,), low=-1.0, high=1.0),
        '{"action":{"high":1.0,"kind":"continuous","low":-1.0,"shape":[2]},'
        '"observation":{"obs":{"shape":["B",4]}}}',
        "e66f6fea19f613a34457ec049e23d3cc4cee0554f3633ead5dae9c3a7e875801",
    ),
    "discrete": (
        lambda: ActionSpec(kind="discrete", num_actions=5),
        '{"action":{"kind":"discrete","num_actions":5},"observation":{"obs":{"shape":["B",4]}}}',
        "802ef9788b6d6a8800b73c83a624f8309a20bb6e6a9168954654e91a189cfe8c",
    ),
    "multi_discrete": (
        lambda: ActionSpec(kind="multi_discrete", nvec=(3, 4)),
        '{"action":{"kind":"multi_discrete","nvec":[3,4]},"observation":{"obs":{"shape":["B",4]}}}',
        "8635ceaa598685147ad38e1d891c15f194f248c06e7f368d8b4eff105280d767",
    ),
    "joint": (
        lambda: ActionSpec(
            kind="joint",
            agents={
                "b": ActionSpec(kind="discrete", num_actions=3),
                "a": ActionSpec(kind="continuous", shape=(2,)),
            },
        ),
        '{"action":{"agents":{"a":{"kind":"continuous","shape":[2]},"b":{"kind":"discrete",'
        '"num_actions":3}},"kind":"joint"},"observation":{"obs":{"shape":["B",4]}}}',
        "5f3ea35137f87392b76e23c9e767fba7cf040233a598187ca0bba3457b73e157",
    ),
}


@pytest.mark.parametrize("kind", list(ACTIONS))
def test_fingerprint_of_each_action_kind_is_pinned(kind):
    make, canonical, digest = ACTIONS[kind]
    contract = _with_action(make())
    assert contract.canonical_json() == canonical
    assert contract.fingerprint == "wmc1:" + digest


def test_fingerprint_of_a_conditioned_contract_is_pinned():
    contract = IOContract(
        observation={"obs": TensorSpec(shape=("B", 4))},
        condition=ConditionSpec(
            tensors={"goal": TensorSpec(shape=("B", 2))},
            required=("goal",),
            allowed_extra_keys=("acme.goal",),
        ),
    )
    assert contract.canonical_json() == (
        '{"condition":{"allowed_extra_keys":["acme.goal"],"required":["goal"],'
        '"tensors":{"goal":{"shape":["B",2]}}},"observation":{"obs":{"shape":["B",4]}}}'
    )
    assert contract.fingerprint == (
        "wmc1:ed75a9b1de84c33225b3b396106fb016832f9227501cefac69783dd67a5cd9f4"
    )
