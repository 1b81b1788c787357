"""A flood of idle REST connections cannot take the server's file descriptors.

One server (its own) starts under ``RLIMIT_NOFILE`` of ``LIMIT`` (soft and hard, so the
start-up raise changes nothing). The test opens more idle REST connections than the limit,
checks that the descriptor table never fills (the derived REST cap closes the excess on
accept), that the gRPC connection opened before still answers, then closes them all and
checks that both APIs accept new connections again.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from collections.abc import Iterator

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.integration.server_process import ServerProcess
from tests.integration.server_process import testdata_dir as _testdata

LIMIT = 256


def _low_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        [
            f"--model_base_path={_testdata() / 'saved_model_half_plus_two_cpu'}",
            "--model_name=hpt",
            "--rest_idle_timeout_seconds=60",  # the idle sockets stay open during the test
        ],
        tmp_path_factory.mktemp("descriptors"),
        preexec_fn=_low_descriptor_limit,
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


def test_idle_rest_connections_never_fill_the_descriptor_table_and_grpc_keeps_serving(
    server: ServerProcess,
) -> None:
    """Issue 18 item 20: the default REST cap, derived from RLIMIT_NOFILE, keeps room free.

    Under a limit of ``LIMIT`` (256) the REST API may hold (256 - 128) / 2 = 64
    connections (``config.connection_limits``); the flood of idle sockets beyond that is
    closed on accept, so the table never fills, gRPC keeps answering, and both APIs take
    new connections once the flood is gone.
    """
    log = server.log()
    assert f"RLIMIT_NOFILE): {LIMIT} (hard limit {LIMIT})" in log
    assert "connection caps: REST 64, gRPC 64" in log
    assert _predict(server.channel) == 2.5  # the gRPC connection exists before the flood
    at_start = _open_descriptors(server)
    idle = [socket.create_connection(("127.0.0.1", server.rest_port)) for _ in range(LIMIT + 50)]
    try:
        # Watch the table while the server works through the flood: it never fills.
        most = at_start
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            most = max(most, _open_descriptors(server))
            time.sleep(0.05)
        print(f"\ndescriptors: {at_start} at start, at most {most} of {LIMIT} during the flood")
        assert most < LIMIT - 16, "the idle connections filled the descriptor table"
        for _ in range(20):  # the other API still answers, every time
            assert _predict(server.channel) == 2.5
        assert server.process.poll() is None
    finally:
        for sock in idle:
            sock.close()
    # Recovered: new connections on both APIs.
    server.wait_until(
        lambda: _open_descriptors(server) < at_start + 10, timeout=15, what="sockets closed"
    )
    assert server.http("POST", "/v1/models/hpt:predict", {"instances": [1.0]}) == (
        200,
        {"predictions": [2.5]},
    )
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as fresh:
        assert _predict(fresh) == 2.5
