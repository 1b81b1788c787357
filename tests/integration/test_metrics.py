"""Prometheus metrics on the REST port, with TF Serving's names, counting both frontends."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from tests.integration.server_process import ServerProcess


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in the exposition text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_grpc_and_rest_and_serve_the_monitoring_path(
    start_server: Callable[..., ServerProcess], testdata: Path
) -> None:
    server: ServerProcess = start_server(
        f"--model_base_path={testdata / 'saved_model_half_plus_two_cpu'}",
        "--model_name=hpt",
        f"--monitoring_config_file={testdata / 'monitoring_config.txt'}",
        "--enable_batching",
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hpt"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((2, 1), np.float32)))
    for _ in range(3):
        server.prediction.Predict(request, timeout=10)
    for _ in range(2):
        assert server.http("POST", "/v1/models/hpt:predict", {"instances": [[1.0]]})[0] == 200
    assert server.http("POST", "/v1/models/hpt:predict", {"instances": "bad"})[0] == 400

    for path in ("/metrics", "/monitoring/prometheus/metrics"):
        status, text = server.http("GET", path)
        assert status == 200
        assert isinstance(text, str)
        assert sample(text, ":tensorflow:serving:request_count", model_name="hpt", status="OK") == 5
        assert (
            sample(
                text,
                ":tensorflow:serving:request_count",
                model_name="hpt",
                status="INVALID_ARGUMENT",
            )
            == 1
        )
        assert (
            sample(
                text,
                ":tensorflow:serving:request_latency_count",
                model_name="hpt",
                API="Predict",
                entrypoint="GRPC",
            )
            == 3
        )
        assert (
            sample(
                text,
                ":tensorflow:serving:request_latency_count",
                model_name="hpt",
                API="predict",
                entrypoint="REST",
            )
            == 2
        )  # successes only, as TF Serving
        assert (
            sample(
                text,
                ":tensorflow:serving:batching_session:input_batch_size_count",
                model_name="hpt",
            )
            == 5
        )
        assert (
            sample(
                text, ":tensorflow:serving:batching_session:queuing_latency_count", model_name="hpt"
            )
            == 5
        )
        assert (
            sample(
                text, ":tensorflow:cc:saved_model:load_attempt_count", model_name="hpt", status="OK"
            )
            == 1
        )
        assert sample(text, ":tensorflow:cc:saved_model:load_latency_count", model_name="hpt") == 1
        assert sample(text, "process_cpu_seconds_total") > 0
