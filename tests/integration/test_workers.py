"""``--workers 2``: two server processes on the same ports behave as one server.

One server for the module; the tests run in order (serve, metrics, reload, kill, stop).
Which worker answered is read from each worker's own, unmerged ``/metrics`` on its private
socket in the run directory (``worker_dir`` in the port file): the API is unchanged.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf import text_format
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    model_management_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from app.workers import cpu_slices
from tests.integration.server_process import ServerProcess


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("worker", timeout=10)
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def worker_metrics(socket_path: Path) -> str:
    connection = _UnixConnection(socket_path)
    try:
        connection.request("GET", "/metrics")
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent); labels must match exactly."""
    for line in text.splitlines():
        match = re.fullmatch(r"(\S+?)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return 0.0


def predict_rest(server: ServerProcess, model: str) -> None:
    # urllib opens a new connection per request, so the kernel spreads them over the workers.
    status, body = server.http("POST", f"/v1/models/{model}:predict", {"instances": [1.0]})
    assert status == 200, body


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., ServerProcess],
    testdata: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerProcess:
    config = tmp_path_factory.mktemp("workers") / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "a" base_path: "{testdata}/saved_model_half_plus_two_cpu" '
        'model_platform: "tensorflow" } }'
    )
    started: ServerProcess = start_server(f"--model_config_file={config}", "--workers=2")
    return started


@pytest.fixture(scope="module")
def worker_dir(server: ServerProcess) -> Path:
    return Path(json.loads(server.port_file.read_text())["worker_dir"])


def sockets(worker_dir: Path) -> list[Path]:
    return [worker_dir / f"worker-{index}.sock" for index in range(2)]


def worker_pids(server: ServerProcess) -> set[int]:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text()
    return {int(pid) for pid in children.split()}


def test_every_worker_serves_and_metrics_show_the_totals(
    server: ServerProcess, worker_dir: Path
) -> None:
    sent = 40
    for _ in range(sent):
        predict_rest(server, "a")
    per_worker = [worker_metrics(path) for path in sockets(worker_dir)]
    counts = [
        sample(text, ":tensorflow:serving:request_count", model_name="a", status="OK")
        for text in per_worker
    ]
    assert all(count > 0 for count in counts), counts
    assert sum(counts) == sent

    status, merged = server.http("GET", "/metrics")
    assert status == 200
    assert sample(merged, ":tensorflow:serving:request_count", model_name="a", status="OK") == sent
    latency = ":tensorflow:serving:request_latency_count"
    assert sample(merged, latency, API="predict", entrypoint="REST", model_name="a") == sent
    # Per-process series stay apart, one per worker.
    assert 'process_resident_memory_bytes{worker="0"}' in merged
    assert 'process_resident_memory_bytes{worker="1"}' in merged


def grpc_predicts_by_worker(worker_dir: Path) -> list[float]:
    latency = ":tensorflow:serving:request_latency_count"
    return [
        sample(worker_metrics(path), latency, API="Predict", entrypoint="GRPC", model_name="a")
        for path in sockets(worker_dir)
    ]


def test_channels_with_their_own_connections_spread_over_the_workers(
    server: ServerProcess, worker_dir: Path
) -> None:
    # The kernel gives each connection to one worker. Channels with the same arguments
    # may share one connection; a local subchannel pool gives each channel its own, so
    # 16 channels land on both workers (all on one: a chance of 2 in 65,536).
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "a"
    request.inputs["x"].CopyFrom(
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]
            ),
            float_val=[2.0],
        )
    )
    before = grpc_predicts_by_worker(worker_dir)
    target = f"127.0.0.1:{server.grpc_port}"
    channels = [
        grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(16)
    ]
    try:
        for channel in channels:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert list(stub.Predict(request, timeout=30).outputs["y"].float_val) == [3.0]
    finally:
        for channel in channels:
            channel.close()
    served = [a - b for a, b in zip(grpc_predicts_by_worker(worker_dir), before, strict=True)]
    assert sum(served) == 16
    assert all(count > 0 for count in served), served


