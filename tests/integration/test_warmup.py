"""Warmup through the real server: it runs before a version is AVAILABLE, and a broken
warmup file fails only its own version.

The stateful counter model shows the effect: its warmup file holds three Predict
requests to ``incr_counter``, so once the server is up ``get_counter`` must already read
3 x ``--num_request_iterations_for_warmup`` (nothing else has called the model).
Two servers, started at the same time: one runs warmups (2 iterations; the broken model's
failure must leave ``counter`` untouched), one has warmup disabled.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2, prediction_log_pb2

from tests.integration.server_process import ServerProcess, ServerStarter

WARMUP = Path("assets.extra") / "tf_serving_warmup_requests"

CONFIG = """
model_config_list {{
  config {{ name: "counter" base_path: "{counter}" model_platform: "tensorflow" }}
  config {{ name: "broken" base_path: "{broken}" model_platform: "tensorflow" }}
}}
"""


def counter_predict(signature: str) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "counter"
    request.model_spec.signature_name = signature
    return request


def write_records(path: Path, records: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


@pytest.fixture(scope="module")
def models(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``counter`` (three incr_counter warmup records) and ``broken`` (a garbage file)."""
    root = tmp_path_factory.mktemp("warmup_models")
    counter = root / "counter" / "123"
    shutil.copytree(testdata / "saved_model_counter" / "00000123", counter)
    entry = prediction_log_pb2.PredictionLog()
    entry.predict_log.request.CopyFrom(counter_predict("incr_counter"))
    write_records(counter / WARMUP, [entry.SerializeToString()] * 3)
    broken = root / "broken" / "123"
    shutil.copytree(testdata / "saved_model_half_plus_two_cpu" / "00000123", broken)
    (broken / WARMUP).parent.mkdir()
    (broken / WARMUP).write_bytes(b"not a TFRecord file")
    config = root / "models.config"
    config.write_text(CONFIG.format(counter=root / "counter", broken=root / "broken"))
    return config


@pytest.fixture(scope="module")
def servers(start_server: ServerStarter, models: Path) -> dict[str, ServerProcess]:
    """The warming server (also the one where ``broken`` fails) and the non-warming one.

    Nothing here changes a server: every test only reads ``counter`` and statuses."""
    config = f"--model_config_file={models}"
    flags = {
        "iterations": [
            config,
            "--num_request_iterations_for_warmup=2",
            "--max_num_load_retries=0",
            "--exit_on_load_failure=false",  # the point of the broken model: it fails alone
        ],
        "disabled": [config, "--enable_model_warmup=false", "--max_num_load_retries=0"],
    }
    return dict(zip(flags, start_server.together(*flags.values()), strict=True))


def get_counter(server: ServerProcess) -> float:
    response = server.prediction.Predict(counter_predict("get_counter"), timeout=30)
    return float(tf.make_ndarray(response.outputs["output"]))


def statuses(server: ServerProcess, model: str) -> list[get_model_status_pb2.ModelVersionStatus]:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    return list(server.models.GetModelStatus(request, timeout=30).model_version_status)


def test_warmup_runs_before_the_version_is_available(servers: dict[str, ServerProcess]) -> None:
    server = servers["iterations"]
    assert get_counter(server) == 6.0
    log = server.log()
    warmup_line = "warmup of counter version 123 finished: 3 records, 2 iterations each"
    assert warmup_line in log
    available_line = "counter version 123 is AVAILABLE"
    assert available_line in log
    # The order is the point: the version was published only after its warmup finished.
    assert log.index(warmup_line) < log.index(available_line), log


def test_a_broken_warmup_file_fails_only_its_version(servers: dict[str, ServerProcess]) -> None:
    server = servers["iterations"]
    (status,) = statuses(server, "broken")
    assert status.state == get_model_status_pb2.ModelVersionStatus.END
    assert "tf_serving_warmup_requests" in status.status.error_message
    assert "TFRecord" in status.status.error_message
    (counter,) = statuses(server, "counter")
    assert counter.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert get_counter(server) == 6.0  # counter's own warmup ran in full: 3 records x 2
    code, body = server.http("POST", "/v1/models/broken:predict", {"instances": [[1.0]]})
    assert code == 404, body


def test_warmup_can_be_disabled(servers: dict[str, ServerProcess]) -> None:
    server = servers["disabled"]
    assert get_counter(server) == 0.0
    (status,) = statuses(server, "broken")
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    response = server.prediction.Predict(_half_plus_two("broken"), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[3.0]])


def _half_plus_two(model: str) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[2.0]], np.float32)))
    return request
