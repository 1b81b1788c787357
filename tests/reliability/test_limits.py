"""Limits no client can get past: body and tensor caps, flat metrics, idle connections
closed, and the operator-side checks (int64 version folders, SIGHUP, a taken gRPC port)."""

from __future__ import annotations

import gzip
import http.client
import json
import random
import signal
import socket
import string
import time

import grpc
import pytest
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2

from tests.integration.server_process import (
    ServerProcess,
    run_server_expecting_failure,
)
from tests.integration.server_process import testdata_dir as _testdata
from tests.reliability.conftest import (
    IDLE_TIMEOUT_SECONDS,
    MAX_BODY_BYTES,
    MAX_TENSOR_BYTES,
    TOO_BIG_VERSION,
)


def _post(
    server: ServerProcess, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _rss_peak_kib(server: ServerProcess) -> int:
    with open(f"/proc/{server.process.pid}/status") as status:
        lines = status.read().splitlines()
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_huge_shape_in_a_tiny_grpc_request_is_refused_before_allocation(
    server: ServerProcess,
) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hpt"
    tensor = request.inputs["x"]
    tensor.dtype = 1  # DT_FLOAT
    tensor.tensor_shape.dim.add(size=268435456)
    tensor.tensor_shape.dim.add(size=1)
    tensor.float_val.append(1.0)
    assert request.ByteSize() < 64
    before = _rss_peak_kib(server)
    with pytest.raises(grpc.RpcError) as raised:
        server.prediction.Predict(request, timeout=30)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = raised.value.details()
    assert "'x'" in details and "[268435456, 1]" in details and str(MAX_TENSOR_BYTES) in details
    assert _rss_peak_kib(server) - before < 100 * 1024  # nothing near 1 GiB was allocated


def test_a_gzip_bomb_is_refused_with_413(server: ServerProcess) -> None:
    bomb = gzip.compress(b'{"instances": [' + b" " * (50 * MAX_BODY_BYTES) + b"1.0]}")
    assert len(bomb) < MAX_BODY_BYTES // 10
    before = _rss_peak_kib(server)
    status, raw = _post(server, "/v1/models/hpt:predict", bomb, {"Content-Encoding": "gzip"})
    assert status == 413, raw
    assert "decompressed" in json.loads(raw)["error"]
    assert _rss_peak_kib(server) - before < 20 * 1024  # stopped at the limit, not at 50x it
    status, raw = _post(
        server, "/v1/models/hpt:predict", b"not gzip at all", {"Content-Encoding": "gzip"}
    )
    # TF Serving reads a body that does not inflate as empty (issue 18 item 15).
    assert status == 400, raw
    assert json.loads(raw) == {"error": "JSON Parse error: The document is empty"}


def test_a_body_at_the_limit_is_served_and_one_byte_more_is_413(server: ServerProcess) -> None:
    def body(size: int) -> bytes:
        head, tail = b'{"instances": [1.0, 2.0]', b"}"
        return head + b" " * (size - len(head) - len(tail)) + tail

    status, raw = _post(server, "/v1/models/hpt:predict", body(MAX_BODY_BYTES))
    assert status == 200 and json.loads(raw) == {"predictions": [2.5, 3.0]}
    status, raw = _post(server, "/v1/models/hpt:predict", body(MAX_BODY_BYTES + 1))
    assert status == 413 and "--rest_max_body_bytes" in json.loads(raw)["error"]


def test_the_biggest_allowed_rest_request_is_served(server: ServerProcess) -> None:
    """A body just under the limit of numbers: its peak RSS is printed (run with -s)."""
    values = b",".join([b"1.5"] * ((MAX_BODY_BYTES - 64) // 4))
    body = b'{"instances": [' + values + b"]}"
    assert len(body) <= MAX_BODY_BYTES
    status, raw = _post(server, "/v1/models/hpt:predict", body)
    assert status == 200 and len(json.loads(raw)["predictions"]) == values.count(b",") + 1
    print(f"\nRSS peak after a {len(body)}-byte predict body: {_rss_peak_kib(server) // 1024} MiB")


def test_metrics_stay_flat_under_random_model_names(server: ServerProcess) -> None:
    def metrics() -> str:
        text: str = server.http("GET", "/metrics")[1]  # /metrics is plain text, not JSON
        return text

    randoms = random.Random(13)

    def name() -> str:
        return "".join(randoms.choices(string.ascii_letters, k=randoms.randint(1, 300)))

    def one_round() -> None:
        server.http("POST", f"/v1/models/{name()}:predict", {"instances": [1.0]})
        server.http("GET", f"/v1/models/{name()}")
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name()
        with pytest.raises(grpc.RpcError):
            server.models.GetModelStatus(request, timeout=10)

    one_round()  # the first unknown name adds the "__unknown__" series once
    before = len(metrics())
    for _ in range(100):
        one_round()
    after = metrics()
    assert len(after) - before < 200, (
        "metrics grew with client-chosen names"
    )  # digits of counters only
    assert 'model_name="__unknown__",status="NOT_FOUND"' in after


def test_idle_and_half_sent_connections_are_closed(server: ServerProcess) -> None:
    sockets = [socket.create_connection(("127.0.0.1", server.rest_port)) for _ in range(30)]
    for index, sock in enumerate(sockets):
        if index % 3 == 1:
            sock.sendall(b"GET /v1/models/hpt HTTP/1.1\r\nHost: x")  # headers never finished
        elif index % 3 == 2:
            sock.sendall(
                b"POST /v1/models/hpt:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
            )  # body never sent
    deadline = time.monotonic() + IDLE_TIMEOUT_SECONDS + 5
    for sock in sockets:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        data = sock.recv(65536)
        while data:  # a 408 answer may come first; then the close
            assert b"408" in data or data.startswith(b"HTTP/1.1 408"), data[:200]
            data = sock.recv(65536)
        sock.close()
    assert time.monotonic() < deadline
    assert server.http("GET", "/v1/models/hpt")[0] == 200


def test_a_version_folder_above_int64_is_ignored_with_one_log_line(server: ServerProcess) -> None:
    status, document = server.http("GET", "/v1/models/hpt")
    assert status == 200
    assert [v["version"] for v in document["model_version_status"]] == ["123"]
    time.sleep(1.5)  # a few polls
    assert server.log().count("ignoring version folder") == 1
    assert TOO_BIG_VERSION in server.log()


def test_sighup_does_not_stop_the_server(server: ServerProcess) -> None:
    server.process.send_signal(signal.SIGHUP)
    server.wait_until(lambda: "SIGHUP" in server.log(), what="the SIGHUP logged")
    assert server.process.poll() is None
    assert server.http("POST", "/v1/models/hpt:predict", {"instances": [1.0]}) == (
        200,
        {"predictions": [2.5]},
    )
    assert "SIGHUP" in server.log()


def test_a_grpc_port_in_use_fails_start_up(server: ServerProcess) -> None:
    finished = run_server_expecting_failure(
        [
            f"--port={server.grpc_port}",
            f"--model_base_path={_testdata() / 'saved_model_half_plus_two_cpu'}",
            "--model_name=hpt",
        ]
    )
    assert finished.returncode == 1
    assert f"could not bind the gRPC port at 0.0.0.0:{server.grpc_port}" in finished.stderr
