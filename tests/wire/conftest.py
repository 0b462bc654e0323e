"""Every wire test must leave /dev/shm as it found it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from worldmodel_sdk.wire._segments import SEGMENT_NAME, SHM_DIR, unlink_segment

# Segments made by helper processes of these tests. Unique per test run: test runs of
# several checkouts may share /dev/shm, and one run's `shm gc` must not collect (or be
# raced for) another run's orphans.
TEST_NAMESPACE = f"wmsdk-wiretest-{os.getpid()}"


def _segments() -> set[str]:
    try:
        names = os.listdir(SHM_DIR)
    except FileNotFoundError:  # pragma: no cover - not Linux
        return set()
    mine = (str(os.getpid()),)
    return {
        n
        for n in names
        if SEGMENT_NAME.fullmatch(n)
        and (n.split(".")[1] in mine or n.startswith(TEST_NAMESPACE + "."))
    }


@pytest.fixture(autouse=True)
def no_leaked_segments() -> Iterator[None]:
    before = _segments()
    yield
    leaked = _segments() - before
    for name in leaked:
        unlink_segment(name, missing_ok=True)
    assert not leaked, f"test left shared-memory segments behind: {sorted(leaked)}"
