"""The model repository: list the configured models, load and unload them by request.

``dataplane.v2.V2Plane`` calls it for both V2 frontends (the Open Inference Protocol's
model repository extension: ``RepositoryIndex``, ``RepositoryModelLoad``,
``RepositoryModelUnload``). "The repository"
is the current model config: only configured models can be loaded or unloaded, and an
unknown name is NOT_FOUND. Nothing here reads the disk or keeps state of its own.

- ``unload``: the path poller marks the model unloaded by request and sends it an empty
  aspired set; the version manager unloads every version, each after its in-flight
  requests. The call returns once no version of the model is loading or unloading.
  Readiness (``dataplane.health``) ignores an unloaded model, as Triton does.
- ``load``: the mark is cleared and the model scanned at once; the call returns once its
  versions settled. It succeeds when the model then has an AVAILABLE version; otherwise
  it is FAILED_PRECONDITION "failed to load 'M': " with the load errors (or "no version found" when the base
  path holds none). Loading a served model is a rescan, not a reload.
- ``load`` with a configuration (the request's ``config`` parameter, parsed by the caller)
  overrides the model folder's ``config.pbtxt`` (``servables.triton_signature.
  CONFIG_OVERRIDES``) and reloads the model: every version unloads (after its in-flight
  requests), then loads reading the new configuration; requests in between are
  UNAVAILABLE. The override stays until a ``load`` without one, which clears it and
  reloads again from ``config.pbtxt``. Only a model on a local folder whose platform reads
  a Triton configuration (ONNX, PyTorch, Python) takes one; any other is
  INVALID_ARGUMENT, as is a configuration naming another platform. The override sets
  what the loader reads (tensors, ``max_batch_size``, ``dynamic_batching``, parameters);
  the versions served stay those of the repository's own version policy.
- How the mark meets the poller and config reloads is the poller's to say (see
  ``actors.path_poller``): the poller keeps the model at an empty set on every poll; a
  config change to its base path, platform or version policy, or its removal, clears it.
Both calls are bounded by ``timeout_seconds`` (the gRPC deadline when there is one); on
timeout they answer DEADLINE_EXCEEDED and the change carries on in the background.

``index`` lists every configured model (config order) and every other model the manager
still knows (one removed from the config whose versions are unloading): one row per
version, with Triton's states (READY, LOADING, UNLOADING, UNAVAILABLE) and the reason
(a load error, "unloaded"), and a single row without a version for a model with none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from actors.actor import Actor
from actors.path_poller import LoadModel, PathPoller, UnloadModel
from actors.routing import RoutingTable
from actors.version_manager import VersionManager
from config.triton_model_config import TritonModelConfig
from protocol.status import Code, ServingError, failed_precondition, invalid_argument, not_found
from protocol.v2_messages import IndexEntry
from protocol.versions import VersionState
from servables.triton_signature import CONFIG_OVERRIDES, READS_TRITON_CONFIG, ConfigOverrides

# Triton's model states.
_STATE = {
    VersionState.START: "LOADING",
    VersionState.LOADING: "LOADING",
    VersionState.AVAILABLE: "READY",
    VersionState.UNLOADING: "UNLOADING",
    VersionState.END: "UNAVAILABLE",
}
UNLOADED_REASON = "unloaded"


class Repository:
    """Index, load and unload over the poller, the source adapter and the version manager."""

    def __init__(
        self,
        *,
        poller: PathPoller,
        adapter: Actor[Any],
        manager: VersionManager,
        routing: RoutingTable,
        configured_models: Callable[[], Iterable[str]],
        timeout_seconds: float = 120.0,
        config_overrides: ConfigOverrides = CONFIG_OVERRIDES,
    ) -> None:
        self._poller = poller
        self._adapter = adapter
        self._manager = manager
        self._routing = routing
        self._configured_models = configured_models
        self._timeout_seconds = timeout_seconds
        self._overrides = config_overrides

    def index(self, *, ready_only: bool = False) -> list[IndexEntry]:
        models = self._routing.snapshot.models
        names = list(self._configured_models())
        names += [name for name in models if name not in names]
        unloaded = self._poller.unloaded
        entries: list[IndexEntry] = []
        for name in names:
            route = models.get(name)
            statuses = sorted(route.statuses.values(), key=lambda s: s.version) if route else []
            rows = [
                IndexEntry(
                    name=name,
                    version=str(status.version),
                    state=_STATE[status.state],
                    reason=status.error
                    or (UNLOADED_REASON if status.state is VersionState.END else ""),
                )
                for status in statuses
            ]
            if not rows:
                reason = UNLOADED_REASON if name in unloaded else "no version loaded"
                rows = [IndexEntry(name=name, version="", state="UNAVAILABLE", reason=reason)]
            entries += [row for row in rows if row.state == "READY" or not ready_only]
        return entries

    async def unload(self, model_name: str, timeout_seconds: float | None = None) -> None:
        await self._change(UnloadModel(model_name=model_name), timeout_seconds)

    async def load(
        self,
        model_name: str,
        timeout_seconds: float | None = None,
        config: TritonModelConfig | None = None,
    ) -> None:
        """Load (or rescan) ``model_name``; with ``config``, reload it under that
        configuration (see the module docstring)."""
        folder = self._overridable_folder(model_name, config)
        if folder is not None and (config is not None or self._overrides.get(folder)):
            loop = asyncio.get_running_loop()
            started = loop.time()
            await self._change(UnloadModel(model_name=model_name), timeout_seconds)
            self._overrides.set(folder, config)
            if timeout_seconds is not None:
                timeout_seconds = max(0.0, timeout_seconds - (loop.time() - started))
        await self._change(LoadModel(model_name=model_name), timeout_seconds)
        route = self._routing.snapshot.models.get(model_name)
        if route is not None and route.latest is not None:
            return
        errors = [
            f"version {s.version}: {s.error}"
            for s in (route.statuses.values() if route else ())
            if s.error and s.state is VersionState.END
        ]
        raise failed_precondition(
            f"failed to load '{model_name}': "
            + ("; ".join(errors) if errors else "no version found under its base path")
        )

    def _overridable_folder(self, model_name: str, config: TritonModelConfig | None) -> str | None:
        """The folder whose configuration ``config`` would override (None when the model
        cannot take one and none is given); INVALID_ARGUMENT when it cannot take ``config``."""
        model = self._poller.models.get(model_name)
        if model is None:
            raise not_found(f"model '{model_name}' is not in the model config")
        local = "://" not in model.base_path
        if model.platform not in READS_TRITON_CONFIG or not local:
            if config is None:
                return None
            raise invalid_argument(
                f"model '{model_name}' ({model.platform}, {model.base_path}) takes no "
                "configuration override: only ONNX, PyTorch and Python models on a local "
                "folder read a Triton configuration"
            )
        if config is not None and config.platform not in (None, model.platform):
            raise invalid_argument(
                f"the configuration names platform '{config.platform}' but model "
                f"'{model_name}' is '{model.platform}'"
            )
        return model.base_path

    async def _change(
        self, command: LoadModel | UnloadModel, timeout_seconds: float | None
    ) -> None:
        limit = (
            self._timeout_seconds
            if timeout_seconds is None
            else min(timeout_seconds, self._timeout_seconds)
        )
        verb = "load" if isinstance(command, LoadModel) else "unload"
        try:
            async with asyncio.timeout(limit):
                await self._poller.ask(command)  # NOT_FOUND for a model outside the config
                # The command's aspired set is now on its way: adapter, then manager.
                await self._adapter.drain()
                await self._manager.drain()
                await self._manager.wait_model_idle(command.model_name)
        except TimeoutError:
            raise ServingError(
                Code.DEADLINE_EXCEEDED,
                f"model '{command.model_name}': {verb} still in progress after {limit:g}s",
            ) from None