def test_each_worker_is_started_with_its_share_of_the_cpus(server: ServerProcess) -> None:
    # The server inherits this process's CPU affinity; two workers split it.
    share = max(1, len(os.sched_getaffinity(0)) // 2)
    pids = worker_pids(server)
    assert len(pids) == 2
    for pid in pids:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert f"--tensorflow_intra_op_parallelism={share}" in arguments
        assert f"--tensorflow_inter_op_parallelism={share}" in arguments
        environment = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
        if "OMP_NUM_THREADS" not in os.environ:  # an operator's setting is kept
            assert f"OMP_NUM_THREADS={share}" in environment


def test_reload_through_one_worker_reaches_both(
    server: ServerProcess, worker_dir: Path, testdata: Path
) -> None:
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(
        f'model_config_list {{ config {{ name: "a" base_path: "{testdata}/saved_model_half_plus_two_cpu" }} '
        f'config {{ name: "b" base_path: "{testdata}/saved_model_half_plus_three" }} }}',
        request.config,
    )
    server.models.HandleReloadConfigRequest(request, timeout=60)  # one channel: one worker
    for path in sockets(worker_dir):
        text = worker_metrics(path)
        assert (
            sample(
                text, ":tensorflow:cc:saved_model:load_attempt_count", model_name="b", status="OK"
            )
            == 1
        ), path
    for _ in range(10):  # whichever worker answers serves "b"
        predict_rest(server, "b")


def test_killed_worker_is_replaced_with_the_reloaded_config(
    server: ServerProcess, worker_dir: Path
) -> None:
    before = worker_pids(server)
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    server.wait_until(
        lambda: len(worker_pids(server) - before) == 1, timeout=30, what="a new worker process"
    )

    def replaced_and_serving_b() -> bool:
        try:
            texts = [worker_metrics(path) for path in sockets(worker_dir)]
        except OSError:
            return False
        name = ":tensorflow:cc:saved_model:load_attempt_count"
        return all(sample(text, name, model_name="b", status="OK") == 1 for text in texts)

    server.wait_until(replaced_and_serving_b, timeout=60, what="the new worker serving model b")
    assert re.search(rf"worker \d \(pid {victim}\) exited with signal SIGKILL", server.log())
    for _ in range(20):
        predict_rest(server, "b")
    with urllib.request.urlopen(server.rest_url + "/v1/models/b", timeout=10) as response:
        assert json.loads(response.read())["model_version_status"][0]["state"] == "AVAILABLE"


def test_sigterm_drains_every_worker(server: ServerProcess) -> None:
    workers = worker_pids(server)
    assert server.stop() == 0
    log = server.log()
    assert "every worker stopped (exit statuses [0, 0])" in log
    assert (
        log.count("] server stopped") == 2
    )  # each worker unwound its parts (the killed one never did)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_worker_cpu_affinity_pins_every_thread_of_each_worker_to_its_slice(
    start_server: Callable[..., ServerProcess], testdata: Path
) -> None:
    pinned = start_server(
        f"--model_base_path={testdata}/saved_model_half_plus_two_cpu",
        "--model_name=a",
        "--workers=2",
        "--worker_cpu_affinity",
    )
    expected = sorted(map(set, cpu_slices(sorted(os.sched_getaffinity(0)), 2)), key=min)
    found = []
    for pid in worker_pids(pinned):
        threads = [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
        assert len(threads) > 5  # the loop, the executor, TensorFlow's and gRPC's threads
        assert {frozenset(os.sched_getaffinity(tid)) for tid in threads} == {
            frozenset(os.sched_getaffinity(pid))
        }
        found.append(set(os.sched_getaffinity(pid)))
    assert sorted(found, key=min) == expected
    predict_rest(pinned, "a")
    assert pinned.stop() == 0
