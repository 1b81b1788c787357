"""``server``'s collector settings: the imported heap frozen before models load, young
collections rarer once serving, and a start-up version's graph still freed after its unload."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

import server


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_the_imported_heap_is_frozen(restored_gc: None) -> None:
    imported = [object() for _ in range(10)]  # stands for what the imports made
    server.freeze_imported_heap()
    assert gc.get_freeze_count() >= len(imported)


def test_settling_raises_the_young_threshold_and_freezes_nothing(restored_gc: None) -> None:
    _, older, oldest = gc.get_threshold()
    frozen = gc.get_freeze_count()
    server.settle_garbage_collector()
    assert gc.get_threshold() == (server.GC_GEN0_THRESHOLD, older, oldest)
    assert gc.get_freeze_count() == frozen


class _Node:
    """A reference cycle, as a TensorFlow graph and its operations are."""

    other: object = None


def _graph() -> _Node:
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return first


def test_a_graph_loaded_at_start_up_is_freed_after_its_unload(restored_gc: None) -> None:
    # The order server.serve keeps: freeze the imports, load the start-up versions, settle.
    server.freeze_imported_heap()
    servable = _graph()
    graph = weakref.ref(servable)
    server.settle_garbage_collector()
    gc.collect()
    assert graph() is not None  # serving
    del servable  # unloaded
    gc.collect()
    assert graph() is None


def test_a_cycle_frozen_with_the_imports_is_never_collected(restored_gc: None) -> None:
    # Why the freeze comes before the models: what it freezes stays, even once dropped.
    servable = _graph()
    graph = weakref.ref(servable)
    server.freeze_imported_heap()
    del servable
    gc.collect()
    assert graph() is not None
