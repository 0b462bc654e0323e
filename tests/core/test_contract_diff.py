import json

from worldmodel_sdk import ActionSpec, IOContract, TensorSpec
from worldmodel_sdk._contract_diff import contract_diff, fingerprint_of


def test_fingerprint_of_the_canonical_object_is_the_contract_fingerprint():
    contract = IOContract(
        observation={"obs": TensorSpec(shape=("B", 3), description="ignored")},
        action=ActionSpec(kind="continuous", shape=(2,), low=-1.5, high=1.5),
    )
    assert fingerprint_of(json.loads(contract.canonical_json())) == contract.fingerprint


def test_diff_names_nested_paths_and_quotes_odd_keys():
    saved = {"state": {"h": {"shape": ["B", 8]}, "my key": {"shape": ["B"]}}, "agents": ["a"]}
    declared = {"state": {"h": {"shape": ["B", 9]}}, "agents": ["a"]}
    assert contract_diff(saved, declared) == [
        'state.h.shape: saved ["B", 8], declared ["B", 9]',
        'state["my key"]: saved {"shape": ["B"]}, declared (absent: default)',
    ]


def test_diff_is_bounded_and_long_values_are_cut():
    saved = {f"k{i:02}": i for i in range(30)}
    lines = contract_diff(saved, {}, limit=5)
    assert lines == [f"k{i:02}: saved {i}, declared (absent: default)" for i in range(4)] + [
        "... and 26 more"
    ]
    assert contract_diff({"k" * 1000: 1}, {}) == [
        f'["{"k" * 37}..."]: saved 1, declared (absent: default)'
    ]
    long = contract_diff({"x": list(range(100))}, {"x": []})
    assert long == [
        "x: saved [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16..., declared []"
    ]


def test_diff_tells_json_types_apart():
    assert contract_diff({"x": True}, {"x": 1}) == ["x: saved true, declared 1"]
    assert contract_diff({"x": 1}, {"x": 1}) == []
