"""Idle REST connections can no longer exhaust the descriptors (issue 18, item 20).

Source: the finding behind item 20: under ``RLIMIT_NOFILE=1024``, 1,100 idle REST
connections exhausted the server's descriptors and stopped both APIs. The server now
derives a REST cap from the limit (``config.connection_limits``: an equal share per API of
what 128 reserved descriptors leave, 448 here), logs it, and closes connections past it on
accept, so a new gRPC connection is still accepted during the flood. The server serves
half_plus_two as an ONNX model: the caps are the frontends' and do not depend on the
platform, and without a TensorFlow model the server starts without TensorFlow.
"""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Iterator

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.integration.half_plus_two_onnx import write_half_plus_two_onnx
from tests.integration.server_process import ServerProcess

LIMIT = 1024
IDLE_CONNECTIONS = 1100
CAP = (LIMIT - 128) // 2


def _issue_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < IDLE_CONNECTIONS + 200:
        pytest.skip(f"the test process may open only {hard} descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, IDLE_CONNECTIONS + 200), hard))
    work = tmp_path_factory.mktemp("connection_caps")
    process = ServerProcess(
        [
            f"--model_base_path={write_half_plus_two_onnx(work / 'half_plus_two')}",
            "--model_name=hpt",
            "--rest_idle_timeout_seconds=60",  # the idle sockets stay open during the test
        ],
        work,
        preexec_fn=_issue_descriptor_limit,
    )
    yield process
    assert process.stop() == 0, process.log()[-3000:]


def _predict(channel: grpc.Channel) -> float:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hpt"
    request.inputs["x"].dtype = 1  # DT_FLOAT
    request.inputs["x"].tensor_shape.dim.add(size=1)
    request.inputs["x"].float_val.append(1.0)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return float(stub.Predict(request, timeout=10).outputs["y"].float_val[0])


def _open_descriptors(server: ServerProcess) -> int:
    return len(os.listdir(f"/proc/{server.process.pid}/fd"))


def test_the_derived_cap_is_logged(server: ServerProcess) -> None:
    assert (
        f"connection caps: REST {CAP}, gRPC {CAP} (derived from RLIMIT_NOFILE {LIMIT}, "
        "128 reserved)" in server.log()
    )


def test_1100_idle_rest_connections_leave_grpc_accepting_new_connections(
    server: ServerProcess,
) -> None:
    at_start = _open_descriptors(server)
    idle = [
        socket.create_connection(("127.0.0.1", server.rest_port)) for _ in range(IDLE_CONNECTIONS)
    ]
    try:
        server.wait_until(
            lambda: _open_descriptors(server) >= at_start + CAP - 5,
            timeout=30,
            what="the REST cap reached",
        )
        # A new gRPC connection, opened during the flood, is accepted and answered.
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as fresh:
            assert _predict(fresh) == 2.5
        assert _open_descriptors(server) < LIMIT - 100  # the table never filled
        assert server.process.poll() is None
    finally:
        for sock in idle:
            sock.close()
    server.wait_until(
        lambda: _open_descriptors(server) < at_start + 10, timeout=30, what="sockets closed"
    )
    assert server.http("POST", "/v1/models/hpt:predict", {"instances": [1.0]}) == (
        200,
        {"predictions": [2.5]},
    )
