"""Routing resolution and GetModelStatus answers, as TF Serving gives them.

Sources: ``tensorflow_serving/model_servers/server_core.cc`` (``ServableRequestFromModelSpec``
and ``GetModelVersionForLabel``: a label is resolved before the servable is looked up) and
``get_model_status_impl.cc`` (only ``model_spec.version`` is read; a label is ignored).
"""

from __future__ import annotations

import pytest

from actors.routing import ModelRoute, RoutingSnapshot
from protocol.status import Code, ServingError
from protocol.versions import VersionState, VersionStatus
from tests.unit.actors.fakes import HalfPlusTwo


@pytest.fixture
def snapshot() -> RoutingSnapshot:
    one, two = HalfPlusTwo("m", 1), HalfPlusTwo("m", 2)
    route = ModelRoute(
        name="m",
        servables={1: one, 2: two},
        labels={"stable": 1},
        statuses={
            1: VersionStatus(version=1, state=VersionState.AVAILABLE),
            2: VersionStatus(version=2, state=VersionState.AVAILABLE),
        },
        latest=two,
    )
    return RoutingSnapshot(models={"m": route})


def test_a_label_resolves_to_its_version(snapshot: RoutingSnapshot) -> None:
    assert snapshot.resolve("m", label="stable").version == 1


def test_a_label_on_an_unknown_model_is_an_unrecognized_label(snapshot: RoutingSnapshot) -> None:
    """server_core.cc GetModelVersionForLabel: INVALID_ARGUMENT before any NOT_FOUND."""
    with pytest.raises(ServingError) as caught:
        snapshot.resolve("nope", label="stable")
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert caught.value.message == "Unrecognized servable version label: stable"


def test_an_unknown_label_on_a_known_model_is_invalid_argument(snapshot: RoutingSnapshot) -> None:
    with pytest.raises(ServingError) as caught:
        snapshot.resolve("m", label="beta")
    assert caught.value.code is Code.INVALID_ARGUMENT


@pytest.mark.parametrize("label", ["stable", "beta"])
def test_model_status_ignores_the_label_and_lists_every_version(
    snapshot: RoutingSnapshot, label: str
) -> None:
    """get_model_status_impl.cc GetModelStatusWithModelSpec reads only the version."""
    assert [s.version for s in snapshot.statuses("m", label=label)] == [2, 1]


def test_model_status_of_an_unknown_model_with_a_label_is_not_found(
    snapshot: RoutingSnapshot,
) -> None:
    """get_model_status_impl.cc: "Could not find any versions of model X", label or not."""
    with pytest.raises(ServingError) as caught:
        snapshot.statuses("nope", label="stable")
    assert caught.value.code is Code.NOT_FOUND
    assert caught.value.message == "Could not find any versions of model nope"


def test_a_request_without_a_model_name_is_invalid_argument(snapshot: RoutingSnapshot) -> None:
    """server_core.cc ServableRequestFromModelSpec: "ModelSpec has no name specified."."""
    with pytest.raises(ServingError) as refused:
        snapshot.resolve("")
    assert refused.value.code is Code.INVALID_ARGUMENT
    assert refused.value.message == "ModelSpec has no name specified."
