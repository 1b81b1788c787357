"""Tracing configured from OTEL_* variables, exported to a real OTLP receiver on loopback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from app.tracing import (
    ATTR_API,
    ATTR_BATCH_SIZE,
    ATTR_MODEL_NAME,
    ATTR_MODEL_SIGNATURE,
    ATTR_MODEL_VERSION,
    ATTR_STATUS_CODE,
    SPAN_BATCH,
    SPAN_DECODE,
    SPAN_MODEL_EXECUTION,
    SPAN_QUEUE_WAIT,
    context_from_grpc_metadata,
    context_from_http_headers,
    tracing_enabled,
    tracing_from_environment,
)
from tests.otlp_receiver import TRACES_PATH, OtlpReceiver

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
SAMPLED = f"00-{TRACE_ID}-{PARENT_ID}-01"
NOT_SAMPLED = f"00-{TRACE_ID}-{PARENT_ID}-00"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


def test_tracing_is_on_only_when_an_endpoint_is_set() -> None:
    assert not tracing_enabled({})
    assert tracing_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert tracing_enabled({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert not tracing_enabled(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}
    )
    assert not tracing_enabled(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}
    )


def test_tracing_off_imports_no_opentelemetry() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = (
        "import sys, app.tracing\n"
        "assert app.tracing.tracing_from_environment() is None\n"
        "loaded = [m for m in sys.modules if m.startswith('opentelemetry')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, check=True)


def test_request_spans_reach_the_receiver_over_http_with_their_attributes(
    clean_environment: pytest.MonkeyPatch, receiver: OtlpReceiver
) -> None:
    # The traces endpoint is the full URL: nothing may be appended to it.
    clean_environment.setenv(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.http_endpoint + TRACES_PATH
    )
    clean_environment.setenv("OTEL_SERVICE_NAME", "model-server-test")
    tracing = tracing_from_environment()
    assert tracing is not None
    parent = context_from_http_headers({"TraceParent": SAMPLED})
    trace = tracing.start_request(
        "POST /v1/models/m:predict", parent=parent, api="rest:predict", model_name="m"
    )
    assert trace.recording
    with trace.phase(SPAN_DECODE):
        pass
    trace.set_model(version=3, signature_name="serving_default")
    now = time.monotonic()
    trace.record(SPAN_QUEUE_WAIT, now - 0.003, now - 0.002)
    trace.record(SPAN_BATCH, now - 0.002, now, {ATTR_BATCH_SIZE: 8})
    trace.record(SPAN_MODEL_EXECUTION, now - 0.0015, now - 0.0005)
    trace.end(status_code="OK")
    tracing.shutdown()  # flushes the batch still queued

    spans = {span.name: span for span in receiver.wait_for_spans(5)}
    assert set(spans) == {
        "POST /v1/models/m:predict",
        SPAN_DECODE,
        SPAN_QUEUE_WAIT,
        SPAN_BATCH,
        SPAN_MODEL_EXECUTION,
    }
    assert set(receiver.http_paths) == {TRACES_PATH}
    server = spans["POST /v1/models/m:predict"]
    assert server.span.kind == trace_pb2.Span.SPAN_KIND_SERVER
    assert server.span.trace_id.hex() == TRACE_ID
    assert server.span.parent_span_id.hex() == PARENT_ID
    assert server.attributes == {
        ATTR_API: "rest:predict",
        ATTR_MODEL_NAME: "m",
        ATTR_MODEL_VERSION: 3,
        ATTR_MODEL_SIGNATURE: "serving_default",
    }
    assert server.resource["service.name"] == "model-server-test"
    for name in (SPAN_DECODE, SPAN_QUEUE_WAIT, SPAN_BATCH, SPAN_MODEL_EXECUTION):
        assert spans[name].span.parent_span_id == server.span.span_id
        assert spans[name].span.trace_id == server.span.trace_id
    assert spans[SPAN_BATCH].attributes == {ATTR_BATCH_SIZE: 8}
    queue = spans[SPAN_QUEUE_WAIT].span
    assert queue.end_time_unix_nano - queue.start_time_unix_nano == pytest.approx(1e6, rel=0.01)
    batch = spans[SPAN_BATCH].span
    assert queue.end_time_unix_nano <= batch.start_time_unix_nano + 1000


def test_grpc_export_and_a_not_sampled_parent_produces_no_spans(
    clean_environment: pytest.MonkeyPatch, receiver: OtlpReceiver
) -> None:
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint)
    clean_environment.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    tracing = tracing_from_environment()
    assert tracing is not None
    dropped = tracing.start_request(
        "tensorflow.serving.PredictionService/Predict",
        parent=context_from_grpc_metadata([("traceparent", NOT_SAMPLED), ("key-bin", b"\x00")]),
        api="Predict",
        model_name="m",
    )
    assert not dropped.recording
    dropped.record(SPAN_QUEUE_WAIT, 1.0, 2.0)
    dropped.end()
    kept = tracing.start_request(
        "tensorflow.serving.PredictionService/Predict",
        parent=context_from_grpc_metadata([("traceparent", SAMPLED)]),
        api="Predict",
        model_name="m",
    )
    kept.end(RuntimeError("model failed"), status_code="INTERNAL")
    asyncio.run(tracing.stop(10.0))  # the supervisor's way: flushes from a thread
    spans = receiver.wait_for_spans(1)
    assert len(spans) == 1
    (span,) = spans
    assert span.path == "grpc"
    assert span.span.trace_id.hex() == TRACE_ID
    assert span.span.status.code == trace_pb2.Status.STATUS_CODE_ERROR
    assert span.attributes[ATTR_STATUS_CODE] == "INTERNAL"
    assert span.resource["service.name"] == "aioserving"


def test_endpoint_gets_the_traces_path_appended_and_no_parent_starts_a_trace(
    clean_environment: pytest.MonkeyPatch, receiver: OtlpReceiver
) -> None:
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    clean_environment.setenv("OTEL_TRACES_SAMPLER", "always_off")
    off = tracing_from_environment()
    assert off is not None
    assert not off.start_request("x", parent=None, api="Predict", model_name="m").recording
    off.shutdown()
    clean_environment.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    tracing = tracing_from_environment()
    assert tracing is not None
    trace = tracing.start_request(
        "x", parent=context_from_http_headers({}), api="Predict", model_name="m"
    )
    trace.end()
    tracing.shutdown()
    (span,) = receiver.wait_for_spans(1)
    assert receiver.http_paths == [TRACES_PATH]
    assert span.span.parent_span_id == b""


def test_an_unsupported_protocol_is_named(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    clean_environment.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='http/json'"):
        tracing_from_environment()
