"""The supervisor: the composition root. It builds every part, starts them, stops them.

Start order (each part is ready before the next starts):
  executor pool -> version manager -> source adapter -> path poller -> (first scan
  loaded) -> config reloader -> (worker link) -> batcher -> (tracing) -> request logger ->
  shadow mirror -> gRPC frontend -> REST frontend -> port file.
Stop order is the reverse, one loop over the started parts, because each part depends on
the ones started before it: frontends stop accepting and drain first (clients never see
an error from a stopped worker), then the shadow mirror, the request logger (which
flushes and closes its files) and tracing (which exports the spans still queued) finish,
then the batcher flushes what is queued, then the worker
link, the config reloader and the poller stop proposing versions, every version is
unloaded (after its in-flight requests), and only then do the executor threads exit.

Every part has the same shape: a constructor that does no I/O, ``start()`` that opens
its sockets and threads, ``stop(grace_seconds)``. ``wait_crashed()`` returns when any
actor, any of their background tasks, or a load/unload task dies of a bug, so
``server.py`` shuts down instead of serving with a dead part.

Readiness (``readiness()``, ``dataplane.readiness``) is computed from the routing
snapshot, the configured models and the drain flag that ``begin_drain()`` sets; the gRPC
health service answers from it. Authentication (``frontends.auth``) wraps both frontends
when credential files are configured; TLS comes from ``--ssl_config_file`` (gRPC) and
``--rest_ssl_config_file`` (REST).

The parts other than the frontends and the data plane are built by ``app.serving_core``
(one builder per part); the platforms, TensorFlow included, are registered in one table
in ``app.platforms``, each imported on its first load. Python models call other models
(Triton's BLS) through ``app.model_calls``. The frontends are built by
``app.frontend_wing``.
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

from actors.actor import Actor
from actors.messages import SetModelLabels
from app.access_log import access_logged
from app.frontend_wing import FrontendParts, build_frontends
from app.metrics import CONTENT_TYPE
from app.model_calls import DataPlaneCaller
from app.observability_wing import ObservabilityParts, build_observability
from app.port_file import write_port_file
from app.serving_core import build_serving_core
from app.worker_link import FanOutReloader, WorkerIdentity
from config.model_config import ModelServerSettings
from config.server_config import ServerConfig
from dataplane.dataplane import DataPlane
from dataplane.examples import ExampleAPIs
from dataplane.health import Health
from dataplane.readiness import Readiness, readiness
from dataplane.repository import Repository
from dataplane.v2 import V2Plane
from frontends.auth import Authenticator
from frontends.dashboard import Dashboard
from frontends.grpc_frontend import GrpcFrontend
from frontends.observed_requests import ObservedRequests
from frontends.rest_server import RestServer
from protocol.status import Code, ServingError
from protocol.versions import VersionState

log = logging.getLogger("aioserving")


class Part(Protocol):
    name: str

    async def start(self) -> None: ...
    async def stop(self, grace_seconds: float) -> None: ...


class Supervisor:
    """Owns every part; see the module docstring for the order."""

    def __init__(self, config: ServerConfig, worker: WorkerIdentity | None = None) -> None:
        options = config.options
        self.config = config
        self.options = options
        self.settings = config.models
        self.model_caller = DataPlaneCaller()  # bound to the data plane in start()
        self.core = core = build_serving_core(
            config,
            settings=lambda: self.settings,
            on_settings_changed=self._settings_changed,
            worker=worker,
            model_caller=self.model_caller,
        )
        self.routing, self.metrics, self.executor = core.routing, core.metrics, core.executor
        self.manager, self.effects, self.adapter = core.manager, core.effects, core.adapter
        self.poller, self.batcher, self.reloader = core.poller, core.batcher, core.reloader
        self.link = core.link
        # What the frontends report each request to: metrics, plus the access log if on.
        self.requests = access_logged(self.metrics, options.access_log_sample_rate)
        self.monitoring = config.monitoring
        batching = config.batching
        costs = core.costs
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
        self._started_at = time.monotonic()
        self._settings_applied_at = time.time()
        # The frontends: app.frontend_wing builds them from the flags over the planes above.
        dashboard = Dashboard(
            routing=self.routing,
            settings=lambda: self.settings,
            registry=self.metrics.registry,
            server_info=self._server_info,
            shadow_rules=config.shadows,
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
                metric_values=self.metrics.metric_values,
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

    def prepare_platforms(self) -> None:
        """Import each configured model's platform now (see ``LazyPlatform.prepare``).

        ``server.py`` calls it while TensorFlow's native start-up noise is filtered.
        """
        for platform in sorted({model.platform for model in self.settings.models}):
            prepared = self.core.platforms.get(platform)
            if prepared is not None:
                prepared.prepare()

    def begin_drain(self) -> None:
        """Readiness turns false from now on; everything keeps serving until ``stop``."""
        self.draining = True

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

    @property
    def actors(self) -> list[Actor[object]]:
        parts: list[object] = [self.manager, self.adapter, self.poller, self.reloader, self.batcher]
        return [part for part in parts if isinstance(part, Actor)]

    async def _start(self, part: Part) -> None:
        await part.start()
        self._started.append(part)

    async def start(self) -> None:
        for warning in self.config.warnings:
            log.warning("%s", warning)
        if self.config.custom_op_paths:
            # Before anything can load a model: a graph using a custom op fails without it.
            from servables.tensorflow.custom_ops import load_custom_ops

            load_custom_ops(self.config.custom_op_paths)
        await self._start(self.executor)
        # Python models may call other models from initialize() on: bind before loading.
        self.model_caller.bind(self.plane, asyncio.get_running_loop())
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
        self.v2.close()  # unmap the shared memory regions, once no frontend can use them
        log.info("server stopped")


async def _crash_of(task: asyncio.Task[None]) -> BaseException:
    """Returns ``task``'s error once it failed; never returns if it ends or is cancelled."""
    await asyncio.wait([task])
    if task.cancelled() or task.exception() is None:
        await asyncio.get_running_loop().create_future()  # stopped on purpose: not a crash
    error = task.exception()
    assert error is not None
    return error
