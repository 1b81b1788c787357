"""The command line as an operator meets it: help, bad config, logs, and shutdown.

The two servers that start (the drain test's, which it stops, and the CORS test's) start
at the same time.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from tests.integration.server_process import (
    REPO_ROOT,
    ServerProcess,
    ServerStarter,
    run_server_expecting_failure,
)


def test_help_lists_tf_serving_flags() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "server.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    for flag in (
        "--port",
        "--rest_api_port",
        "--model_config_file",
        "--config",
        "--model_name",
        "--model_base_path",
        "--file_system_poll_wait_seconds",
        "--saved_model_tags",
        "--max_num_load_retries",
        "--load_retry_interval_micros",
        "--tensorflow_intra_op_parallelism",
        "--tensorflow_inter_op_parallelism",
        "--enable_batching",
        "--batching_parameters_file",
    ):
        assert flag in result.stdout


@pytest.mark.parametrize(
    ("config_text", "fragments"),
    [
        (
            'model_config_list { config { name: "m" base_path: "/x" bogus: 1 } }',
            ["models.config:1", "bogus"],
        ),
        (
            'model_config_list {\n config { name: "m" base_path: "/does/not/exist" } }',
            ["models.config", "base_path", "/does/not/exist"],
        ),
        (
            'model_config_list { config { name: "m" base_path: "{tmp}" model_platform: "paddle" } }',
            ["models.config", "model_platform", "paddle"],
        ),
        (
            'model_config_list { config { name: "m" base_path: "{tmp}" }\n config { name: "m" base_path: "{tmp}" } }',
            ["models.config", "name", "m"],
        ),
        ("model_config_list { config { name: ", ["models.config:1"]),
    ],
)
def test_malformed_config_exits_non_zero_naming_file_and_field(
    tmp_path: Path, config_text: str, fragments: list[str]
) -> None:
    config = tmp_path / "models.config"
    config.write_text(config_text.replace("{tmp}", str(tmp_path)))
    result = run_server_expecting_failure([f"--model_config_file={config}"])
    assert result.returncode != 0
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_tf_serving_bad_config_fixture_is_rejected(testdata: Path) -> None:
    result = run_server_expecting_failure([f"--config={testdata / 'bad_model_config.txt'}"])
    assert result.returncode != 0
    assert "bad_model_config.txt:1" in result.stderr


@pytest.fixture(scope="module")
def servers(
    start_server: ServerStarter, testdata: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ServerProcess]:
    """The drain test's server (slow batches) and the CORS test's, started together."""
    model = f"--model_base_path={testdata / 'saved_model_half_plus_two_cpu'}"
    # A long batch timeout keeps the requests queued in the batcher when SIGTERM arrives,
    # so they are provably in flight; shutdown must flush and answer them. The fixed
    # timeout (no cost model), so that even the first request waits.
    batching = tmp_path_factory.mktemp("cli") / "batching.pbtxt"
    batching.write_text("max_batch_size { value: 1000 } batch_timeout_micros { value: 3000000 }")
    drained, cors = start_server.together(
        [
            model,
            "--enable_batching",
            f"--batching_parameters_file={batching}",
            "--batching_cost_model=false",
        ],
        [model, "--rest_api_enable_cors_support"],
    )
    return {"drained": drained, "cors": cors}


def test_logs_one_line_per_port_and_drains_in_flight_requests_on_sigterm(
    servers: dict[str, ServerProcess],
) -> None:
    server = servers["drained"]
    log = server.log()
    assert f"Running gRPC ModelServer at 0.0.0.0:{server.grpc_port}" in log
    assert f"Exporting HTTP/REST API at:0.0.0.0:{server.rest_port}" in log

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((1, 1), np.float32)))
    futures = [server.prediction.Predict.future(request, timeout=30) for _ in range(50)]
    time.sleep(1.0)
    assert not any(f.done() for f in futures)
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    answered = [f.result() for f in futures]  # every accepted request is answered
    stopping.join()
    assert len(answered) == 50
    for response in answered:  # half_plus_two: y = 0.5 * 1.0 + 2
        np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[2.5]])
        assert response.model_spec.name == "default"
    assert server.process.returncode == 0
    assert "server stopped" in server.log()


def test_cors_preflight_and_headers_when_enabled(servers: dict[str, ServerProcess]) -> None:
    import urllib.request

    server = servers["cors"]
    preflight = urllib.request.Request(
        server.rest_url + "/v1/models/default:predict",
        method="OPTIONS",
        headers={"Origin": "http://localhost:3000"},
    )
    with urllib.request.urlopen(preflight, timeout=10) as response:
        assert response.status == 200  # TF Serving's http_server.cc
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Allow-Methods"] == "POST, GET"
    request = urllib.request.Request(server.rest_url + "/v1/models/default", method="GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
