"""Payload capture, tracing and shadow versions through the real server.

One server logs every request of ``half_plus_two`` (``logging_config`` at rate 1.0) and
exports spans to a loopback OTLP receiver; after SIGTERM its files are read back with
TensorFlow's own TFRecord reader and parsed as ``PredictionLog``, and one is used as the
warmup file of a copied version, which a second server loads. That second server also
mirrors every request of a two-version model to the other version
(``--shadow_config_file``), and ``/metrics`` shows the agreement. A third server, whose
reloaded config turns request logging on, serves half_plus_two as an ONNX model: the
request logger does not depend on the platform, and without a TensorFlow model the
server starts without TensorFlow.
"""

from __future__ import annotations

import glob
import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_status_pb2,
    input_pb2,
    model_management_pb2,
    predict_pb2,
    prediction_log_pb2,
)
from tritonclient.grpc import service_pb2, service_pb2_grpc

from tests.integration.half_plus_two_onnx import write_half_plus_two_onnx
from tests.integration.server_process import ServerProcess, run_server_expecting_failure
from tests.otlp_receiver import TRACES_PATH, OtlpReceiver, ReceivedSpan

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
V2_TRACE_ID = "7bf92f3577b34da6a3ce929d0e0e4739"
REST_TRACE_ID = "6bf92f3577b34da6a3ce929d0e0e4738"
UNSAMPLED_TRACE_ID = "5bf92f3577b34da6a3ce929d0e0e4737"
WARMUP = Path("assets.extra") / "tf_serving_warmup_requests"

LOGGING_CONFIG = """
model_config_list {{
  config {{
    name: "half_plus_two" base_path: "{base}" model_platform: "{platform}"
    logging_config {{
      log_collector_config {{ type: "" filename_prefix: "{prefix}" }}
      sampling_config {{ sampling_rate: 1.0 }}
    }}
  }}
}}
"""

SHADOW_CONFIG = """
model_config_list {{
  config {{
    name: "two" base_path: "{two}" model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
  }}
  config {{ name: "warmed" base_path: "{warmed}" model_platform: "tensorflow" }}
}}
"""


def predict_request(x: list[float]) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(x, np.float32)))
    return request


def read_records(prefix: Path) -> list[prediction_log_pb2.PredictionLog]:
    files = sorted(glob.glob(f"{prefix}-*.tfrecord"))
    assert files, f"no request log files start with {prefix}"
    return [
        prediction_log_pb2.PredictionLog.FromString(raw.numpy())
        for raw in tf.data.TFRecordDataset(files)
    ]


@pytest.fixture(scope="module")
def logged(
    testdata: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, list[ReceivedSpan], str]]:
    """Runs the logging, tracing server once; yields (log prefix, spans, server log)."""
    root = tmp_path_factory.mktemp("observability")
    prefix = root / "logs" / "reqlog"
    config = root / "models.config"
    config.write_text(
        LOGGING_CONFIG.format(
            base=testdata / "saved_model_half_plus_two_cpu", platform="tensorflow", prefix=prefix
        )
    )
    with OtlpReceiver() as receiver, pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.http_endpoint + TRACES_PATH)
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")  # so that only the shutdown flushes
        server = ServerProcess([f"--model_config_file={config}"], root)
        try:
            sampled = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
            response = server.prediction.Predict(
                predict_request([1.0, 2.0]), timeout=30, metadata=(("traceparent", sampled),)
            )
            assert list(tf.make_ndarray(response.outputs["y"])) == [2.5, 3.0]
            unsampled = (("traceparent", f"00-{UNSAMPLED_TRACE_ID}-{CLIENT_SPAN}-00"),)
            server.prediction.Predict(predict_request([4.0]), timeout=30, metadata=unsampled)
            traced_rest = urllib.request.Request(
                server.rest_url + "/v1/models/half_plus_two:predict",
                data=json.dumps({"instances": [3.0]}).encode(),
                headers={"traceparent": f"00-{REST_TRACE_ID}-{CLIENT_SPAN}-01"},
                method="POST",
            )
            with urllib.request.urlopen(traced_rest, timeout=30) as answer:
                assert json.loads(answer.read()) == {"predictions": [3.5]}
            status, body = server.http(
                "POST",
                "/v1/models/half_plus_two:classify",
                {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]},
            )
            assert status == 200, body
            v2 = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [6.0]}]}
            status, body = server.http("POST", "/v2/models/half_plus_two/infer", v2)
            assert status == 200, body
            v2_request = service_pb2.ModelInferRequest(model_name="half_plus_two")
            v2_tensor = v2_request.inputs.add(name="x", datatype="FP32", shape=[1])
            v2_tensor.contents.fp32_contents.append(10.0)
            v2_grpc = service_pb2_grpc.GRPCInferenceServiceStub(server.channel)
            v2_grpc.ModelInfer(
                v2_request,
                timeout=30,
                metadata=(("traceparent", f"00-{V2_TRACE_ID}-{CLIENT_SPAN}-01"),),
            )
            examples = input_pb2.Input()
            examples.example_list.examples.add().features.feature["x"].float_list.value.append(8.0)
            request = classification_pb2.ClassificationRequest(input=examples)
            request.model_spec.name = "half_plus_two"
            request.model_spec.signature_name = "classify_x_to_y"
            server.prediction.Classify(request, timeout=30)
        finally:
            assert server.stop() == 0, server.log()[-3000:]
        yield prefix, receiver.spans(), server.log()


