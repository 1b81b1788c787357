"""The supervisor: the composition root. It builds every part, starts them, stops them.

Start order (each part is ready before the next starts):
  executor pool -> version manager -> source adapter -> path poller -> (first scan
  loaded) -> config reloader -> (worker link) -> batcher -> (tracing) -> request logger ->
  shadow mirror -> gRPC frontend -> REST frontend -> port file.
Stop order is the reverse, one loop over the started parts, because each part depends on
the ones started before it: frontends stop accepting and drain first (clients never see
an error from a stopped worker), then the config reloader and the poller stop proposing
versions, the batcher flushes what is queued, every version is unloaded (after its
in-flight requests), and only then do the executor threads exit.

Every part has the same shape: a constructor that does no I/O, ``start()`` that opens
its sockets and threads, ``stop(grace_seconds)``. ``wait_crashed()`` returns when any
actor, any of their background tasks, or a load/unload task dies of a bug, so
``server.py`` shuts down instead of serving with a dead part.

Readiness (``readiness()``, ``dataplane.readiness``) is computed from the routing
snapshot, the configured models and the drain flag that ``begin_drain()`` sets; the gRPC
health service answers from it. Authentication (``frontends.auth``) wraps both frontends
when credential files are configured; TLS comes from ``--ssl_config_file`` (gRPC) and
``--rest_ssl_config_file`` (REST).

This is the only module that knows every platform: it registers the TensorFlow loader
with the source adapter, and the ONNX, scikit-learn and XGBoost ones from
``app.platforms`` (each imported lazily, on its first load).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from tensorflow.core.protobuf import config_pb2

from actors.actor import Actor
from actors.batcher import Batcher
from actors.call_costs import CallCosts
from actors.config_reloader import ConfigReloader
from actors.executor_pool import ExecutorPool, ExecutorPoolOptions
from actors.load_effects import LoadRetryOptions, TaskEffectRunner
from actors.messages import SetModelLabels
from actors.object_store import ObjectStoreSource
from actors.path_poller import PathPoller
from actors.routing import RoutingTable
from actors.source_adapter import LoaderFactory, SourceAdapter
from actors.version_manager import ManagerOptions, VersionManager
from app.access_log import access_logged
from app.metrics import CONTENT_TYPE, ServerMetrics
from app.platforms import platform_factories
from app.port_file import write_port_file
from app.worker_link import FanOutReloader, WorkerIdentity, WorkerLink
from config.flags import AspiredVersionPolicy
from config.model_config import ModelServerSettings
from config.server_config import ServerConfig
from dataplane.dataplane import DataPlane
from dataplane.health import Health
from dataplane.repository import Repository
from dataplane.examples import ExampleAPIs
from dataplane.readiness import Readiness, readiness
from app.frontend_wing import FrontendParts, build_frontends
from app.observability_wing import ObservabilityParts, build_observability
from frontends.observed_requests import ObservedRequests
from dataplane.v2 import V2Plane
from frontends.auth import Authenticator
from frontends.dashboard import Dashboard
from frontends.grpc_frontend import GrpcFrontend
from frontends.rest_server import RestServer
from protocol.status import Code, ServingError
from protocol.versions import VersionState
from servables.loader import Loader
from servables.tensorflow.custom_ops import load_custom_ops
from servables.tensorflow.saved_model import SavedModelLoader, SavedModelOptions
from servables.tensorflow.session_options import tensorflow_session_config
from servables.servable import Servable
from servables.tensorflow.warmup import WarmupOptions, run_warmup

log = logging.getLogger("aioserving")


class Part(Protocol):
    name: str

    async def start(self) -> None: ...
    async def stop(self, grace_seconds: float) -> None: ...


def saved_model_options(
    config: ServerConfig, session: config_pb2.ConfigProto, metrics: ServerMetrics
) -> SavedModelOptions:
    """How SavedModel versions load (from the flags, or the platform config when given)."""
    return SavedModelOptions(
        tags=config.saved_model_tags,
        session_config=session,
        warmup=WarmupOptions(
            enabled=config.enable_model_warmup,
            iterations=config.num_request_iterations_for_warmup,
            check_method_names=config.options.enable_signature_method_name_check,
            observer=metrics.warmup,
        ),
        per_model_batching=config.per_model_batching,
    )


class Supervisor:
    """Owns every part; see the module docstring for the order."""

    def __init__(self, config: ServerConfig, worker: WorkerIdentity | None = None) -> None:
        options = config.options
        self.config = config
        self.options = options
        self.settings = settings = config.models
        self.routing = RoutingTable()
        # Only configured models get their own label value: clients cannot grow /metrics.
        self.metrics = ServerMetrics(model_known=lambda name: self.settings.model(name) is not None)
        # What the frontends report each request to: metrics, plus the access log if on.
        self.requests = access_logged(self.metrics, options.access_log_sample_rate)
        self.monitoring = config.monitoring
        session, session_warnings = tensorflow_session_config(
            config.session_config, gpu_fraction_from_flag=config.gpu_fraction_from_flag
        )
        self._warnings = (*config.warnings, *session_warnings)
        batching = config.batching
        inference_threads = max(
            options.executor_threads, batching.num_batch_threads if batching else 0
        )
        self.executor = ExecutorPool(
            ExecutorPoolOptions(
                inference_threads=inference_threads,
                load_threads=options.num_load_threads,
                unload_threads=options.num_unload_threads,
            )
        )
        self.manager = VersionManager(
            routing=self.routing,
            options=ManagerOptions(
                resource_preserving=options.aspired_version_policy
                is AspiredVersionPolicy.RESOURCE_PRESERVING,
                allow_labels_for_unavailable=options.allow_version_labels_for_unavailable_models,
            ),
        )
        self.effects = TaskEffectRunner(
            manager=self.manager,
            executor=self.executor,
            retry=LoadRetryOptions(
                max_num_load_retries=options.max_num_load_retries,
                load_retry_interval_micros=options.load_retry_interval_micros,
                load_timeout_micros=options.model_load_timeout_micros,
            ),
            observer=self.metrics,
        )
        self.manager.set_effect_runner(self.effects)
        self.adapter = SourceAdapter(
            platform_of=self._platform_of,
            factories={
                "tensorflow": self._saved_model_factory(session),
                **self._other_platforms(session),
            },
            send=self.manager.post,
        )
        self.poller = PathPoller(
            models=settings.models,
            send=self.adapter.post,
            poll_wait_seconds=float(options.file_system_poll_wait_seconds),
            object_store=ObjectStoreSource(cache_dir=options.model_cache_dir or None),
        )
        costs = CallCosts(options.inline_call_threshold_micros)
        self.batcher = (
            Batcher(executor=self.executor, settings=batching, observer=self.metrics, costs=costs)
            if batching
            else None
        )
        self.plane = DataPlane(
            routing=self.routing,
            executor=self.executor,
            batcher=self.batcher,
            batching=batching,
            costs=costs,
        )
        self.examples = ExampleAPIs(
            self.plane, check_method_names=options.enable_signature_method_name_check
        )
        self.reloader = ConfigReloader(
            settings=settings,
            poller=self.poller,
            manager=self.manager,
            routing=self.routing,
            allow_labels_for_unavailable=options.allow_version_labels_for_unavailable_models,
            config_file=str(options.model_config_file) if options.model_config_file else None,
            config_file_poll_wait_seconds=float(options.model_config_file_poll_wait_seconds),
            on_change=self._settings_changed,
        )
        configured = lambda: [m.name for m in self.settings.models]  # noqa: E731 - read at call time
        self.health = Health(
            routing=self.routing, readiness=self.readiness, configured_models=configured
        )
        self.repository = Repository(
            poller=self.poller,
            adapter=self.adapter,
            manager=self.manager,
            routing=self.routing,
            configured_models=configured,
        )
        self.v2 = V2Plane(
            plane=self.plane,
            health=self.health,
            repository=self.repository,
            stats=self.metrics.model_stats,
        )
        self.draining = False
        self.authenticator = Authenticator(config.auth) if config.auth.enabled else None
        # --workers > 1: this process is one worker; reloads and /metrics span all of them.
        polled = (
            options.model_config_file if options.model_config_file_poll_wait_seconds > 0 else None
        )
        self.link = (
            WorkerLink(
                worker,
                reloader=self.reloader,
                exposition=self.metrics.exposition,
                polled_config_file=polled,
            )
            if worker
            else None
        )
        self._started_at = time.monotonic()
        self._settings_applied_at = time.time()
        # The frontends: app.frontend_wing builds them from the flags over the planes above.
        dashboard = Dashboard(
            routing=self.routing,
            settings=lambda: self.settings,
            registry=self.metrics.registry,
            server_info=self._server_info,
        )
        # Tracing, request logging and shadows (app.observability_wing): started before the
        # frontends, stopped after them; the call wrappers reach them through the observer.
        self.observability = build_observability(
            config,
            ObservabilityParts(
                routing=self.routing,
                metrics=self.metrics,
                settings=lambda: self.settings,
                busy=lambda name: self.batcher is not None and self.batcher.waiting_rows(name) > 0,
            ),
        )
        self.plane.observe_with(self.observability)
        frontends = build_frontends(
            config,
            FrontendParts(
                plane=self.plane,
                examples=self.examples,
                v2=self.v2,
                observer=ObservedRequests(self.requests, self.observability),
                reloader=FanOutReloader(self.link, self.reloader) if self.link else self.reloader,
                readiness=self.readiness,
                authenticator=self.authenticator,
                on_auth_failure=self.metrics.auth_failed,
                metrics_paths=self._metrics_paths(),
                rest_routes=[
                    *[("GET", path, self._serve_metrics) for path in self._metrics_paths()],
                    *dashboard.routes(),
                ],
                reuse_port=worker is not None,
            ),
        )
        self.grpc: GrpcFrontend | None = frontends.grpc
        self.rest: RestServer | None = frontends.rest
        self._started: list[Part] = []

    def readiness(self) -> Readiness:
        """Ready: every configured model has an AVAILABLE version and no drain has begun.

        A model unloaded through the V2 repository API does not count (as in Triton).
        """
        unloaded = self.poller.unloaded
        names = [model.name for model in self.settings.models if model.name not in unloaded]
        return readiness(self.routing.snapshot, names, self.draining)

    def begin_drain(self) -> None:
        """Readiness turns false from now on; everything keeps serving until ``stop``."""
        self.draining = True

    def _saved_model_factory(self, session: config_pb2.ConfigProto) -> LoaderFactory:
        loading = saved_model_options(self.config, session, self.metrics)

        def make(model_name: str, version: int, path: str) -> Loader:
            return SavedModelLoader(
                model_name=model_name, version=version, path=path, options=loading
            )

        return make

    def _other_platforms(self, session: config_pb2.ConfigProto) -> dict[str, LoaderFactory]:
        warmup = saved_model_options(self.config, session, self.metrics).warmup

        def replay(servable: Servable, path: str) -> None:
            run_warmup(servable, path, warmup)

        return platform_factories(
            self.options, per_model_batching=self.config.per_model_batching, warmup=replay
        )

    def _settings_changed(self, settings: ModelServerSettings) -> None:
        self.settings = settings
        self._settings_applied_at = time.time()
        self.observability.request_logger.configure(settings.models)

    def _server_info(self) -> dict[str, Any]:
        """What the dashboard's server panel shows."""
        try:
            version = metadata.version("aioserving")
        except metadata.PackageNotFoundError:
            version = "unknown (not installed)"
        options = self.options
        return {
            "version": version,
            "uptime_seconds": round(time.monotonic() - self._started_at, 1),
            "flags": {
                field.name: getattr(options, field.name) for field in dataclasses.fields(options)
            },
            "config": {
                "source": self.settings.source,
                "model_config_file": options.model_config_file,
                "poll_seconds": options.model_config_file_poll_wait_seconds,
                "last_applied_unix": self._settings_applied_at,
                "models": len(self.settings.models),
            },
        }

    def _platform_of(self, model_name: str) -> str:
        model = self.settings.model(model_name)
        return model.platform if model is not None else "tensorflow"

    @property
    def actors(self) -> list[Actor[object]]:
        parts: list[object] = [self.manager, self.adapter, self.poller, self.reloader, self.batcher]
        return [part for part in parts if isinstance(part, Actor)]

    async def _start(self, part: Part) -> None:
        await part.start()
        self._started.append(part)

    async def start(self) -> None:
        for warning in self._warnings:
            log.warning("%s", warning)
        # Before anything can load a model: a graph using a custom op fails without it.
        load_custom_ops(self.config.custom_op_paths)
        await self._start(self.executor)
        for actor in (self.manager, self.adapter, self.poller):
            await self._start(actor)
        for model in self.settings.models:
            self.manager.post(
                SetModelLabels(model_name=model.name, labels=dict(model.version_labels))
            )
        for actor in (self.poller, self.adapter, self.manager):
            await actor.drain()
        await self.manager.wait_settled()
        unavailable = self._failed_at_startup()
        if unavailable and self.options.exit_on_load_failure:
            # TF Serving's ServerCore::Create fails the same way (server_core.cc).
            raise ServingError(
                Code.UNKNOWN,
                f"{len(unavailable)} servable(s) did not become available: "
                f"{{{', '.join(unavailable)}, }}",
            )
        await self._start(self.reloader)
        if self.link is not None:  # applies a config reloaded while this worker was away
            await self._start(self.link)
        if self.batcher is not None:
            await self._start(self.batcher)
        for observing in self.observability.parts:
            await self._start(observing)
        ports: dict[str, int | None] = {"grpc": None, "rest": None}
        if self.grpc is not None:
            await self._start(self.grpc)
            ports["grpc"] = self.grpc.port
            log.info("Running gRPC ModelServer at 0.0.0.0:%d ...", self.grpc.port)
        if self.rest is not None:
            await self._start(self.rest)
            ports["rest"] = self.rest.port
            log.info("Exporting HTTP/REST API at:0.0.0.0:%d ...", self.rest.port)
        if self.options.port_file is not None:
            write_port_file(Path(self.options.port_file), ports)

    def _failed_at_startup(self) -> list[str]:
        """Each configured version whose first load failed, in TF Serving's words."""
        routing = self.routing.snapshot
        failed: list[str] = []
        for model in self.settings.models:
            route = routing.models.get(model.name)
            if route is None:
                continue
            for version, status in sorted(route.statuses.items()):
                if status.state is VersionState.END and status.error is not None:
                    failed.append(
                        f"{{{{name: {model.name} version: {version}}} due to error: "
                        f"{status.error_code.name}: {status.error}}}"
                    )
        return failed

    def _metrics_paths(self) -> list[str]:
        """``/metrics`` always; also the monitoring config's path, as TF Serving serves it."""
        paths = ["/metrics"]
        if self.monitoring.prometheus_enabled and self.monitoring.prometheus_path not in paths:
            paths.append(self.monitoring.prometheus_path)
        return paths

    async def _serve_metrics(self, request: web.Request) -> web.Response:
        body = await self.link.merged_exposition() if self.link else self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def wait_crashed(self) -> BaseException:
        """Returns the error once any actor, background task or load/unload task died."""
        watchers = [
            asyncio.ensure_future(actor.wait_crashed())
            for actor in self.actors
            if actor.task is not None
        ]
        watchers.append(asyncio.ensure_future(self.effects.wait_crashed()))
        logger_task = self.observability.request_logger.task
        if logger_task is not None:  # a bug in the request logger stops the server too
            watchers.append(asyncio.ensure_future(_crash_of(logger_task)))
        try:
            done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
            return next(iter(done)).result()
        finally:
            for watcher in watchers:
                watcher.cancel()

    async def stop(self, grace_seconds: float) -> None:
        """Stop every started part in reverse order; log and continue past failures."""
        for part in reversed(self._started):
            try:
                await part.stop(grace_seconds)
            except Exception:  # keep unwinding the rest
                log.exception("stopping %s failed", part.name)
        self._started.clear()
        log.info("server stopped")


async def _crash_of(task: asyncio.Task[None]) -> BaseException:
    """Returns ``task``'s error once it failed; never returns if it ends or is cancelled."""
    await asyncio.wait([task])
    if task.cancelled() or task.exception() is None:
        await asyncio.get_running_loop().create_future()  # stopped on purpose: not a crash
    error = task.exception()
    assert error is not None
    return error
