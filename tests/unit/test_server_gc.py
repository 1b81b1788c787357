"""``server.settle_garbage_collector``: start-up objects frozen, young collections rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

import server


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_start_up_objects_are_frozen_and_the_young_threshold_raised(restored_gc: None) -> None:
    long_lived = [object() for _ in range(10)]  # stands for what start-up made
    _, older, oldest = gc.get_threshold()
    server.settle_garbage_collector()
    assert gc.get_freeze_count() >= len(long_lived)
    assert gc.get_threshold() == (server.GC_GEN0_THRESHOLD, older, oldest)


def test_cyclic_garbage_made_after_settling_is_still_collected(restored_gc: None) -> None:
    server.settle_garbage_collector()

    class Node:
        other: object = None

    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2