def test_every_sampled_request_is_one_prediction_log_record(
    logged: tuple[Path, list[ReceivedSpan], str],
) -> None:
    prefix, _spans, _log = logged
    records = read_records(prefix)
    origins = [record.log_metadata.request_origin for record in records]
    assert sorted(origins) == ["grpc", "grpc", "grpc", "rest", "rest", "v2-grpc", "v2-rest"]
    for record in records:
        metadata = record.log_metadata
        assert metadata.model_spec.name == "half_plus_two"
        assert metadata.model_spec.version.value == 123
        assert metadata.sampling_config.sampling_rate == 1.0
        assert list(metadata.saved_model_tags) == ["serve"]
    kinds = sorted(record.WhichOneof("log_type") for record in records)
    assert kinds == ["classify_log", "classify_log"] + ["predict_log"] * 5
    grpc_predicts = [
        r for r in records if r.log_metadata.request_origin == "grpc" and r.HasField("predict_log")
    ]
    first = grpc_predicts[0].predict_log
    assert list(tf.make_ndarray(first.request.inputs["x"])) == [1.0, 2.0]
    assert list(tf.make_ndarray(first.response.outputs["y"])) == [2.5, 3.0]
    rest = next(
        r for r in records if r.log_metadata.request_origin == "rest" and r.HasField("predict_log")
    )
    assert tf.make_ndarray(rest.predict_log.request.inputs["x"]).tolist() == [3.0]
    assert tf.make_ndarray(rest.predict_log.response.outputs["y"]).tolist() == [3.5]
    v2 = next(r for r in records if r.log_metadata.request_origin == "v2-rest")
    assert tf.make_ndarray(v2.predict_log.response.outputs["y"]).tolist() == [5.0]
    v2_grpc = next(r for r in records if r.log_metadata.request_origin == "v2-grpc")
    assert tf.make_ndarray(v2_grpc.predict_log.request.inputs["x"]).tolist() == [10.0]
    assert tf.make_ndarray(v2_grpc.predict_log.response.outputs["y"]).tolist() == [7.0]
    rest_classify = next(
        r for r in records if r.log_metadata.request_origin == "rest" and r.HasField("classify_log")
    )
    assert rest_classify.classify_log.request.model_spec.signature_name == "classify_x_to_y"
    assert len(rest_classify.classify_log.response.result.classifications) == 1


def test_a_traceparent_is_continued_with_model_and_child_spans(
    logged: tuple[Path, list[ReceivedSpan], str],
) -> None:
    _prefix, spans, _log = logged
    traced = [s for s in spans if s.span.trace_id.hex() == TRACE_ID]
    server_spans = [s for s in traced if s.span.kind == s.span.SPAN_KIND_SERVER]
    assert len(server_spans) == 1, [s.name for s in traced]
    request = server_spans[0]
    assert request.span.parent_span_id.hex() == CLIENT_SPAN
    assert request.name == "tensorflow.serving.PredictionService/Predict"
    assert request.attributes["model.name"] == "half_plus_two"
    assert request.attributes["model.version"] == 123
    assert request.attributes["model.signature"] == "serving_default"
    assert request.attributes["aioserving.api"] == "Predict"
    children = {s.name for s in traced if s.span.parent_span_id == request.span.span_id}
    assert {"decode", "queue_wait", "model_execution", "encode"} <= children, children
    assert not [s for s in spans if s.span.trace_id.hex() == UNSAMPLED_TRACE_ID]
    assert request.resource["service.name"] == "aioserving"


def test_a_rest_traceparent_header_is_continued(
    logged: tuple[Path, list[ReceivedSpan], str],
) -> None:
    _prefix, spans, _log = logged
    traced = [s for s in spans if s.span.trace_id.hex() == REST_TRACE_ID]
    (request,) = [s for s in traced if s.span.kind == s.span.SPAN_KIND_SERVER]
    assert request.span.parent_span_id.hex() == CLIENT_SPAN
    assert request.attributes["aioserving.api"] == "Predict"
    assert request.attributes["aioserving.transport"] == "rest"
    assert request.attributes["model.version"] == 123
    children = {s.name for s in traced if s.span.parent_span_id == request.span.span_id}
    assert {"decode", "model_execution"} <= children, children


