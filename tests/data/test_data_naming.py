from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from worldmodel_sdk.data import natural_sort_key, natural_sorted


def test_numbers_compare_by_value() -> None:
    names = ["agent_10", "agent_2", "agent_1", "agent_0"]
    assert natural_sorted(names) == ["agent_0", "agent_1", "agent_2", "agent_10"]


def test_mixed_text_and_numbers() -> None:
    names = ["b1", "a10", "a2", "10", "2", "a2b10", "a2b9", ""]
    assert natural_sorted(names) == ["", "2", "10", "a2", "a2b9", "a2b10", "a10", "b1"]


def test_leading_zeros_tie_broken_by_text() -> None:
    assert natural_sorted(["agent_1", "agent_01"]) == ["agent_01", "agent_1"]
    assert natural_sort_key("agent_01") != natural_sort_key("agent_1")


def test_key_shape() -> None:
    assert natural_sort_key("agent_10") == (("agent_", 10, ""), "agent_10")


@given(st.lists(st.text(alphabet="ab_019", max_size=8)))
def test_total_order_and_idempotent(names: list[str]) -> None:
    once = natural_sorted(names)
    assert natural_sorted(once) == once
    assert sorted(once) == sorted(names)
