"""The request path's tracing, request logging and shadows, driven through the data plane.

Real parts throughout: the OpenTelemetry SDK with its in-memory exporter, a started
``RequestLogger`` writing TFRecord files under ``tmp_path``, a ``ShadowMirror`` and an
executor pool; the wrapper's part (``open`` and the scope) is done by hand, as
``frontends.grpc_calls`` does it.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tensorflow_serving.apis import prediction_log_pb2

from actors.batcher import Batcher
from actors.call_costs import CallCosts
from actors.executor_pool import ExecutorPool, ExecutorPoolOptions
from actors.request_logger import RequestLogger
from actors.routing import ModelRoute, RoutingSnapshot, RoutingTable
from actors.shadow_compare import Agreement
from actors.shadow_mirror import ShadowMirror
from app.tracing import Tracing
from config.batching_config import BatchingSettings
from config.model_config import ModelSettings
from config.request_logging import RequestLogging
from config.shadow_config import ShadowRule, VersionRef
from dataplane.dataplane import DataPlane
from dataplane.observing import CURRENT_SCOPE, Observability, RequestScope
from protocol.model_ref import ModelRef
from protocol.signatures import Signature
from protocol.tfrecord import read_records
from tests.unit.actors.fakes import HalfPlusTwo


class Compared:
    def __init__(self) -> None:
        self.pairs: list[tuple[str, int, int]] = []

    def shadow_skipped(self, model_name: str, reason: str) -> None: ...

    def shadow_compared(
        self, model_name: str, primary: int, shadow: int, agreement: Agreement, seconds: float
    ) -> None:
        self.pairs.append((model_name, primary, shadow))

    def shadow_failed(self, model_name: str, primary: int, shadow: int, reason: str) -> None:
        raise AssertionError(f"the shadow failed: {reason}")


def x(value: float) -> Callable[[Signature], dict[str, np.ndarray]]:
    return lambda _signature: {"x": np.array([[value]], np.float32)}


def build(
    tmp_path: Path,
    *,
    rate: float = 0.0,
    traced: bool = False,
    shadow: bool = False,
    batching: BatchingSettings | None = None,
) -> tuple[DataPlane, Observability, InMemorySpanExporter, Compared, ExecutorPool]:
    """A plane over model "m" (versions 1 and 2, label "stable": 1), observed as asked."""
    one, two = HalfPlusTwo(version=1), HalfPlusTwo(version=2)
    routing = RoutingTable()
    route = ModelRoute(
        name="m",
        servables=types.MappingProxyType({1: one, 2: two}),
        labels={"stable": 1},
        latest=one,
    )
    routing.publish(RoutingSnapshot(types.MappingProxyType({"m": route})))
    pool = ExecutorPool(ExecutorPoolOptions(inference_threads=1))
    plane = DataPlane(
        routing=routing,
        executor=pool,
        costs=CallCosts(0),
        batcher=Batcher(executor=pool, settings=batching) if batching is not None else None,
        batching=batching,
    )
    logger = RequestLogger()
    logger.configure(
        [
            ModelSettings(
                name="m",
                base_path="/models/m",
                request_logging=RequestLogging(
                    filename_prefix=str(tmp_path / "log"), sampling_rate=rate
                ),
            )
        ]
    )
    exporter = InMemorySpanExporter()
    tracing = None
    if traced:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracing = Tracing(provider)
    compared = Compared()
    rules = (
        [
            ShadowRule(
                model_name="m",
                primary=VersionRef(version=1),
                shadow=VersionRef(version=2),
                sampling_rate=1.0,
            )
        ]
        if shadow
        else []
    )
    observability = Observability(
        routing=routing,
        tracing=tracing,
        request_logger=logger,
        shadows=ShadowMirror(rules, observer=compared),
        saved_model_tags=lambda _name: ("serve",),
    )
    plane.observe_with(observability)
    return plane, observability, exporter, compared, pool


def open_scope(
    observability: Observability, origin: str, parent: Any = None
) -> RequestScope | None:
    return observability.open(
        origin=origin,
        entrypoint="Predict",
        span_name="tensorflow.serving.PredictionService/Predict",
        model_name="m",
        parent=lambda _tracer: parent,
    )


async def test_nothing_configured_opens_no_scope(tmp_path: Path) -> None:
    _plane, observability, *_ = build(tmp_path)
    assert open_scope(observability, "grpc") is None


async def test_a_traced_call_has_a_server_span_with_its_model_and_children(
    tmp_path: Path,
) -> None:
    plane, observability, exporter, _compared, pool = build(tmp_path, traced=True)
    await pool.start()
    scope = open_scope(observability, "grpc")
    assert scope is not None and scope.trace is not None and scope.logging is None
    token = CURRENT_SCOPE.set(scope)
    try:
        result = await plane.predict(ModelRef(name="m"), "", x(2.0))
    finally:
        CURRENT_SCOPE.reset(token)
        scope.trace.end(status_code="OK")
    await pool.stop()
    assert result.outputs["y"].tolist() == [[3.0]]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    request = spans["tensorflow.serving.PredictionService/Predict"]
    assert request.kind is SpanKind.SERVER
    assert dict(request.attributes or {}) == {
        "aioserving.api": "Predict",
        "model.name": "m",
        "aioserving.transport": "grpc",
        "model.version": 1,
        "model.signature": "serving_default",
    }
    for child in ("decode", "queue_wait", "model_execution"):
        parent, context = spans[child].parent, request.context
        assert parent is not None and context is not None and parent.span_id == context.span_id
    waited, executed = spans["queue_wait"].end_time, spans["model_execution"].start_time
    assert waited is not None and executed is not None and waited <= executed


async def test_a_sampled_rest_predict_is_logged_by_the_plane_and_a_grpc_one_is_not(
    tmp_path: Path,
) -> None:
    plane, observability, *_rest, pool = build(tmp_path, rate=1.0)
    await pool.start()
    await observability.request_logger.start()
    for origin in ("rest", "grpc", "v2-grpc"):
        scope = open_scope(observability, origin)
        assert scope is not None and scope.logging is not None and scope.trace is None
        token = CURRENT_SCOPE.set(scope)
        try:
            await plane.predict(ModelRef(name="m", label="stable"), "", x(4.0))
        finally:
            CURRENT_SCOPE.reset(token)
    await observability.request_logger.stop()
    await pool.stop()
    records = [
        prediction_log_pb2.PredictionLog.FromString(raw)
        for path in sorted(tmp_path.glob("log-*.tfrecord"))
        for raw in read_records(path.read_bytes())
    ]
    # gRPC's own wrapper logs the protos; the plane logs REST and V2 calls.
    assert [r.log_metadata.request_origin for r in records] == ["rest", "v2-grpc"]
    rest = records[0]
    assert rest.log_metadata.model_spec.version.value == 1
    assert rest.log_metadata.model_spec.signature_name == "serving_default"
    assert rest.predict_log.request.model_spec.version_label == "stable"
    assert list(rest.predict_log.request.inputs["x"].float_val) == [4.0]
    assert list(rest.predict_log.response.outputs["y"].float_val) == [4.0]


async def test_a_mirrored_call_runs_on_the_shadow_outside_the_calls_trace(
    tmp_path: Path,
) -> None:
    plane, observability, exporter, compared, pool = build(tmp_path, traced=True, shadow=True)
    await pool.start()
    scope = open_scope(observability, "rest")
    assert scope is not None and scope.trace is not None
    token = CURRENT_SCOPE.set(scope)
    try:
        result = await plane.predict(ModelRef(name="m"), "", x(2.0))
    finally:
        CURRENT_SCOPE.reset(token)
        scope.trace.end(status_code="OK")
    assert result.servable.version == 1
    while observability.shadows.in_flight:
        await asyncio.sleep(0.01)
    await pool.stop()
    assert compared.pairs == [("m", 1, 2)]
    executions = [s for s in exporter.get_finished_spans() if s.name == "model_execution"]
    assert len(executions) == 1  # the shadow's run recorded nothing in the client's trace


async def test_a_batched_traced_call_records_its_queue_wait_batch_and_model_run(
    tmp_path: Path,
) -> None:
    settings = BatchingSettings(
        max_batch_size=4, batch_timeout_micros=0, num_batch_threads=1, allowed_batch_sizes=(4,)
    )
    plane, observability, exporter, _compared, pool = build(
        tmp_path, traced=True, batching=settings
    )
    batcher = plane._batcher  # the batcher build() made, to start and stop it
    assert batcher is not None
    await pool.start()
    await batcher.start()
    scope = open_scope(observability, "grpc")
    assert scope is not None and scope.trace is not None
    token = CURRENT_SCOPE.set(scope)
    try:
        result = await plane.predict(ModelRef(name="m"), "", x(2.0))
    finally:
        CURRENT_SCOPE.reset(token)
        scope.trace.end(status_code="OK")
    await batcher.stop(1.0)
    await pool.stop()
    assert result.outputs["y"].tolist() == [[3.0]]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert dict(spans["batch"].attributes or {}) == {"batch.size": 4}  # padded to 4 rows
    waited, batched = spans["queue_wait"].end_time, spans["batch"].start_time
    ran, answered = spans["model_execution"].end_time, spans["batch"].end_time
    assert None not in (waited, batched, ran, answered)
    assert waited == batched and ran is not None and answered is not None and ran <= answered


async def test_a_call_naming_no_model_gets_no_span(tmp_path: Path) -> None:
    _plane, observability, exporter, *_ = build(tmp_path, traced=True)
    scope = observability.open(
        origin="v2-rest",
        entrypoint="ServerLive",
        span_name="GET v2 ServerLive",
        model_name="",
        parent=lambda _tracer: None,
    )
    assert scope is None
    assert exporter.get_finished_spans() == ()
