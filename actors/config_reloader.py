"""The config reloader: replaces the whole model set at run time.

Two sources feed it, one at a time through its inbox: ``HandleReloadConfigRequest``
(gRPC ModelService) and, with ``--model_config_file_poll_wait_seconds`` > 0, a re-read of
``--model_config_file`` whenever its text changed.

A reload is all-or-nothing at validation: the new ``ModelServerConfig`` is validated
first (duplicate names, unknown platforms, bad policies are INVALID_ARGUMENT; a label
naming a version of an existing model that is not AVAILABLE is FAILED_PRECONDITION unless
``--allow_version_labels_for_unavailable_models`` and the label is not in use yet), and a bad config leaves the current
set untouched. Then:
- models that are gone are removed (their versions unload);
- the poller watches the new set, so new models load and changed version policies take
  effect on its next scan, which runs at once; unchanged models keep serving and are not
  reloaded (their aspired set is the same);
- every model's labels are replaced, each move atomic for requests (one snapshot swap).
The reply waits, bounded by ``settle_timeout_seconds``, until new versions have settled.
A model that is new in the config and failed to load makes the reload answer UNKNOWN
"N model(s) did not become available: {...}" (TF Serving's ``ServerCore::
WaitUntilModelsAvailable``, as at start-up); the config stays applied, as in TF Serving.
A request whose config is not a ``model_config_list`` (none at all, or a custom config) is
INVALID_ARGUMENT, as in ``model_service_impl.cc``. ``metric_increases`` answers a
request's ``metric_names``: one entry per name, the increase of that metric over the reload.
A base path that does not exist does not block the reload or later ones (a known TF
Serving failure): the poller logs it and loads the model once the folder appears.
``resident`` models (a ``--model_repository``'s) are added to every reloaded list, so a
reload never unloads them; a reloaded model with one of their names is INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence

from tensorflow_serving.config import model_server_config_pb2

from actors.actor import Actor
from actors.messages import RemoveModel, SetModelLabels
from actors.path_poller import PathPoller, SetModels
from actors.routing import RoutingTable
from actors.version_manager import VersionManager
from config.errors import ConfigError
from config.model_config import ModelServerSettings, load_model_config, model_config_from_proto
from config.model_repository import merge_model_lists
from protocol.status import Code, ServingError, failed_precondition, invalid_argument
from protocol.versions import VersionState

log = logging.getLogger(__name__)

RELOAD_SOURCE = "HandleReloadConfigRequest"

ONLY_MODEL_CONFIG_LIST = (
    "ServerModelConfig type not supported by HandleReloadConfigRequest. "
    "Only ModelConfigList is currently supported"
)
"""TF Serving's answer (``model_service_impl.cc``) to a reload without a model_config_list."""


def check_reload_config(config: model_server_config_pb2.ModelServerConfig) -> None:
    """INVALID_ARGUMENT unless ``config`` holds a ``model_config_list`` (TF Serving's check)."""
    if config.WhichOneof("config") != "model_config_list":
        raise invalid_argument(ONLY_MODEL_CONFIG_LIST)


def metric_increases(
    names: Sequence[str], before: Mapping[str, int], after: Mapping[str, int]
) -> list[tuple[str, int]]:
    """``(name, after - before)`` for each requested name, in order, as TF Serving's
    ``RecordMetricsIncrease`` fills ``ReloadConfigResponse.metric`` (0 for an unknown name)."""
    return [(name, after.get(name, 0) - before.get(name, 0)) for name in dict.fromkeys(names)]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ApplyModelConfig:
    """Command: make ``settings`` the served model set."""

    settings: ModelServerSettings


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _CheckConfigFile:
    """Timer tick (or SIGHUP, ``always``): re-read the config file if it changed."""

    always: bool = False
    """Apply the file even when its text is unchanged (an operator asked for a reload)."""


