"""``dataplane.readiness``: the one readiness answer both health APIs give."""

from __future__ import annotations

from actors.routing import ModelRoute, RoutingSnapshot
from dataplane.readiness import DRAINING_REASON, readiness
from protocol.versions import VersionState, VersionStatus


def route(name: str, *statuses: VersionStatus) -> ModelRoute:
    return ModelRoute(name=name, statuses={status.version: status for status in statuses})


SNAPSHOT = RoutingSnapshot(
    models={
        "ok": route("ok", VersionStatus(version=1, state=VersionState.AVAILABLE)),
        "loading": route("loading", VersionStatus(version=2, state=VersionState.LOADING)),
        "broken": route(
            "broken", VersionStatus(version=3, state=VersionState.END, error="bad graph")
        ),
        "old": route("old", VersionStatus(version=1, state=VersionState.UNLOADING)),
    }
)


def test_ready_when_every_configured_model_has_an_available_version() -> None:
    answer = readiness(SNAPSHOT, ["ok"], draining=False)
    assert answer.ready and answer.reasons == ()


def test_draining_makes_the_server_unready_and_says_so() -> None:
    answer = readiness(SNAPSHOT, ["ok"], draining=True)
    assert not answer.ready
    assert answer.reasons == (DRAINING_REASON,)
    assert answer.model("ok") is not None and answer.model("ok").ready  # type: ignore[union-attr]


def test_each_unready_model_is_named_with_its_reason() -> None:
    answer = readiness(SNAPSHOT, ["ok", "loading", "broken", "missing"], draining=False)
    assert not answer.ready
    assert answer.reasons == (
        "model 'loading': version 2 is LOADING, none is AVAILABLE yet",
        "model 'broken': version 3 failed to load: bad graph",
        "model 'missing': no version found or loaded yet",
    )


def test_a_model_no_longer_configured_is_answered_by_name_but_does_not_count() -> None:
    answer = readiness(SNAPSHOT, ["ok"], draining=False)
    assert answer.ready
    old = answer.model("old")
    assert old is not None and not old.ready
    assert answer.model("never-heard-of") is None
