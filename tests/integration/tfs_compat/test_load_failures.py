"""Failed loads as TF Serving reports them: the loader's own code, and start-up that fails.

Sources:
- ``servables/tensorflow/saved_model_warmup_util.cc`` and ``saved_model_warmup_util_test.cc``
  (a record that is not a ``PredictionLog`` is INVALID_ARGUMENT "Failed to parse warmup
  record", a file that is not TFRecord is DATA_LOSS "... Please verify your warmup data is in
  TFRecord format."), ``saved_model_warmup.cc`` (a ``session_run_log`` is UNIMPLEMENTED
  "Unsupported log_type for warmup"), and ``get_model_status_impl_test.cc`` (the version's
  status carries that code);
- ``model_servers/server_core_test.cc`` (ErroringSourceAdapter...: start-up fails with
  "1 servable(s) did not become available") and ``main.cc`` ("Failed to start server").

The lenient server (``--exit_on_load_failure=false``) and the one whose version fails after
start-up (default flags) start at the same time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2, prediction_log_pb2

from tests.integration.server_process import (
    ServerProcess,
    ServerStarter,
    run_server_expecting_failure,
)

WARMUP = Path("assets.extra") / "tf_serving_warmup_requests"
END = get_model_status_pb2.ModelVersionStatus.END
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


def _records(path: Path, records: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


def _bad_predict() -> bytes:
    entry = prediction_log_pb2.PredictionLog()
    request: predict_pb2.PredictRequest = entry.predict_log.request
    request.inputs["no_such_input"].CopyFrom(tf.make_tensor_proto([1.0]))
    return bytes(entry.SerializeToString())


def _session_run() -> bytes:
    entry = prediction_log_pb2.PredictionLog()
    entry.session_run_log.SetInParent()
    return bytes(entry.SerializeToString())


# model name -> (what goes in its warmup file, expected code, expected text)
BROKEN: dict[str, tuple[bytes | list[bytes], grpc.StatusCode, str]] = {
    "not_tfrecord": (
        b"not a TFRecord file",
        grpc.StatusCode.DATA_LOSS,
        "Please verify your warmup data is in TFRecord format.",
    ),
    "bad_record": (
        [b"\x0a\x05ab"],  # a truncated length-delimited field: not a PredictionLog
        grpc.StatusCode.INVALID_ARGUMENT,
        "Failed to parse warmup record 0",
    ),
    "session_run": (
        [_session_run()],
        grpc.StatusCode.UNIMPLEMENTED,
        "Unsupported log_type for warmup: session_run_log",
    ),
    "bad_request": (
        [_bad_predict()],
        grpc.StatusCode.INVALID_ARGUMENT,
        "no_such_input",
    ),
}


@pytest.fixture(scope="module")
def models(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("load_failures")
    source = testdata / "saved_model_half_plus_two_cpu" / "00000123"
    shutil.copytree(source, root / "good" / "123")
    for name, (warmup, _, _) in BROKEN.items():
        version = root / name / "123"
        shutil.copytree(source, version)
        if isinstance(warmup, bytes):
            (version / WARMUP).parent.mkdir()
            (version / WARMUP).write_bytes(warmup)
        else:
            _records(version / WARMUP, warmup)
    return root


def _config(root: Path, names: list[str]) -> Path:
    entries = "".join(
        f'  config {{ name: "{n}" base_path: "{root / n}" model_platform: "tensorflow" }}\n'
        for n in names
    )
    path = root / f"{'_'.join(names)}.config"
    path.write_text(f"model_config_list {{\n{entries}}}\n")
    return path


@pytest.fixture(scope="module")
def servers(start_server: ServerStarter, models: Path) -> list[ServerProcess]:
    """The lenient server, and one serving ``m`` (a copy of ``good``) from ``models / "m"``."""
    config = _config(models, ["good", *BROKEN])
    shutil.copytree(models / "good" / "123", models / "m" / "123")
    return start_server.together(
        [
            f"--model_config_file={config}",
            "--max_num_load_retries=0",
            "--exit_on_load_failure=false",
        ],
        [
            f"--model_base_path={models / 'm'}",
            "--model_name=m",
            "--max_num_load_retries=0",
            "--file_system_poll_wait_seconds=1",
        ],
    )


@pytest.fixture(scope="module")
def lenient(servers: list[ServerProcess]) -> ServerProcess:
    return servers[0]


def _status(server: ServerProcess, model: str) -> get_model_status_pb2.ModelVersionStatus:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    (status,) = server.models.GetModelStatus(request, timeout=30).model_version_status
    return status


@pytest.mark.parametrize("model", sorted(BROKEN))
def test_a_failed_warmup_publishes_tf_servings_code(lenient: ServerProcess, model: str) -> None:
    """saved_model_warmup_util_test.cc, get_model_status_impl_test.cc."""
    _, code, text = BROKEN[model]
    status = _status(lenient, model)
    assert status.state == END
    assert status.status.error_code == code.value[0], status.status
    assert text in status.status.error_message
    assert "WarmupError" not in status.status.error_message
    http_code, body = lenient.http("GET", f"/v1/models/{model}")
    assert http_code == 200, body
    (version,) = body["model_version_status"]
    assert version["status"]["error_code"] == code.name
    assert text in version["status"]["error_message"]


def test_with_exit_on_load_failure_false_the_others_serve_and_the_server_is_unready(
    lenient: ServerProcess,
) -> None:
    """aioserving's option; TF Serving itself exits (server_core_test.cc)."""
    assert _status(lenient, "good").state == AVAILABLE
    code, body = lenient.http("POST", "/v1/models/good:predict", {"instances": [1.0]})
    assert (code, body) == (200, {"predictions": [2.5]})
    code, _ = lenient.http("GET", "/v2/health/ready")
    assert code == 503
    code, _ = lenient.http("GET", "/v2/models/good/ready")
    assert code == 200
    code, _ = lenient.http("GET", "/v2/models/not_tfrecord/ready")
    assert code != 200


def test_a_configured_model_that_cannot_load_fails_start_up(models: Path) -> None:
    """server_core_test.cc: "1 servable(s) did not become available"; main.cc exits non-zero."""
    config = _config(models, ["good", "not_tfrecord"])
    result = run_server_expecting_failure(
        [f"--model_config_file={config}", "--max_num_load_retries=0"]
    )
    assert result.returncode != 0
    assert "Failed to start server. Error: UNKNOWN: 1 servable(s) did not become available" in (
        result.stderr
    ), result.stderr[-3000:]
    assert "{name: not_tfrecord version: 123} due to error: DATA_LOSS" in result.stderr


def test_a_version_failing_after_start_up_never_stops_the_server(
    servers: list[ServerProcess], models: Path, tmp_path: Path
) -> None:
    """server_core_test.cc: a failed reload leaves the served versions serving."""
    server, base = servers[1], models / "m"
    staged = tmp_path / "staged"
    shutil.copytree(models / "not_tfrecord" / "123", staged)
    staged.rename(base / "124")

    def failed() -> bool:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "m"
        versions = server.models.GetModelStatus(request, timeout=30).model_version_status
        return any(v.version == 124 and v.state == END for v in versions)

    server.wait_until(failed, what="version 124 in the error state")
    assert server.process.poll() is None
    code, body = server.http("POST", "/v1/models/m:predict", {"instances": [1.0]})
    assert (code, body) == (200, {"predictions": [2.5]})