class ConfigReloader(Actor[ApplyModelConfig | _CheckConfigFile]):
    name = "config_reloader"

    def __init__(
        self,
        *,
        settings: ModelServerSettings,
        poller: PathPoller,
        manager: VersionManager,
        routing: RoutingTable,
        allow_labels_for_unavailable: bool = False,
        config_file: str | None = None,
        config_file_poll_wait_seconds: float = 0.0,
        settle_timeout_seconds: float = 120.0,
        on_change: Callable[[ModelServerSettings], None] | None = None,
        resident: ModelServerSettings | None = None,
    ) -> None:
        super().__init__()
        self._resident = resident
        self.settings = settings
        self._poller = poller
        self._manager = manager
        self._routing = routing
        self._allow_unavailable_labels = allow_labels_for_unavailable
        self._config_file = config_file
        self._poll_wait_seconds = config_file_poll_wait_seconds
        self._settle_timeout_seconds = settle_timeout_seconds
        self._on_change = on_change
        self._last_text: str | None = None

    # --- entry points ---------------------------------------------------------------------

    async def reload(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """Validate and apply the ``config`` of a ``ReloadConfigRequest``.

        Unlike a config file, a request cannot resolve a relative ``base_path`` against
        anything: it is INVALID_ARGUMENT, as in TF Serving.
        """
        check_reload_config(config)
        for model in config.model_config_list.config:
            if model.base_path and not _is_absolute(model.base_path):
                raise invalid_argument(
                    f"Expected model {model.name} to have an absolute path or URI; "
                    f"got base_path()={model.base_path}"
                )
        try:
            settings = self._with_resident(
                model_config_from_proto(config, RELOAD_SOURCE, require_existing_base_path=False)
            )
        except ConfigError as error:
            raise invalid_argument(str(error)) from error
        await self.apply(settings)

    def reread_config_file(self) -> None:
        """Re-read and apply the model config file now (SIGHUP); errors are logged."""
        if self._config_file is None:
            log.warning("SIGHUP: no --model_config_file to re-read; nothing to reload")
            return
        log.info("SIGHUP: re-reading the model config file %s", self._config_file)
        self.post(_CheckConfigFile(always=True))

    async def apply(self, settings: ModelServerSettings) -> None:
        """Make ``settings`` the served model set; raises what validation raises."""
        await self.ask(ApplyModelConfig(settings=settings))

    def check_models_available(self, added: frozenset[str]) -> None:
        """UNKNOWN "N model(s) did not become available" if a model in ``added`` failed to load."""
        failed = [entry for name in sorted(added) for entry in self._failures(name)]
        if failed:
            models = len({name for name, _ in failed})
            raise ServingError(
                Code.UNKNOWN,
                f"{models} model(s) did not become available: "
                f"{{{''.join(f'{entry}, ' for _, entry in failed)}}}",
            )

    def _failures(self, model_name: str) -> list[tuple[str, str]]:
        """``(model, TF Serving's description)`` of each failed version of a model that
        has no AVAILABLE version; empty when it serves (or is still waiting for a folder)."""
        route = self._routing.snapshot.models.get(model_name)
        if route is None or route.latest is not None:
            return []
        return [
            (
                model_name,
                f"{{{{name: {model_name} version: {version}}} due to error: "
                f"{status.error_code.name}: {status.error}}}",
            )
            for version, status in sorted(route.statuses.items())
            if status.state is VersionState.END and status.error is not None
        ]

    # --- the step --------------------------------------------------------------------------

    async def handle(self, message: ApplyModelConfig | _CheckConfigFile) -> None:
        if isinstance(message, _CheckConfigFile):
            await self._check_config_file(always=message.always)
        else:
            await self._apply(message.settings)

    def check_labels(self, settings: ModelServerSettings) -> None:
        """FAILED_PRECONDITION if a label names a version of a served model that is not AVAILABLE.

        With ``--allow_version_labels_for_unavailable_models`` only an unused label may name
        such a version: moving a label that already points at another version still needs
        the new version AVAILABLE (TF Serving's ``server_core.cc``).
        """
        snapshot = self._routing.snapshot
        for model in settings.models:
            route = snapshot.models.get(model.name)
            if route is None or not route.servables:
                continue  # a new model: its labels apply once its versions are available
            previous = self.settings.model(model.name)
            current = previous.version_labels if previous is not None else {}
            for label, version in model.version_labels.items():
                moved = label in current and current[label] != version
                if self._allow_unavailable_labels and not moved:
                    continue
                status = route.statuses.get(version)
                if status is None or status.state is not VersionState.AVAILABLE:
                    raise failed_precondition(
                        f"Request to assign label to version {version} of model {model.name}, "
                        f"which is not currently available for inference (label {label!r})"
                    )

    def _with_resident(self, settings: ModelServerSettings) -> ModelServerSettings:
        """``settings`` plus the resident models; a name in both is a ``ConfigError``."""
        if self._resident is None:
            return settings
        return merge_model_lists(settings, self._resident)

    def check_platforms(self, settings: ModelServerSettings) -> None:
        """INVALID_ARGUMENT if a served model would change platform (TF Serving's wording)."""
        for model in settings.models:
            previous = self.settings.model(model.name)
            if previous is not None and previous.platform != model.platform:
                raise invalid_argument(
                    f"Illegal to change a model's platform. For model {model.name} platform was "
                    f"{previous.platform} and new platform requested is {model.platform}"
                )

    async def _apply(self, settings: ModelServerSettings) -> None:
        self.check_platforms(settings)
        self.check_labels(settings)
        previous = self.settings
        removed = set(previous.names) - set(settings.names)
        added = frozenset(settings.names) - frozenset(previous.names)
        self.settings = settings
        if self._on_change is not None:
            self._on_change(settings)
        for model in settings.models:
            self._manager.post(
                SetModelLabels(model_name=model.name, labels=dict(model.version_labels))
            )
        for name in removed:
            self._manager.post(RemoveModel(model_name=name))
        self._poller.post(SetModels(models=settings.models))
        log.info("model config applied: %d models (%d removed)", len(settings.models), len(removed))
        try:
            async with asyncio.timeout(self._settle_timeout_seconds):
                await self._poller.drain()
                await self._manager.drain()
                await asyncio.sleep(0)  # let the source adapter forward the scan
                await self._manager.drain()
                await self._manager.wait_settled()
        except TimeoutError:
            log.warning(
                "model config applied, but versions are still loading after %ss",
                self._settle_timeout_seconds,
            )
        self.check_models_available(added)

    # --- config file polling -----------------------------------------------------------------

    async def on_start(self) -> None:
        if self._config_file is not None:
            self._last_text = _read(self._config_file)

    async def start(self) -> None:
        await super().start()
        if self._config_file is not None and self._poll_wait_seconds > 0:
            self.spawn(self._tick(), "config_file_ticker")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._poll_wait_seconds)
            self.post(_CheckConfigFile())

    async def _check_config_file(self, *, always: bool = False) -> None:
        assert self._config_file is not None
        text = _read(self._config_file)
        if text is None or (text == self._last_text and not always):
            return
        self._last_text = text
        try:
            settings = load_model_config(self._config_file, require_existing_base_path=False)
            await self._apply(self._with_resident(settings))
        except (ConfigError, ServingError) as error:
            log.error("ignoring the changed model config file: %s", error)


def _is_absolute(path: str) -> bool:
    """An absolute file path or a URI such as ``gs://bucket/model``."""
    return os.path.isabs(path) or "://" in path


def _read(path: str) -> str | None:
    try:
        with open(os.fspath(path), encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        log.error("cannot read model config file %s: %s", path, error)
        return None
