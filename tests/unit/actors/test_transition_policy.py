"""The pure transition policy, checked on plain ``VersionView`` tuples."""

from __future__ import annotations

import pytest

from actors.transition_policy import Load, Unload, VersionView, next_action
from protocol.versions import VersionState

START, LOADING, AVAILABLE, UNLOADING, END = (
    VersionState.START,
    VersionState.LOADING,
    VersionState.AVAILABLE,
    VersionState.UNLOADING,
    VersionState.END,
)


def view(version: int, state: VersionState, *, aspired: bool) -> VersionView:
    return VersionView(version=version, state=state, aspired=aspired)


def availability(*views: VersionView) -> Load | Unload | None:
    return next_action(views, resource_preserving=False)


def resource(*views: VersionView) -> Load | Unload | None:
    return next_action(views, resource_preserving=True)


def test_availability_preserving_loads_the_new_version_while_the_old_one_serves() -> None:
    assert availability(view(1, AVAILABLE, aspired=False), view(2, START, aspired=True)) == Load(2)


def test_availability_preserving_keeps_the_old_version_until_a_new_one_is_available() -> None:
    assert availability(view(1, AVAILABLE, aspired=False), view(2, LOADING, aspired=True)) is None
    assert availability(
        view(1, AVAILABLE, aspired=False), view(2, AVAILABLE, aspired=True)
    ) == Unload(1)


def test_an_empty_aspired_set_unloads_everything() -> None:
    versions = (view(1, AVAILABLE, aspired=False), view(2, AVAILABLE, aspired=False))
    assert availability(*versions) == Unload(1)
    assert resource(*versions) == Unload(1)
    assert availability(
        view(1, UNLOADING, aspired=False), view(2, AVAILABLE, aspired=False)
    ) == Unload(2)


def test_a_failed_new_version_leaves_the_old_one_serving() -> None:
    # The load of 2 ended in END while 2 stayed aspired: not retried, 1 keeps serving.
    assert availability(view(1, AVAILABLE, aspired=False), view(2, END, aspired=True)) is None


def test_resource_preserving_unloads_the_old_version_first() -> None:
    assert resource(view(1, AVAILABLE, aspired=False), view(2, START, aspired=True)) == Unload(1)


def test_resource_preserving_waits_for_the_unload_before_loading() -> None:
    assert resource(view(1, UNLOADING, aspired=False), view(2, START, aspired=True)) is None
    assert resource(view(1, END, aspired=False), view(2, START, aspired=True)) == Load(2)


@pytest.mark.parametrize("resource_preserving", [False, True])
def test_nothing_to_do_is_none(resource_preserving: bool) -> None:
    assert next_action((), resource_preserving=resource_preserving) is None
    settled = (view(1, END, aspired=False), view(2, AVAILABLE, aspired=True))
    assert next_action(settled, resource_preserving=resource_preserving) is None
    loading = (view(3, LOADING, aspired=True),)
    assert next_action(loading, resource_preserving=resource_preserving) is None


def test_aspired_versions_load_in_version_order() -> None:
    assert availability(view(3, START, aspired=True), view(2, START, aspired=True)) == Load(2)
