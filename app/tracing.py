"""OpenTelemetry tracing, configured the standard way, and the request path's small API.

``tracing_from_environment()`` returns ``None`` (tracing off) unless
``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (and
``OTEL_SDK_DISABLED`` is not ``true``, and ``OTEL_TRACES_EXPORTER`` is not ``none``).
When off, OpenTelemetry is not even imported, and the request path, which holds a
``Tracing | None``, does no tracing work beyond that one ``is None`` test.

When on, the OpenTelemetry SDK does the configuring, from the usual variables:

- the exporter: OTLP over ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` or
  ``OTEL_EXPORTER_OTLP_PROTOCOL``: ``http/protobuf`` (the specification's default) or
  ``grpc``; anything else is a ``ValueError`` naming the variable. The SDK's exporters
  read the endpoint (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` used as the full URL;
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` with ``/v1/traces`` appended for HTTP), headers,
  timeout, compression and certificates themselves. ``OTEL_TRACES_EXPORTER`` may be
  ``otlp`` (the default) or ``console`` (spans printed to stdout, for debugging).
- the sampler: ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``, read by the SDK's
  ``TracerProvider``; unset means ``parentbased_always_on``, so a ``traceparent`` whose
  flags say "not sampled" produces no spans.
- the resource: ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``; without a
  service name the service is called ``aioserving``.
- propagation: ``OTEL_PROPAGATORS`` (default W3C ``tracecontext,baggage``), used by
  ``context_from_http_headers`` and ``context_from_grpc_metadata``.
- batching: a ``BatchSpanProcessor`` (``OTEL_BSP_*``), which exports from its own
  thread, never on the event loop. ``shutdown()`` flushes what is still queued and
  blocks, so the server calls it from a thread at the end of its stop sequence.

The request path's API is ``Tracing.start_request(...)`` -> ``RequestTrace``: a span of
kind SERVER named after the API, whose attributes name the model (``ATTR_*``), with
child spans recorded live (``phase``: decoding, encoding) or after the fact from the
monotonic times the batcher measured (``record``: queue wait, batch, model execution).
The request's span is never made the current context, so nothing leaks between
asyncio tasks; children name it as their parent explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dataplane.observing import (  # the names the request path records; re-exported
    ATTR_BATCH_SIZE,
    SPAN_BATCH,
    SPAN_DECODE,
    SPAN_ENCODE,
    SPAN_MODEL_EXECUTION,
    SPAN_QUEUE_WAIT,
    AttributeValue,
)

__all__ = [
    "ATTR_BATCH_SIZE",
    "SPAN_BATCH",
    "SPAN_DECODE",
    "SPAN_ENCODE",
    "SPAN_MODEL_EXECUTION",
    "SPAN_QUEUE_WAIT",
    "AttributeValue",
    "RequestTrace",
    "Tracing",
    "context_from_grpc_metadata",
    "context_from_http_headers",
    "tracing_from_environment",
]

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
DEFAULT_PROTOCOL = "http/protobuf"
DEFAULT_SERVICE_NAME = "aioserving"
INSTRUMENTATION_NAME = "aioserving"

ATTR_MODEL_NAME = "model.name"
ATTR_MODEL_VERSION = "model.version"
ATTR_MODEL_SIGNATURE = "model.signature"
ATTR_API = "aioserving.api"
"""The API called, e.g. ``Predict``, ``Classify``, ``ModelInfer``, ``rest:predict``."""
ATTR_STATUS_CODE = "aioserving.status_code"


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for tracing (see the module docstring)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


def tracing_from_environment() -> Tracing | None:
    """A configured ``Tracing``, or None when the environment does not ask for tracing."""
    if not tracing_enabled():
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    return Tracing(provider)


def _exporter() -> Any:
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter_name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if exporter_name != "otlp":
        raise ValueError(
            f"OTEL_TRACES_EXPORTER={exporter_name!r} is not supported: use otlp, console or none"
        )
    variable, protocol = next(
        ((name, os.environ[name].strip()) for name in PROTOCOL_VARIABLES if os.environ.get(name)),
        ("", DEFAULT_PROTOCOL),
    )
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter()
    raise ValueError(f"{variable}={protocol!r} is not supported: use http/protobuf or grpc")


class Tracing:
    """The server's tracer provider and the helpers the request path calls.

    It has the supervisor's part shape: ``start()`` does nothing (the provider is ready
    when built) and ``stop(grace_seconds)`` runs ``shutdown`` in a thread, so start it
    first and it stops last, after every request span ended.
    """

    name = "tracing"

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer: Tracer = provider.get_tracer(INSTRUMENTATION_NAME)

    @property
    def provider(self) -> TracerProvider:
        return self._provider

    def start_request(
        self,
        name: str,
        *,
        parent: Context | None,
        api: str,
        model_name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> RequestTrace:
        """Begin a request's SERVER span; ``parent`` comes from ``context_from_*``."""
        from opentelemetry.trace import SpanKind

        span_attributes: dict[str, AttributeValue] = {ATTR_API: api, ATTR_MODEL_NAME: model_name}
        if attributes:
            span_attributes.update(attributes)
        span = self._tracer.start_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=span_attributes
        )
        return RequestTrace(self._tracer, span)

    def parent_from_grpc(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Context:
        """``context_from_grpc_metadata``, for the request path (``dataplane.observing``)."""
        return context_from_grpc_metadata(metadata)

    def parent_from_http(self, headers: Mapping[str, str]) -> Context:
        """``context_from_http_headers``, for the request path (``dataplane.observing``)."""
        return context_from_http_headers(headers)

    async def start(self) -> None:
        """Nothing to open: the exporter connects on its first export."""

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """``shutdown`` off the event loop: export what is queued, then stop."""
        await asyncio.to_thread(self.shutdown, grace_seconds)

    def shutdown(self, timeout_seconds: float = 10.0) -> None:
        """Export what is queued (blocking, up to ``timeout_seconds``) and stop exporting."""
        self._provider.force_flush(int(timeout_seconds * 1000))
        self._provider.shutdown()


def context_from_http_headers(headers: Mapping[str, str]) -> Context:
    """The remote parent named by ``traceparent``/``tracestate`` headers (any case)."""
    from opentelemetry.propagate import extract

    return extract(_LowerKeys(headers))


def context_from_grpc_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> Context:
    """The remote parent named by the gRPC metadata keys ``traceparent``/``tracestate``."""
    from opentelemetry.propagate import extract

    carrier = {key: value for key, value in metadata or () if isinstance(value, str)}
    return extract(carrier)


class _LowerKeys(Mapping[str, str]):
    """A header mapping looked up case-insensitively (aiohttp's already is; dicts are not)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = headers
        self._lower: dict[str, str] | None = None

    def __getitem__(self, key: str) -> str:
        value = self._headers.get(key)
        if value is not None:
            return value
        if self._lower is None:
            self._lower = {name.lower(): item for name, item in self._headers.items()}
        return self._lower[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)


class RequestTrace:
    """One request's SERVER span and its children; ``end`` it exactly once."""

    __slots__ = ("_epoch_offset_ns", "_parent", "_tracer", "span")

    def __init__(self, tracer: Tracer, span: Span) -> None:
        from opentelemetry.trace import set_span_in_context

        self._tracer = tracer
        self.span = span
        self._parent = set_span_in_context(span)
        # Children measured on the monotonic clock are placed on the epoch clock with the
        # offset seen now (spans are short, so clock steps during one hardly matter).
        self._epoch_offset_ns = time.time_ns() - time.monotonic_ns()

    @property
    def recording(self) -> bool:
        """False when the sampler dropped this trace: callers may skip building attributes."""
        return bool(self.span.is_recording())

    def set_model(self, *, version: int, signature_name: str) -> None:
        """Name the version and signature once the request was resolved."""
        self.span.set_attribute(ATTR_MODEL_VERSION, version)
        self.span.set_attribute(ATTR_MODEL_SIGNATURE, signature_name)

    def record(
        self,
        name: str,
        start_monotonic_seconds: float,
        end_monotonic_seconds: float,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        """A finished child span from two ``time.monotonic()`` readings."""
        start = self._epoch_offset_ns + int(start_monotonic_seconds * 1e9)
        end = self._epoch_offset_ns + int(end_monotonic_seconds * 1e9)
        child = self._tracer.start_span(
            name, context=self._parent, start_time=start, attributes=attributes
        )
        child.end(end_time=max(start, end))

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """A child span around a block (decoding, encoding); an exception marks it failed."""
        child = self._tracer.start_span(name, context=self._parent)
        try:
            yield
        except BaseException as error:
            _fail(child, error)
            raise
        finally:
            child.end()

    def end(self, error: BaseException | None = None, *, status_code: str | None = None) -> None:
        """End the request span; ``error`` or a non-OK ``status_code`` marks it failed."""
        if error is not None:
            _fail(self.span, error, status_code)
        elif status_code is not None and status_code != "OK":
            from opentelemetry.trace import Status, StatusCode

            self.span.set_attribute(ATTR_STATUS_CODE, status_code)
            self.span.set_status(Status(StatusCode.ERROR, status_code))
        self.span.end()


def _fail(span: Span, error: BaseException, status_code: str | None = None) -> None:
    from opentelemetry.trace import Status, StatusCode

    if status_code is not None:
        span.set_attribute(ATTR_STATUS_CODE, status_code)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
