"""The seed tutorial end to end: serve v1, run the client, drop in v2, watch errors fall."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tensorflow_serving.apis import get_model_status_pb2

from examples.export_digits import export_digits_model
from examples.mnist_client import run_client
from tests.integration.server_process import ServerProcess

AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


def serving_version(server: ServerProcess) -> int | None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "mnist"
    response = server.models.GetModelStatus(request, timeout=10)
    available = [s.version for s in response.model_version_status if s.state == AVAILABLE]
    return max(available) if available else None


def test_v2_is_picked_up_and_the_error_rate_falls(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    exported = tmp_path / "exported"
    export_digits_model(exported)
    monitored = tmp_path / "monitored"
    monitored.mkdir()
    shutil.copytree(exported / "1", monitored / "1")

    server = start_server(
        f"--model_base_path={monitored}", "--model_name=mnist", "--file_system_poll_wait_seconds=1"
    )
    address = f"127.0.0.1:{server.grpc_port}"
    v1_error = run_client(address, num_tests=360, concurrency=10, model_name="mnist")

    shutil.copytree(exported / "2", tmp_path / "staging")
    (tmp_path / "staging").rename(monitored / "2")
    server.wait_until(lambda: serving_version(server) == 2, what="v2 served")
    v2_error = run_client(address, num_tests=360, concurrency=10, model_name="mnist")

    assert v1_error > 0.15
    assert v2_error < 0.10
    assert v2_error < v1_error
