"""The config reloader, driven through ``handle`` with fakes for the poller and manager.

The fakes record what the reloader posts to them; the routing table is real, with a
snapshot built by hand, because label checks read it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import pytest
from tensorflow_serving.config import model_server_config_pb2

from actors.config_reloader import (
    ApplyModelConfig,
    ConfigReloader,
    _CheckConfigFile,
    metric_increases,
)
from actors.messages import RemoveModel, SetModelLabels
from actors.path_poller import PathPoller, SetModels
from actors.routing import ModelRoute, RoutingSnapshot, RoutingTable
from actors.version_manager import VersionManager
from config.model_config import ModelServerSettings, model_config_from_text
from protocol.status import Code, ServingError
from protocol.versions import VersionState, VersionStatus
from tests.unit.actors.fakes import HalfPlusTwo


class RecordingActor:
    """Stands in for the poller and the manager: records posts; drains and settles at once."""

    def __init__(self) -> None:
        self.posted: list[Any] = []

    def post(self, message: Any) -> None:
        self.posted.append(message)

    async def drain(self) -> None:
        pass

    async def wait_settled(self) -> None:
        pass


def config_text(*models: tuple[str, dict[str, int]]) -> str:
    entries = []
    for name, labels in models:
        label_text = "".join(
            f" version_labels {{ key: '{k}' value: {v} }}" for k, v in labels.items()
        )
        entries.append(
            f"config {{ name: '{name}' base_path: '/models/{name}' model_platform: 'tensorflow'"
            " model_version_policy { all {} }" + label_text + " }"
        )
    return "model_config_list { " + " ".join(entries) + " }"


def settings(*models: tuple[str, dict[str, int]]) -> ModelServerSettings:
    return model_config_from_text(config_text(*models), "test", require_existing_base_path=False)


def serving(model: str, **states: VersionState) -> ModelRoute:
    """A route for ``model`` whose versions ("v1"=...) are in the given states."""
    statuses = {int(v[1:]): VersionStatus(version=int(v[1:]), state=s) for v, s in states.items()}
    servables = {
        v: HalfPlusTwo(model, v) for v, s in statuses.items() if s.state is VersionState.AVAILABLE
    }
    latest = servables[max(servables)] if servables else None
    return ModelRoute(name=model, servables=servables, statuses=statuses, latest=latest)


class Harness:
    def __init__(
        self,
        *,
        allow: bool = False,
        config_file: Path | None = None,
        resident: ModelServerSettings | None = None,
    ) -> None:
        self.poller = RecordingActor()
        self.manager = RecordingActor()
        self.routing = RoutingTable()
        self.changes: list[ModelServerSettings] = []
        self.reloader = ConfigReloader(
            settings=settings(("a", {}), ("b", {})),
            poller=cast(PathPoller, self.poller),
            manager=cast(VersionManager, self.manager),
            routing=self.routing,
            allow_labels_for_unavailable=allow,
            config_file=str(config_file) if config_file is not None else None,
            on_change=self.changes.append,
            resident=resident,
        )

    def nothing_posted(self) -> bool:
        return self.poller.posted == [] and self.manager.posted == [] and self.changes == []


async def test_a_valid_config_is_applied() -> None:
    harness = Harness()
    harness.routing.publish(RoutingSnapshot({"a": serving("a", v1=VersionState.AVAILABLE)}))
    new = settings(("a", {"stable": 1}), ("c", {"canary": 7}))

    await harness.reloader.handle(ApplyModelConfig(settings=new))

    assert harness.reloader.settings is new
    assert harness.changes == [new]
    assert harness.manager.posted == [
        SetModelLabels(model_name="a", labels={"stable": 1}),
        SetModelLabels(model_name="c", labels={"canary": 7}),  # a new model: no check yet
        RemoveModel(model_name="b"),
    ]
    assert harness.poller.posted == [SetModels(models=new.models)]


async def test_reload_of_an_invalid_proto_is_invalid_argument_and_changes_nothing() -> None:
    harness = Harness()
    await harness.reloader.start()
    try:
        before = harness.reloader.settings
        proto = model_server_config_pb2.ModelServerConfig()
        for _ in range(2):
            proto.model_config_list.config.add(
                name="dup", base_path="/models/dup", model_platform="tensorflow"
            )
        with pytest.raises(ServingError) as invalid:
            await harness.reloader.reload(proto)
        assert invalid.value.code is Code.INVALID_ARGUMENT
        assert "dup" in invalid.value.message
        assert harness.reloader.settings is before
        assert harness.nothing_posted()
    finally:
        await harness.reloader.stop(1)


async def test_reload_of_a_valid_proto_goes_through_the_inbox() -> None:
    harness = Harness()
    await harness.reloader.start()
    try:
        proto = model_server_config_pb2.ModelServerConfig()
        proto.model_config_list.config.add(
            name="a", base_path="/models/a", model_platform="tensorflow"
        )
        await harness.reloader.reload(proto)
        assert harness.reloader.settings.names == ("a",)
        assert RemoveModel(model_name="b") in harness.manager.posted
    finally:
        await harness.reloader.stop(1)


async def test_a_reload_keeps_the_repository_models_and_refuses_their_names() -> None:
    harness = Harness(resident=settings(("triton", {})))
    await harness.reloader.start()
    try:
        proto = model_server_config_pb2.ModelServerConfig()
        proto.model_config_list.config.add(
            name="a", base_path="/models/a", model_platform="tensorflow"
        )
        await harness.reloader.reload(proto)
        assert harness.reloader.settings.names == ("a", "triton")
        proto.model_config_list.config.add(
            name="triton", base_path="/models/t", model_platform="tensorflow"
        )
        with pytest.raises(ServingError) as invalid:
            await harness.reloader.reload(proto)
        assert invalid.value.code is Code.INVALID_ARGUMENT
        assert "model 'triton' is also listed" in invalid.value.message
    finally:
        await harness.reloader.stop(1)


@pytest.mark.parametrize("state", [VersionState.LOADING, VersionState.END, None])
async def test_a_label_on_an_unavailable_version_of_a_served_model_is_failed_precondition(
    state: VersionState | None,
) -> None:
    harness = Harness()
    states = {"v1": VersionState.AVAILABLE} | ({"v2": state} if state is not None else {})
    harness.routing.publish(RoutingSnapshot({"a": serving("a", **states)}))
    before = harness.reloader.settings

    with pytest.raises(ServingError) as refused:
        await harness.reloader.handle(ApplyModelConfig(settings=settings(("a", {"canary": 2}))))

    assert refused.value.code is Code.FAILED_PRECONDITION
    assert "version 2 of model a" in refused.value.message
    assert harness.reloader.settings is before
    assert harness.nothing_posted()


async def test_a_label_on_an_unavailable_version_is_allowed_when_the_flag_says_so() -> None:
    harness = Harness(allow=True)
    harness.routing.publish(RoutingSnapshot({"a": serving("a", v1=VersionState.AVAILABLE)}))
    await harness.reloader.handle(ApplyModelConfig(settings=settings(("a", {"canary": 2}))))
    assert SetModelLabels(model_name="a", labels={"canary": 2}) in harness.manager.posted


async def test_the_config_file_is_re_read_only_when_its_text_changed(tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    path.write_text(config_text(("a", {}), ("b", {})))
    harness = Harness(config_file=path)
    await harness.reloader.on_start()  # remembers the text it started with

    await harness.reloader.handle(_CheckConfigFile())
    assert harness.nothing_posted()

    path.write_text(config_text(("a", {})))
    await harness.reloader.handle(_CheckConfigFile())
    assert harness.reloader.settings.names == ("a",)
    assert harness.manager.posted[-1] == RemoveModel(model_name="b")
    posts = len(harness.poller.posted)

    await harness.reloader.handle(_CheckConfigFile())  # same text again
    assert len(harness.poller.posted) == posts


async def test_a_bad_config_file_is_logged_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "models.config"
    path.write_text(config_text(("a", {}), ("b", {})))
    harness = Harness(config_file=path)
    await harness.reloader.on_start()
    before = harness.reloader.settings

    path.write_text(config_text(("dup", {}), ("dup", {})))
    with caplog.at_level(logging.ERROR, logger="actors.config_reloader"):
        await harness.reloader.handle(_CheckConfigFile())
    assert harness.reloader.settings is before
    assert harness.nothing_posted()
    assert any("ignoring the changed model config file" in r.getMessage() for r in caplog.records)

    path.write_text("model_config_list { this is not a text proto")
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="actors.config_reloader"):
        await harness.reloader.handle(_CheckConfigFile())
    assert harness.reloader.settings is before
    assert any("ignoring the changed model config file" in r.getMessage() for r in caplog.records)

    path.unlink()
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="actors.config_reloader"):
        await harness.reloader.handle(_CheckConfigFile())
    assert harness.reloader.settings is before
    assert any("cannot read model config file" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", ["none", "custom_model_config"])
async def test_a_reload_without_a_model_config_list_is_invalid_argument(kind: str) -> None:
    """model_service_impl.cc HandleReloadConfigRequest: the default case of its switch."""
    harness = Harness()
    proto = model_server_config_pb2.ModelServerConfig()
    if kind == "custom_model_config":
        proto.custom_model_config.type_url = "x"
    with pytest.raises(ServingError) as refused:
        await harness.reloader.reload(proto)
    assert refused.value.code is Code.INVALID_ARGUMENT
    assert refused.value.message.endswith("Only ModelConfigList is currently supported")
    assert harness.nothing_posted()


async def test_a_new_model_that_fails_to_load_makes_the_reload_unknown() -> None:
    """server_core.cc WaitUntilModelsAvailable (reached from ReloadConfig for new models):
    UNKNOWN "1 model(s) did not become available: {{{name: c version: 7} due to error: ...}, }"."""
    harness = Harness()
    failed = VersionStatus(
        version=7, state=VersionState.END, error="no saved model", error_code=Code.NOT_FOUND
    )
    harness.routing.publish(
        RoutingSnapshot(
            {
                "a": serving("a", v1=VersionState.AVAILABLE),
                "c": ModelRoute(name="c", statuses={7: failed}),
            }
        )
    )
    new = settings(("a", {}), ("c", {}))
    with pytest.raises(ServingError) as refused:
        await harness.reloader.handle(ApplyModelConfig(settings=new))
    assert refused.value.code is Code.UNKNOWN
    assert refused.value.message == (
        "1 model(s) did not become available: "
        "{{{name: c version: 7} due to error: NOT_FOUND: no saved model}, }"
    )
    assert harness.reloader.settings is new  # applied all the same, as in TF Serving


async def test_a_failed_model_that_was_already_configured_does_not_fail_the_reload() -> None:
    """Only new models are waited for (server_core.cc NewModelNamesInSourceConfig)."""
    harness = Harness()
    failed = VersionStatus(version=1, state=VersionState.END, error="broken")
    harness.routing.publish(RoutingSnapshot({"a": ModelRoute(name="a", statuses={1: failed})}))
    await harness.reloader.handle(ApplyModelConfig(settings=settings(("a", {}))))


def test_metric_increases_answer_one_entry_per_requested_name() -> None:
    """model_service_impl.cc RecordMetricsIncrease: new value minus old, 0 when unknown."""
    increases = metric_increases(["x", "y", "x"], {"x": 2}, {"x": 5, "y": 1})
    assert increases == [("x", 3), ("y", 1)]