@pytest.fixture(scope="module")
def mirrored(
    testdata: Path, tmp_path_factory: pytest.TempPathFactory, logged: tuple[Path, Any, str]
) -> Iterator[ServerProcess]:
    """``two`` mirrors every request to its other version; ``warmed`` warms up from a capture."""
    root = tmp_path_factory.mktemp("shadow")
    warmed = root / "warmed" / "1"
    shutil.copytree(testdata / "saved_model_half_plus_two_cpu" / "00000123", warmed)
    (warmed / WARMUP).parent.mkdir(parents=True, exist_ok=True)
    captured = sorted(glob.glob(f"{logged[0]}-*.tfrecord"))[0]
    shutil.copyfile(captured, warmed / WARMUP)
    two = testdata / "saved_model_half_plus_two_2_versions"
    (root / "shadows").write_text("two  123  124  1.0\ntwo  124  123  1.0\n")
    policy = root / "policy.config"
    policy.write_text(SHADOW_CONFIG.format(two=two, warmed=root / "warmed"))
    server = ServerProcess(
        [f"--model_config_file={policy}", f"--shadow_config_file={root / 'shadows'}"], root
    )
    try:
        yield server
    finally:
        server.stop()


def test_a_captured_file_warms_up_the_next_version(mirrored: ServerProcess) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "warmed"
    status = mirrored.models.GetModelStatus(request, timeout=30)
    assert [s.state for s in status.model_version_status] == [
        get_model_status_pb2.ModelVersionStatus.AVAILABLE
    ]


def test_a_shadow_version_is_compared_without_touching_the_answer(
    mirrored: ServerProcess,
) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "two"
    request.model_spec.version.value = 123
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0], np.float32)))
    for _ in range(3):
        response = mirrored.prediction.Predict(request, timeout=30)
        assert response.model_spec.version.value == 123
        assert list(tf.make_ndarray(response.outputs["y"])) == [2.5, 3.0]

    def metric(name: str, **labels: str) -> float | None:
        _status, text = mirrored.http("GET", "/metrics")
        for family in text_string_to_metric_families(str(text)):
            for found in family.samples:
                if found.name == name and labels.items() <= found.labels.items():
                    return float(found.value)
        return None

    pair = {"model_name": "two", "primary_version": "123", "shadow_version": "124"}
    mirrored.wait_until(
        lambda: metric("aioserving_shadow_requests_total", outcome="compared", **pair) == 3.0,
        timeout=30,
        what="three compared shadow runs",
    )
    assert metric("aioserving_shadow_max_abs_difference", **pair) is not None
    assert metric("aioserving_shadow_latency_count", **pair) == 3.0
    # The dashboard's shadow panel reads the same series.
    _status, shadows = mirrored.http("GET", "/dashboard/api/shadows")
    (shown,) = [
        p for p in shadows["pairs"] if (p["primary_version"], p["shadow_version"]) == ("123", "124")
    ]
    assert (shown["model"], shown["compared"]) == ("two", 3.0)
    assert len(shadows["rules"]) == 2
    # The shadow's runs are not requests: only the client's three are counted.
    # A counter family: the exposition's parser names its samples "..._total".
    counted = metric(":tensorflow:serving:request_count_total", model_name="two", status="OK")
    assert counted == 3.0


def test_a_reload_turns_request_logging_on(tmp_path: Path) -> None:
    base = write_half_plus_two_onnx(tmp_path / "half_plus_two")
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "half_plus_two" base_path: "{base}" }} }}'
    )
    prefix = tmp_path / "reloaded" / "reqlog"
    server = ServerProcess([f"--model_config_file={config}"], tmp_path)
    try:
        server.prediction.Predict(predict_request([1.0]), timeout=30)  # not logged
        reload = model_management_pb2.ReloadConfigRequest()
        text_format.Parse(
            LOGGING_CONFIG.format(base=base, platform="onnx", prefix=prefix), reload.config
        )
        server.models.HandleReloadConfigRequest(reload, timeout=60)
        server.prediction.Predict(predict_request([2.0]), timeout=30)
    finally:
        assert server.stop() == 0, server.log()[-3000:]
    (record,) = read_records(prefix)
    assert tf.make_ndarray(record.predict_log.request.inputs["x"]).tolist() == [2.0]


def test_a_v2_grpc_traceparent_is_continued(
    logged: tuple[Path, list[ReceivedSpan], str],
) -> None:
    _prefix, spans, _log = logged
    traced = [s for s in spans if s.span.trace_id.hex() == V2_TRACE_ID]
    (request,) = [s for s in traced if s.span.kind == s.span.SPAN_KIND_SERVER]
    assert request.name == "inference.GRPCInferenceService/ModelInfer"
    assert request.span.parent_span_id.hex() == CLIENT_SPAN
    assert request.attributes["aioserving.transport"] == "v2-grpc"
    assert request.attributes["model.version"] == 123
    children = {s.name for s in traced if s.span.parent_span_id == request.span.span_id}
    assert {"decode", "model_execution"} <= children, children


def test_an_unsupported_otlp_protocol_is_a_configuration_error(
    testdata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "models.config"
    base = testdata / "saved_model_half_plus_two_cpu"
    config.write_text(
        f'model_config_list {{ config {{ name: "half_plus_two" base_path: "{base}" }} }}'
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    finished = run_server_expecting_failure([f"--model_config_file={config}"])
    assert finished.returncode == 1
    assert "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported" in finished.stderr
