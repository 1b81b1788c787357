"""The server's own log: access lines on both APIs, JSON lines, and a quiet TensorFlow start.

Two real servers: one as an operator would run it in production (``--log_format=json``,
every request in the access log, TensorFlow quiet), one with ``--verbose`` and text lines.
Both start at the same time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from tests.integration.server_process import ServerProcess, ServerStarter

NOISE = {
    "oneDNN notice": "oneDNN custom operations",
    "CUDA probing": "cuda",
    "TF1 loader deprecation": "is deprecated",
    "absl banner": "before absl::InitializeLog",
}


def model_flag(testdata: Path) -> str:
    return f"--model_base_path={testdata / 'saved_model_half_plus_two_cpu'}"


def grpc_predict(server: ServerProcess, version: int) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.model_spec.version.value = version
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0]], np.float32)))
    server.prediction.Predict(request, timeout=10)


@pytest.fixture(scope="module")
def servers(start_server: ServerStarter, testdata: Path) -> list[ServerProcess]:
    """The JSON-logging server and the ``--verbose`` one, started together."""
    return start_server.together(
        [model_flag(testdata), "--log_format=json", "--access_log_sample_rate=1"],
        [model_flag(testdata), "--verbose", "--access_log_sample_rate=1"],
    )


@pytest.fixture(scope="module")
def json_server(servers: list[ServerProcess]) -> ServerProcess:
    return servers[0]


def test_json_log_has_one_object_per_line_and_access_lines_for_both_apis(
    json_server: ServerProcess,
) -> None:
    assert (
        json_server.http("POST", "/v1/models/default/versions/123:predict", {"instances": [1.0]})[0]
        == 200
    )
    assert json_server.http("POST", "/v1/models/nope:predict", {"instances": [1.0]})[0] == 404
    grpc_predict(json_server, 123)
    json_server.wait_until(
        lambda: json_server.log().count('"aioserving.access"') >= 3, what="three access lines"
    )
    lines = [json.loads(line) for line in json_server.log().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "aioserving.access"]
    rest_ok, rest_missing, grpc_ok = access[:3]
    assert {k: rest_ok[k] for k in ("model", "version", "api", "method", "status")} == {
        "model": "default",
        "version": "123",
        "api": "rest",
        "method": "Predict",
        "status": "OK",
    }
    assert rest_ok["peer"] == "127.0.0.1"
    assert rest_ok["latency_ms"] > 0
    assert (rest_missing["model"], rest_missing["status"]) == ("nope", "NOT_FOUND")
    assert {k: grpc_ok[k] for k in ("version", "api", "method", "status")} == {
        "version": "123",
        "api": "grpc",
        "method": "Predict",
        "status": "OK",
    }
    assert "127.0.0.1" in grpc_ok["peer"]


def test_a_plain_start_logs_no_tensorflow_noise(json_server: ServerProcess) -> None:
    log = json_server.log()
    assert "is AVAILABLE" in log
    found = {what: needle for what, needle in NOISE.items() if needle.lower() in log.lower()}
    assert found == {}, log[-3000:]


def test_verbose_brings_tensorflow_notices_back_and_text_access_lines(
    servers: list[ServerProcess],
) -> None:
    server = servers[1]
    try:
        assert server.http("POST", "/v1/models/default:predict", {"instances": [1.0]})[0] == 200
        server.wait_until(lambda: "aioserving.access]" in server.log(), what="an access line")
        log = server.log()
    finally:
        server.stop()
    # TensorFlow's own kernels, as TF Serving's build runs them: no oneDNN to announce.
    assert NOISE["oneDNN notice"] not in log
    # TF's Python-side notices (the TF1 loader's deprecation) no longer occur: the graph is
    # imported by servables.tensorflow.graph_import, not TF's deprecated loader.
    assert NOISE["absl banner"] in log
    assert "access model=default version=- api=rest method=Predict status=OK latency_ms=" in log
    assert "peer=127.0.0.1" in log
