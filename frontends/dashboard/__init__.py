"""The web dashboard at ``/`` on the REST port: static page plus its JSON endpoints.

- ``GET /`` and ``GET /dashboard/static/{file}``: the framework-free page
  (``static/index.html``, ``app.js``, ``style.css``), all served from this package (no CDN).
- ``GET /dashboard/api/models``: every configured or routed model with platform, base path,
  labels and its versions' states (with the error of a failed load), plus the latest
  metrics point of each model. The page polls it every 2 s.
- ``GET /dashboard/api/models/{name}/versions/{version}/signatures``: that version's
  signatures, inputs and outputs with dtype names and shapes (404 when not available).
- ``GET /dashboard/api/metrics?model=NAME``: that model's series over the last minutes.
- ``GET /dashboard/api/server``: version, uptime, flags in effect, config-reload state.
- ``GET /dashboard/api/shadows``: ``--shadow_config_file``'s rules (passed in as
  ``shadow_rules``) and, per (model, primary version, shadow version), mirrored runs,
  failures, argmax agreement, largest difference and the shadow's latency since start-up
  (``frontends.dashboard.shadows``).
- ``GET /dashboard/api/capture``: per model, its ``logging_config`` and the request-log
  records and bytes written and records dropped since start-up
  (``frontends.dashboard.capture``).

Metrics are read from the server's own Prometheus registry (the same series ``/metrics``
exports), never counted a second time. ``MetricsHistory`` samples the registry lazily: an
API call takes a new sample when the last one is older than ``SAMPLE_INTERVAL_SECONDS``,
so nothing runs while no page is open, and keeps ``HISTORY_SAMPLES`` of them. A point
between two samples holds, per model: requests/s, errors/s (non-OK statuses), p50 and p99
latency in ms (interpolated in the histogram's buckets from the increase of each bucket),
the mean input batch size and the queue depth (rows waiting in the batcher at the later
sample, from the ``aioserving_batch_queue_depth`` gauge); the last two only when
batching is on. The dashboard's own requests are not counted. Inference never waits on the dashboard: the handlers do no I/O and share the
event loop only for the length of a registry collection.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, Final

from aiohttp import web
from prometheus_client import CollectorRegistry

from actors.routing import RoutingTable
from config.model_config import ModelServerSettings
from config.shadow_config import ShadowRule
from frontends.dashboard.capture import capture_summary
from frontends.dashboard.histogram import quantile_ms
from frontends.dashboard.shadows import shadow_summary
from protocol.dtypes import dtype_name
from protocol.signatures import Signature, TensorSpec

SAMPLE_INTERVAL_SECONDS: Final = 1.0
HISTORY_SAMPLES: Final = 300
_REQUEST_COUNT = ":tensorflow:serving:request_count"
_REQUEST_LATENCY = ":tensorflow:serving:request_latency"
_BATCH_SIZE = ":tensorflow:serving:batching_session:input_batch_size"
_QUEUE_DEPTH = "aioserving_batch_queue_depth"
_STATIC_FILES: Final = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "style.css": "text/css",
}


@dataclasses.dataclass(slots=True)
class _ModelCounters:
    ok: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = dataclasses.field(default_factory=dict)
    batch_sum: float = 0.0
    batch_count: float = 0.0
    queue_depth: float | None = None


def read_counters(registry: CollectorRegistry) -> dict[str, _ModelCounters]:
    """The cumulative per-model counters the dashboard derives its points from."""
    models: dict[str, _ModelCounters] = collections.defaultdict(_ModelCounters)
    for metric in registry.collect():
        if metric.name == _REQUEST_COUNT:
            for sample in metric.samples:
                counters = models[sample.labels["model_name"]]
                if sample.labels["status"] == "OK":
                    counters.ok += sample.value
                else:
                    counters.errors += sample.value
        elif metric.name == _REQUEST_LATENCY:
            for sample in metric.samples:
                if sample.name.endswith("_bucket"):
                    buckets = models[sample.labels["model_name"]].buckets
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
        elif metric.name == _BATCH_SIZE:
            for sample in metric.samples:
                counters = models[sample.labels["model_name"]]
                if sample.name.endswith("_sum"):
                    counters.batch_sum += sample.value
                elif sample.name.endswith("_count"):
                    counters.batch_count += sample.value
        elif metric.name == _QUEUE_DEPTH:
            for sample in metric.samples:
                models[sample.labels["model_name"]].queue_depth = sample.value
    models.pop("", None)  # malformed URLs carry no model
    return dict(models)


def point(before: _ModelCounters, after: _ModelCounters, seconds: float) -> dict[str, float | None]:
    requests = (after.ok + after.errors) - (before.ok + before.errors)
    batches = after.batch_count - before.batch_count
    return {
        "rps": requests / seconds,
        "eps": (after.errors - before.errors) / seconds,
        "p50": quantile_ms(before.buckets, after.buckets, 0.5),
        "p99": quantile_ms(before.buckets, after.buckets, 0.99),
        "batch": (after.batch_sum - before.batch_sum) / batches if batches > 0 else None,
        "queue": after.queue_depth,
    }


class MetricsHistory:
    """Lazily sampled registry counters and the points between them (see the module doc)."""

    def __init__(
        self, registry: CollectorRegistry, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._samples: collections.deque[tuple[float, dict[str, _ModelCounters]]] = (
            collections.deque(maxlen=HISTORY_SAMPLES)
        )
        self._points: collections.deque[tuple[float, dict[str, dict[str, float | None]]]] = (
            collections.deque(maxlen=HISTORY_SAMPLES)
        )

    def refresh(self) -> None:
        now = self._clock()
        if self._samples and now - self._samples[-1][0] < SAMPLE_INTERVAL_SECONDS:
            return
        counters = read_counters(self._registry)
        if self._samples:
            then, previous = self._samples[-1]
            empty = _ModelCounters()
            self._points.append(
                (
                    now,
                    {
                        name: point(previous.get(name, empty), value, now - then)
                        for name, value in counters.items()
                    },
                )
            )
        self._samples.append((now, counters))

    def latest(self) -> dict[str, dict[str, float | None]]:
        return self._points[-1][1] if self._points else {}

    def series(self, model: str) -> dict[str, Any]:
        now = self._clock()
        return {
            "t": [round(t - now, 2) for t, _ in self._points],
            "points": [points.get(model) for _, points in self._points],
        }


def _spec_json(spec: TensorSpec) -> dict[str, Any]:
    return {
        "name": spec.alias,
        "dtype": dtype_name(spec.dtype),
        "shape": None if spec.shape is None else list(spec.shape),
    }


def signature_json(signature: Signature) -> dict[str, Any]:
    return {
        "name": signature.name,
        "method": signature.method_name,
        "inputs": [_spec_json(spec) for _, spec in sorted(signature.inputs.items())],
        "outputs": [_spec_json(spec) for _, spec in sorted(signature.outputs.items())],
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class Dashboard:
    """The page and its JSON endpoints; ``routes()`` gives them to the REST frontend."""

    def __init__(
        self,
        *,
        routing: RoutingTable,
        settings: Callable[[], ModelServerSettings],
        registry: CollectorRegistry,
        server_info: Callable[[], dict[str, Any]],
        shadow_rules: Sequence[ShadowRule] = (),
    ) -> None:
        self._routing = routing
        self._settings = settings
        self._registry = registry
        self._history = MetricsHistory(registry)
        self._server_info = server_info
        self._shadow_rules = tuple(shadow_rules)

    def routes(self) -> list[tuple[str, str, Callable[[web.Request], Any]]]:
        return [
            ("GET", "/", self._index),
            ("GET", "/dashboard/static/{file}", self._static),
            ("GET", "/dashboard/api/models", self._models),
            (
                "GET",
                "/dashboard/api/models/{name}/versions/{version:\\d+}/signatures",
                self._signatures,
            ),
            ("GET", "/dashboard/api/metrics", self._metrics),
            ("GET", "/dashboard/api/server", self._server),
            ("GET", "/dashboard/api/shadows", self._shadows),
            ("GET", "/dashboard/api/capture", self._capture),
        ]

    async def _index(self, request: web.Request) -> web.Response:
        return self._file("index.html")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["file"]
        if name not in _STATIC_FILES:
            raise web.HTTPNotFound(text=f"no dashboard file {name!r}")
        return self._file(name)

    @staticmethod
    def _file(name: str) -> web.Response:
        text = resources.files(__package__).joinpath("static", name).read_text()
        return web.Response(
            text=text, content_type=_STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
        )

    def models_json(self) -> list[dict[str, Any]]:
        snapshot = self._routing.snapshot
        configured = {model.name: model for model in self._settings().models}
        latest = self._history.latest()
        rows = []
        for name in sorted(set(configured) | set(snapshot.models)):
            route = snapshot.models.get(name)
            model = configured.get(name)
            statuses = route.statuses if route is not None else {}
            labels = (
                dict(route.labels)
                if route is not None and route.labels
                else dict(model.version_labels)
                if model
                else {}
            )
            rows.append(
                {
                    "name": name,
                    "platform": model.platform if model is not None else "",
                    "base_path": str(model.base_path) if model is not None else "",
                    "labels": labels,
                    "versions": [
                        {"version": v, "state": statuses[v].state.name, "error": statuses[v].error}
                        for v in sorted(statuses, reverse=True)
                    ],
                    "metrics": latest.get(name),
                }
            )
        return rows

    async def _models(self, request: web.Request) -> web.Response:
        self._history.refresh()
        return web.json_response({"models": self.models_json()})

    async def _signatures(self, request: web.Request) -> web.Response:
        route = self._routing.snapshot.models.get(request.match_info["name"])
        servable = (
            route.servables.get(int(request.match_info["version"])) if route is not None else None
        )
        if servable is None:
            raise web.HTTPNotFound(text="that version is not available")
        signatures = [
            signature_json(s)
            for name, s in sorted(servable.signatures.items())
            if not name.startswith("__")
        ]
        return web.json_response({"platform": servable.platform, "signatures": signatures})

    async def _metrics(self, request: web.Request) -> web.Response:
        self._history.refresh()
        return web.json_response(self._history.series(request.query.get("model", "")))

    async def _server(self, request: web.Request) -> web.Response:
        return web.json_response(
            {key: _jsonable(value) for key, value in self._server_info().items()}
        )

    async def _shadows(self, request: web.Request) -> web.Response:
        return web.json_response(shadow_summary(self._registry, self._shadow_rules))

    async def _capture(self, request: web.Request) -> web.Response:
        models = capture_summary(self._registry, self._settings().models)
        return web.json_response({"models": models})
