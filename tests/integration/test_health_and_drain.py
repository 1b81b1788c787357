"""gRPC health (``grpc.health.v1.Health``) and the graceful drain on SIGTERM.

The session's ``unready_server`` serves two models: ``ok`` loads, ``waiting`` has no
version, so the server is not ready while ``ok`` is. The drain tests start their own
servers (they stop them).
"""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import predict_pb2

from tests.integration.server_process import ServerProcess

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
DRAIN_SECONDS = 1.0


def check(server: ServerProcess, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(server.channel)
    status: int = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
    return status


@pytest.fixture(scope="module")
def two_models(unready_server: ServerProcess) -> ServerProcess:
    return unready_server


def test_a_loaded_model_is_serving(two_models: ServerProcess) -> None:
    assert check(two_models, "ok") == SERVING


def test_a_model_without_versions_is_not_serving_and_keeps_the_server_unready(
    two_models: ServerProcess,
) -> None:
    assert check(two_models, "waiting") == NOT_SERVING
    assert check(two_models, "") == NOT_SERVING


def test_an_unknown_model_is_not_found(two_models: ServerProcess) -> None:
    with pytest.raises(grpc.RpcError) as error:
        check(two_models, "no-such-model")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def predict_request() -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[2.0]], np.float32)))
    return request


class Stream:
    """Sends predictions back to back over gRPC and REST; records (sent_at, outcome)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.results: list[tuple[str, float, str]] = []
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._grpc), threading.Thread(target=self._rest)]

    def __enter__(self) -> Stream:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(30)

    def _grpc(self) -> None:
        request = predict_request()
        while not self.stopped.is_set():
            sent = time.monotonic()
            try:
                self.server.prediction.Predict(request, timeout=10)
                outcome = "ok"
            except grpc.RpcError as error:
                # UNAVAILABLE: the RPC reached no handler (connection refused or GOAWAY).
                outcome = (
                    "refused"
                    if error.code() == grpc.StatusCode.UNAVAILABLE
                    else f"failed {error.code()}"
                )
            self.results.append(("grpc", sent, outcome))
            if outcome == "refused":
                time.sleep(0.05)

    def _rest(self) -> None:
        body = json.dumps({"instances": [1.0]}).encode()
        url = f"{self.server.rest_url}/v1/models/default:predict"
        while not self.stopped.is_set():
            sent = time.monotonic()
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(url, data=body), timeout=10
                ) as response:
                    outcome = "ok" if response.status == 200 else f"failed {response.status}"
            except urllib.error.HTTPError as error:
                outcome = f"failed {error.code}"
            except (urllib.error.URLError, ConnectionError) as error:
                # No connection: the listening socket is closed (or was closing while the
                # connection waited in its backlog); the request was never accepted.
                reason = getattr(error, "reason", error)
                outcome = "refused" if isinstance(reason, ConnectionError) else f"failed {reason!r}"
            self.results.append(("rest", sent, outcome))
            if outcome == "refused":
                time.sleep(0.05)


def test_sigterm_drains_without_failing_an_accepted_request(testdata: Path, tmp_path: Path) -> None:
    server = ServerProcess(
        [
            f"--model_base_path={testdata / 'saved_model_half_plus_two_cpu'}",
            f"--drain_seconds={DRAIN_SECONDS}",
        ],
        tmp_path,
    )
    try:
        assert check(server) == SERVING
        with Stream(server) as stream:
            time.sleep(0.5)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            assert check(server) == NOT_SERVING  # at once, while still serving
            server.process.wait(30)
        exit_code = server.process.returncode
    finally:
        server.stop()
    assert exit_code == 0, server.log()[-3000:]
    failed = [result for result in stream.results if result[2].startswith("failed")]
    assert failed == [], (failed, signalled)
    in_drain = [r for r in stream.results if signalled <= r[1] < signalled + DRAIN_SECONDS - 0.2]
    assert in_drain and all(outcome == "ok" for _, _, outcome in in_drain), in_drain
    for api in ("grpc", "rest"):
        assert any(r[0] == api and r[2] == "ok" and r[1] > signalled + 0.5 for r in in_drain), api
    assert "draining for 1.0s" in server.log()


def test_a_second_sigterm_exits_at_once(testdata: Path, tmp_path: Path) -> None:
    server = ServerProcess(
        [f"--model_base_path={testdata / 'saved_model_half_plus_two_cpu'}", "--drain_seconds=60"],
        tmp_path,
    )
    try:
        server.process.send_signal(signal.SIGTERM)
        server.wait_until(
            lambda: "draining for 60.0s" in server.log(), timeout=10, what="the drain"
        )
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(10)
        assert time.monotonic() - started < 5
        assert server.process.returncode == 1
        assert "second SIGTERM: exiting at once" in server.log()
    finally:
        server.stop()
