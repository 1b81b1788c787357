"""The version manager's state machine, driven one ``step`` at a time.

A recording effect runner stands in for the load/unload tasks: each test feeds the events
those tasks would post (``VersionLoaded`` and friends) and checks states, actions and the
published routing snapshot.
"""

from __future__ import annotations

import pytest

from actors.messages import (
    AspiredLoader,
    AspiredLoadersRequest,
    LoadVersion,
    RemoveModel,
    SetModelLabels,
    UnloadVersion,
    VersionLoaded,
    VersionLoadFailed,
    VersionUnloaded,
)
from actors.routing import RoutingTable
from actors.version_manager import Effect, ManagerOptions, VersionManager
from protocol.status import Code, ServingError
from protocol.versions import VersionState
from tests.unit.actors.fakes import FakeLoader, HalfPlusTwo


class RecordingRunner:
    def __init__(self) -> None:
        self.effects: list[Effect] = []

    def submit(self, effect: Effect) -> None:
        self.effects.append(effect)

    async def wait_idle(self) -> None:
        """Always idle: effects are recorded, never run."""


def aspire(model: str, *versions: int) -> AspiredLoadersRequest:
    return AspiredLoadersRequest(
        model_name=model,
        loaders=tuple(AspiredLoader(version=v, loader=FakeLoader(model, v)) for v in versions),
    )


def loaded(model: str, version: int) -> VersionLoaded:
    return VersionLoaded(model_name=model, version=version, servable=HalfPlusTwo(model, version))


@pytest.fixture
def routing() -> RoutingTable:
    return RoutingTable()


@pytest.fixture
def manager(routing: RoutingTable) -> VersionManager:
    return VersionManager(routing=routing, effects=RecordingRunner())


def test_a_new_version_is_loaded_then_served(
    manager: VersionManager, routing: RoutingTable
) -> None:
    effects = manager.step(aspire("m", 1))
    assert [type(e) for e in effects] == [LoadVersion]
    assert manager.state_of("m", 1) is VersionState.LOADING
    with pytest.raises(ServingError) as not_yet:
        routing.snapshot.resolve("m")
    assert not_yet.value.code is Code.NOT_FOUND

    assert manager.step(loaded("m", 1)) == []
    assert manager.state_of("m", 1) is VersionState.AVAILABLE
    assert routing.snapshot.resolve("m").version == 1
    assert routing.snapshot.resolve("m", 1).version == 1


def test_availability_preserving_loads_the_new_version_before_unloading_the_old(
    manager: VersionManager, routing: RoutingTable
) -> None:
    manager.step(aspire("m", 1))
    manager.step(loaded("m", 1))

    effects = manager.step(aspire("m", 2))
    assert [type(e) for e in effects] == [LoadVersion]  # v1 keeps serving meanwhile
    assert manager.state_of("m", 1) is VersionState.AVAILABLE
    assert routing.snapshot.resolve("m").version == 1

    effects = manager.step(loaded("m", 2))
    assert [(type(e), e.version) for e in effects] == [(UnloadVersion, 1)]
    assert manager.state_of("m", 1) is VersionState.UNLOADING
    assert routing.snapshot.resolve("m").version == 2
    with pytest.raises(ServingError):
        routing.snapshot.resolve("m", 1)  # no new requests reach an unloading version

    manager.step(VersionUnloaded(model_name="m", version=1))
    assert manager.state_of("m", 1) is VersionState.END
    statuses = {s.version: s.state for s in routing.snapshot.statuses("m")}
    assert statuses == {2: VersionState.AVAILABLE, 1: VersionState.END}


def test_a_failed_load_keeps_the_previous_version_serving(
    manager: VersionManager, routing: RoutingTable
) -> None:
    manager.step(aspire("m", 1))
    manager.step(loaded("m", 1))
    manager.step(aspire("m", 2))

    effects = manager.step(
        VersionLoadFailed(model_name="m", version=2, error="DataLossError: corrupt")
    )
    assert effects == []
    assert manager.state_of("m", 2) is VersionState.END
    assert routing.snapshot.resolve("m").version == 1
    (status,) = routing.snapshot.statuses("m", 2)
    assert status.error == "DataLossError: corrupt"

    # Still aspired: not retried on every poll.
    assert manager.step(aspire("m", 2)) == []


def test_a_failed_version_that_leaves_and_returns_is_loaded_again(manager: VersionManager) -> None:
    manager.step(aspire("m", 2))
    manager.step(VersionLoadFailed(model_name="m", version=2, error="bad"))
    manager.step(aspire("m"))
    effects = manager.step(aspire("m", 2))
    assert [(type(e), e.version) for e in effects] == [(LoadVersion, 2)]


def test_an_empty_aspired_set_unloads_everything(
    manager: VersionManager, routing: RoutingTable
) -> None:
    manager.step(aspire("m", 1))
    manager.step(loaded("m", 1))
    effects = manager.step(aspire("m"))
    assert [(type(e), e.version) for e in effects] == [(UnloadVersion, 1)]
    with pytest.raises(ServingError):
        routing.snapshot.resolve("m")


def test_resource_preserving_unloads_first(routing: RoutingTable) -> None:
    manager = VersionManager(
        routing=routing, effects=RecordingRunner(), options=ManagerOptions(resource_preserving=True)
    )
    manager.step(aspire("m", 1))
    manager.step(loaded("m", 1))
    effects = manager.step(aspire("m", 2))
    assert [(type(e), e.version) for e in effects] == [(UnloadVersion, 1)]
    assert manager.state_of("m", 2) is VersionState.START  # aspired, waiting for the unload
    effects = manager.step(VersionUnloaded(model_name="m", version=1))
    assert [(type(e), e.version) for e in effects] == [(LoadVersion, 2)]


def test_labels_resolve_only_to_available_versions(
    manager: VersionManager, routing: RoutingTable
) -> None:
    manager.step(SetModelLabels(model_name="m", labels={"stable": 1, "canary": 2}))
    manager.step(aspire("m", 1, 2))
    manager.step(loaded("m", 1))
    assert routing.snapshot.resolve("m", label="stable").version == 1
    with pytest.raises(ServingError) as unknown:
        routing.snapshot.resolve("m", label="canary")
    assert unknown.value.code is Code.INVALID_ARGUMENT
    manager.step(loaded("m", 2))
    assert routing.snapshot.resolve("m", label="canary").version == 2


def test_remove_model_unloads_all_versions(manager: VersionManager) -> None:
    manager.step(aspire("m", 1, 2))
    manager.step(loaded("m", 1))
    manager.step(loaded("m", 2))
    effects = manager.step(RemoveModel(model_name="m"))
    assert sorted(e.version for e in effects if isinstance(e, UnloadVersion)) == [1, 2]


def test_unknown_model_and_version_are_not_found(
    manager: VersionManager, routing: RoutingTable
) -> None:
    manager.step(aspire("m", 1))
    manager.step(loaded("m", 1))
    for model, version in (("other", None), ("m", 9)):
        with pytest.raises(ServingError) as error:
            routing.snapshot.resolve(model, version)
        assert error.value.code is Code.NOT_FOUND
