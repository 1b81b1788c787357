"""Prometheus metrics with TF Serving's names, in one registry created at start-up.

``ServerMetrics`` owns a ``CollectorRegistry`` (never the global one) and implements the
observer hooks that the frontends, the batcher and the version manager call. Series, with
TF Serving's names where the concept is the same (TF Serving exports
``/tensorflow/serving/x`` as ``:tensorflow:serving:x``):

- ``:tensorflow:serving:request_count{model_name,status}`` — requests by final status
  ("OK" or the code name). Both gRPC and REST are counted.
- ``:tensorflow:serving:request_latency{model_name,API,entrypoint}`` — histogram, µs,
  of successful requests only (as TF Serving records it). The labels are TF Serving's
  (``prediction_service_impl.cc``, ``http_server.cc``): ``entrypoint`` is the transport
  (``GRPC``, ``REST``; ``V2`` for the Open Inference Protocol, which TF Serving lacks) and
  ``API`` the call (gRPC's method name, ``Predict``; REST's verb, ``predict``, or
  ``metadata``, or ``""`` for a status request, as TF Serving's REST handler names them).
- ``:tensorflow:serving:batching_session:queuing_latency{model_name}`` — histogram, µs
  from enqueue to batch dispatch.
- ``:tensorflow:serving:batching_session:input_batch_size{model_name}`` and
  ``...:processed_batch_size{model_name}`` — rows before and after padding, histograms.
- ``:tensorflow:serving:batching_session:padding_size{model_name}`` — padding rows.
- ``aioserving_batch_queue_depth{model_name}`` — gauge: rows waiting in the batcher's
  queues (batches formed or filling, not yet dispatched), every version of the model
  together. TF Serving exports no queue-depth series (only queuing delays), hence our own
  prefix. Only models that reach the batcher (configured ones, with batching on) appear.
- ``:tensorflow:cc:saved_model:load_latency{model_name}`` — histogram, µs per load.
- ``:tensorflow:cc:saved_model:load_attempt_count{model_name,status}`` — attempts.
- ``:tensorflow:serving:model_warmup_latency{model_name}`` — histogram, µs.
- ``aioserving_auth_failures_total{API,reason}`` — requests refused for missing or
  invalid credentials (``reason``: ``missing`` / ``invalid``; ``API``: ``grpc`` / ``rest``).
- ``process_*`` and ``python_*`` — the process and runtime collectors.
- ``aioserving_request_log_*`` (``app.request_log_metrics``) and ``aioserving_shadow_*``
  (``app.shadow_metrics``): request logging and shadow versions, as ``request_log`` and
  ``shadow``, the observers to pass to ``RequestLogger`` and ``ShadowMirror``.

Besides the registry, ``model_stats(name)`` keeps a small per-model tally of inference
calls (Predict, Classify, Regress, MultiInference, V2 ModelInfer; success and failure
counts and wall time in ns, the last success's wall-clock time) and of batches run, for
the V2 statistics extension; it is not exported to Prometheus.

Counters keep TF Serving's exact sample names (no ``_total`` suffix, which
prometheus-client would add), so existing queries and dashboards keep working, and are
declared ``# TYPE <name> counter`` as TF Serving declares them: prometheus-client cannot
render that pair itself, so ``exposition()`` renders the text format and
``declare_exact_counters`` rewrites those families' lines (the worker merge calls it too).

Label values never grow with what clients send: a request naming a model that is not in
the served configuration (``model_known`` says which are) is counted under the model
name ``UNKNOWN_MODEL_LABEL`` (``"__unknown__"``), and every label value is cut to
``MAX_LABEL_CHARS``. So ``/metrics`` stays the same size under random model names.

``observe`` (every request) looks up what a request touches once per (model name, API,
entrypoint, status): the request counter's cell, the latency histogram's child and the
model's tally, kept together in a ``_RequestSeries``. Only configured names are kept, so
the cache is bounded by the models configured (times the few APIs, entrypoints and
codes), never by what clients send, and never holds more than ``MAX_CACHED_SERIES``
(without ``model_known``, every name counts as configured); a kept name is checked against ``model_known`` again
once it is ``RECHECK_KNOWN_SECONDS`` old, so a model removed from the configuration is
counted as unknown from then on. The cached path reads no lock: request observers run on
the event loop only.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

from app.request_log_metrics import RequestLogMetrics
from app.shadow_metrics import ShadowMetrics
from frontends.observer import Details
from protocol.status import Code

CONTENT_TYPE = CONTENT_TYPE_LATEST

UNKNOWN_MODEL_LABEL = "__unknown__"
"""The ``model_name`` label of requests naming a model that is not configured (or none)."""
MAX_LABEL_CHARS = 256
"""Longest label value; longer ones (a configured model's long name) are cut."""

RECHECK_KNOWN_SECONDS = 1.0
"""How long a cached request series trusts that its model is still configured."""
MAX_CACHED_SERIES = 1024
"""The most request series ``observe`` keeps; past it, a new one is looked up every time."""

# Microsecond buckets from 10 µs to ~100 s, a factor of ~2.5 apart (TF Serving uses
# exponential buckets for its latency histograms as well).
_LATENCY_BUCKETS_MICROS = tuple(float(10 * 2.5**i) for i in range(18))
_BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class _Cell:
    """One labelled value of an ``_ExactNameCounter``."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0


class _ExactNameCounter:
    """A labelled counter exposed under its exact name (see the module docstring)."""

    def __init__(self, name: str, documentation: str, label_names: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = label_names
        self._cells: dict[tuple[str, ...], _Cell] = {}
        self._lock = threading.Lock()

    def cell(self, *label_values: str) -> _Cell:
        """The value for ``label_values``, created at 0; its holder may add to it directly."""
        found = self._cells.get(label_values)
        if found is None:
            with self._lock:
                found = self._cells.setdefault(label_values, _Cell())
        return found

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        cell = self.cell(*label_values)
        with self._lock:
            cell.value += amount

    def value(self, *label_values: str) -> float:
        found = self._cells.get(label_values)
        return found.value if found is not None else 0.0

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.name, self.documentation, "unknown")
        with self._lock:
            items = [(labels, cell.value) for labels, cell in self._cells.items()]
        for labels, value in items:
            metric.add_sample(self.name, dict(zip(self.label_names, labels, strict=True)), value)
        yield metric


EXACT_COUNTER_NAMES = (
    ":tensorflow:serving:request_count",
    ":tensorflow:cc:saved_model:load_attempt_count",
)
"""The counters exposed under their exact names (``_ExactNameCounter``)."""


def declare_exact_counters(exposition: bytes) -> bytes:
    """``exposition`` with the exact-name counters declared ``counter``, samples unrenamed.

    Idempotent. It accepts both renderings prometheus-client produces for such a family:
    ``untyped`` with the exact sample name (``ServerMetrics``), and ``counter`` with
    ``_total`` appended (a family that went through the text parser, as the worker merge
    does).
    """
    text = exposition.decode("utf-8")
    for name in EXACT_COUNTER_NAMES:
        total = f"{name}_total"
        text = text.replace(f"# HELP {total} ", f"# HELP {name} ")
        text = text.replace(f"# TYPE {total} counter\n", f"# TYPE {name} counter\n")
        text = text.replace(f"# TYPE {name} untyped\n", f"# TYPE {name} counter\n")
        text = text.replace(f"\n{total}{{", f"\n{name}{{").replace(f"\n{total} ", f"\n{name} ")
    return text.encode("utf-8")


_REST_API_NAMES = {
    "Predict": "predict",
    "Classify": "classify",
    "Regress": "regress",
    "GetModelMetadata": "metadata",
    "GetModelStatus": "",
}
"""TF Serving's REST handler names the call by the URL's verb (``http_rest_api_handler.cc``
``ProcessRequest``'s ``method``): none for a status request."""

_TRANSPORTS = {"grpc": "GRPC", "rest": "REST", "v2": "V2"}


def request_latency_labels(api: str, entrypoint: str) -> tuple[str, str]:
    """TF Serving's ``(API, entrypoint)`` labels for a frontend's ``(api, entrypoint)``.

    Frontends report their transport as ``api`` and the call as ``entrypoint``; TF Serving
    labels the other way round (``RecordRequestLatency(model, /*api=*/"Predict",
    /*entrypoint=*/"GRPC")``).
    """
    transport = _TRANSPORTS.get(api, api.upper())
    call = _REST_API_NAMES.get(entrypoint, entrypoint) if api == "rest" else entrypoint
    return call[:MAX_LABEL_CHARS], transport[:MAX_LABEL_CHARS]


INFERENCE_ENTRYPOINTS = frozenset(
    {"Predict", "Classify", "Regress", "MultiInference", "ModelInfer"}
)


@dataclasses.dataclass(slots=True)
class ModelStats:
    """Inference tally of one model (every version together)."""

    success_count: int = 0
    success_ns: int = 0
    fail_count: int = 0
    fail_ns: int = 0
    batch_count: int = 0
    last_inference_ms: int = 0


@dataclasses.dataclass(slots=True, kw_only=True)
class _RequestSeries:
    """What a request of one (model name, API, entrypoint, status) updates, looked up once."""

    count: _Cell
    latency: Histogram | None
    """The latency histogram's child: successful requests only, as TF Serving records."""
    stats: ModelStats | None
    """The model's tally: inference calls of a configured model only."""
    ok: bool
    checked_at: float
    """When ``model_known`` last said the model is configured (monotonic seconds)."""


_RequestKey = tuple[str, str, str, Code]


class ServerMetrics:
    """Every metric of the server; pass it to the parts that observe."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        model_known: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``model_known(name)``: whether requests for ``name`` get their own label value
        (the supervisor passes "is configured"); without it every name is known (tests).
        ``clock``: monotonic seconds, for ``RECHECK_KNOWN_SECONDS``."""
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._model_known = model_known
        self._clock = clock
        self._children: dict[tuple[int, tuple[str, ...]], Histogram] = {}
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.request_count = _ExactNameCounter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ("model_name", "status"),
        )
        self.registry.register(self.request_count)
        self.request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for TensorFlow Serving requests.",
            ("model_name", "API", "entrypoint"),
            registry=self.registry,
            buckets=_LATENCY_BUCKETS_MICROS,
        )
        self.queuing_latency = Histogram(
            ":tensorflow:serving:batching_session:queuing_latency",
            "Distribution of wall time (in microseconds) a request waits in the batch queue.",
            ("model_name",),
            registry=self.registry,
            buckets=_LATENCY_BUCKETS_MICROS,
        )
        self.input_batch_size = Histogram(
            ":tensorflow:serving:batching_session:input_batch_size",
            "Rows in each formed batch, before padding.",
            ("model_name",),
            registry=self.registry,
            buckets=_BATCH_SIZE_BUCKETS,
        )
        self.processed_batch_size = Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Rows in each batch the model ran, after padding.",
            ("model_name",),
            registry=self.registry,
            buckets=_BATCH_SIZE_BUCKETS,
        )
        self.padding_size = Histogram(
            ":tensorflow:serving:batching_session:padding_size",
            "Padding rows added to each batch.",
            ("model_name",),
            registry=self.registry,
            buckets=(0, *_BATCH_SIZE_BUCKETS),
        )
        self.batch_queue_depth = Gauge(
            "aioserving_batch_queue_depth",
            "Rows waiting in the batch queues (not yet dispatched), per model.",
            ("model_name",),
            registry=self.registry,
        )
        self._depth_children: dict[str, Gauge] = {}
        self.load_latency = Histogram(
            ":tensorflow:cc:saved_model:load_latency",
            "Latency in microseconds for SavedModels that were successfully loaded.",
            ("model_name",),
            registry=self.registry,
            buckets=_LATENCY_BUCKETS_MICROS,
        )
        self.load_attempt_count = _ExactNameCounter(
            ":tensorflow:cc:saved_model:load_attempt_count",
            "The number of times a SavedModel load was attempted, by status.",
            ("model_name", "status"),
        )
        self.registry.register(self.load_attempt_count)
        self.warmup_latency = Histogram(
            ":tensorflow:serving:model_warmup_latency",
            "Distribution of wall time (in microseconds) for warming up a model version.",
            ("model_name",),
            registry=self.registry,
            buckets=_LATENCY_BUCKETS_MICROS,
        )
        self.auth_failures = Counter(
            "aioserving_auth_failures",
            "Requests refused for missing or invalid credentials.",
            ("API", "reason"),
            registry=self.registry,
        )
        self._stats: dict[str, ModelStats] = {}
        self._series: dict[_RequestKey, _RequestSeries] = {}
        # Request logging and shadow versions: their series live in their own modules.
        self.request_log = RequestLogMetrics(self.registry, model_label=self.model_label)
        self.shadow = ShadowMetrics(self.registry, model_label=self.model_label)

    def model_stats(self) -> dict[str, ModelStats]:
        """A copy of every model's inference tally (see the module docstring)."""
        return {name: dataclasses.replace(stats) for name, stats in self._stats.items()}

    def _tally(self, model_name: str) -> ModelStats:
        stats = self._stats.get(model_name)
        if stats is None:
            stats = self._stats[model_name] = ModelStats()
        return stats

    # --- RequestObserver (frontends) ---------------------------------------------------

    def _child(self, histogram: Histogram, *labels: str) -> Histogram:
        """``histogram.labels(*labels)``, cached: ``labels()`` costs more than ``observe()``."""
        key = (id(histogram), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = histogram.labels(*labels)
        return child

    def observe(
        self,
        *,
        model_name: str,
        api: str,
        entrypoint: str,
        code: Code,
        seconds: float,
        details: Details | None = None,  # the access log's; metrics never need it
    ) -> None:
        key = (model_name, api, entrypoint, code)
        now = self._clock()
        series = self._series.get(key)
        if series is None or now - series.checked_at > RECHECK_KNOWN_SECONDS:
            series = self._request_series(key, now)
        series.count.value += 1  # on the event loop only (module docstring)
        if series.latency is not None:
            series.latency.observe(seconds * 1e6)
        stats = series.stats
        if stats is not None:
            if series.ok:
                stats.success_count += 1
                stats.success_ns += int(seconds * 1e9)
                stats.last_inference_ms = int(time.time() * 1000)
            else:
                stats.fail_count += 1
                stats.fail_ns += int(seconds * 1e9)

    def _request_series(self, key: _RequestKey, now: float) -> _RequestSeries:
        """The series of requests ``key`` names; kept for configured models only."""
        model_name, api, entrypoint, code = key
        label = self.model_label(model_name)
        ok = code is Code.OK
        series = _RequestSeries(
            count=self.request_count.cell(label, code.name),
            latency=(
                self._child(self.request_latency, label, *request_latency_labels(api, entrypoint))
                if ok
                else None
            ),
            stats=(
                self._tally(label)
                if entrypoint in INFERENCE_ENTRYPOINTS and label != UNKNOWN_MODEL_LABEL
                else None
            ),
            ok=ok,
            checked_at=now,
        )
        if label == UNKNOWN_MODEL_LABEL:
            self._series.pop(key, None)  # the model left the configuration, or never was in it
        elif key in self._series or len(self._series) < MAX_CACHED_SERIES:
            self._series[key] = series
        return series

    @property
    def cached_request_series(self) -> int:
        """How many request series ``observe`` keeps (bounded: see the module docstring)."""
        return len(self._series)

    def model_label(self, model_name: str) -> str:
        """The ``model_name`` label value for a request naming ``model_name``."""
        if not model_name or (self._model_known is not None and not self._model_known(model_name)):
            return UNKNOWN_MODEL_LABEL
        return model_name[:MAX_LABEL_CHARS]

    def auth_failed(self, api: str, reason: str) -> None:
        """A request was refused: ``reason`` is ``missing`` or ``invalid`` (never the credential)."""
        self.auth_failures.labels(api, reason).inc()

    # --- BatchObserver (batcher) ---------------------------------------------------------

    def queued(self, model_name: str, seconds: float) -> None:
        self._child(self.queuing_latency, model_name).observe(seconds * 1e6)

    def batch_formed(self, model_name: str, input_rows: int, padded_rows: int) -> None:
        self._child(self.input_batch_size, model_name).observe(input_rows)
        self._child(self.processed_batch_size, model_name).observe(padded_rows)
        self._child(self.padding_size, model_name).observe(padded_rows - input_rows)
        self._tally(model_name).batch_count += 1

    def queue_depth(self, model_name: str, rows: int) -> None:
        child = self._depth_children.get(model_name)
        if child is None:
            child = self._depth_children[model_name] = self.batch_queue_depth.labels(model_name)
        child.set(rows)

    # --- LoadObserver (version manager) -----------------------------------------------

    def load_attempt(self, model_name: str, succeeded: bool) -> None:
        self.load_attempt_count.inc(model_name, "OK" if succeeded else "FAILED")

    def load_latency_seconds(self, model_name: str, seconds: float) -> None:
        self.load_latency.labels(model_name).observe(seconds * 1e6)

    def warmup(self, model_name: str, seconds: float) -> None:
        self.warmup_latency.labels(model_name).observe(seconds * 1e6)

    def metric_values(self, names: Iterable[str]) -> dict[str, int]:
        """The first sample of each named metric, as an integer (0 when absent or empty).

        A name is TF Serving's (``/tensorflow/serving/request_count``) or its exported form
        (``:tensorflow:serving:request_count``): what a ``ReloadConfigRequest``'s
        ``metric_names`` hold (``model_service_impl.cc`` ``GetMetrics`` takes the first point).
        """
        wanted = {name: name.replace("/", ":") for name in names}
        firsts: dict[str, float] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == family.name or sample.name == f"{family.name}_total":
                    firsts.setdefault(family.name, sample.value)
                    break
        return {name: int(firsts.get(exported, 0)) for name, exported in wanted.items()}

    def exposition(self) -> bytes:
        return declare_exact_counters(generate_latest(self.registry))
