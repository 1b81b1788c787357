"""Version swaps under a steady request stream: zero failed requests, and RSS within a bound.

One server (its own: the swaps change the served version) watches a model folder with
``--file_system_poll_wait_seconds=1``. Two client threads send Predict without a version
(one over gRPC, one over REST) the whole time, while the test swaps versions as an exporter
does: a new version is copied in (aside, then renamed), the test waits until it is
AVAILABLE and the old one has ended, then deletes the old folder. Every request must
succeed. RSS is read after ``WARMUP_SWAPS`` swaps and at the end, and the growth per swap
printed (run with ``-s``).

``AIOSERVING_SWAPS`` sets the number of swaps (bench mode: 300, about 8 minutes); CI runs
``CI_SWAPS``.
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.integration.server_process import ServerProcess
from tests.integration.server_process import testdata_dir as _testdata

CI_SWAPS = 6
SWAPS = int(os.environ.get("AIOSERVING_SWAPS", str(CI_SWAPS)))
WARMUP_SWAPS = 2
SOURCE_VERSION = "00000123"
# In CI, a few swaps measure RSS coarsely (allocator noise is a few MiB): the bound catches
# a model kept per swap (MBs), not the last KB; bench mode prints the real figure.
MAX_GROWTH_PER_SWAP_KIB = 4 * 1024


@pytest.fixture(scope="module")
def swapping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    workdir = tmp_path_factory.mktemp("swaps")
    base = workdir / "m"
    base.mkdir()
    shutil.copytree(_testdata() / "saved_model_half_plus_two_cpu" / SOURCE_VERSION, base / "1")
    server = ServerProcess(
        [f"--model_base_path={base}", "--model_name=m", "--file_system_poll_wait_seconds=1"],
        workdir,
    )
    yield server, base
    assert server.stop() == 0, server.log()[-3000:]


def _rss_kib(server: ServerProcess) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _states(server: ServerProcess) -> dict[str, str]:
    status, document = server.http("GET", "/v1/models/m")
    assert status == 200, document
    return {entry["version"]: entry["state"] for entry in document["model_version_status"]}


class _Stream:
    """Client threads sending Predict until stopped, counting answers by outcome."""

    def __init__(self, server: ServerProcess) -> None:
        self._server = server
        self._stop = threading.Event()
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._grpc, daemon=True),
            threading.Thread(target=self._rest, daemon=True),
        ]

    def __enter__(self) -> _Stream:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _record(self, outcome: str, failure: str | None) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            if failure is not None and len(self.failures) < 10:
                self.failures.append(failure)

    def _grpc(self) -> None:
        channel = grpc.insecure_channel(f"127.0.0.1:{self._server.grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "m"
        request.inputs["x"].dtype = 1  # DT_FLOAT
        request.inputs["x"].tensor_shape.dim.add(size=1)
        request.inputs["x"].float_val.append(1.0)
        while not self._stop.is_set():
            try:
                response = stub.Predict(request, timeout=10)
                ok = list(response.outputs["y"].float_val) == [2.5]
                self._record("grpc ok" if ok else "grpc wrong", None if ok else str(response))
            except grpc.RpcError as error:
                self._record(f"grpc {error.code().name}", f"gRPC {error.code()}: {error.details()}")
        channel.close()

    def _rest(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self._server.rest_port, timeout=10)
        while not self._stop.is_set():
            try:
                connection.request("POST", "/v1/models/m:predict", body=b'{"instances": [1.0]}')
                response = connection.getresponse()
                raw = response.read()
                ok = response.status == 200 and json.loads(raw) == {"predictions": [2.5]}
                self._record(
                    "rest ok" if ok else f"rest {response.status}", None if ok else raw.decode()
                )
            except (OSError, http.client.HTTPException) as error:
                self._record("rest error", f"REST {error!r}")
                connection.close()
        connection.close()


def _swap(server: ServerProcess, base: Path, old: int) -> None:
    """Copy version ``old + 1`` in, wait until it serves and ``old`` has ended, remove ``old``."""
    new = old + 1
    aside = base.parent / f"incoming-{new}"
    shutil.copytree(base / str(old), aside)
    aside.rename(base / str(new))
    server.wait_until(
        lambda: (
            _states(server).get(str(new)) == "AVAILABLE"
            and _states(server).get(str(old)) in (None, "END")
        ),
        timeout=30,
        what=f"version {new} AVAILABLE and {old} END",
    )
    shutil.rmtree(base / str(old))


def test_version_swaps_under_a_request_stream_fail_no_request_and_keep_rss_bounded(
    swapping: tuple[ServerProcess, Path],
) -> None:
    server, base = swapping
    server.wait_until(lambda: _states(server).get("1") == "AVAILABLE", what="version 1")
    started = time.monotonic()
    with _Stream(server) as stream:
        version = 1
        for _ in range(WARMUP_SWAPS):
            _swap(server, base, version)
            version += 1
        rss_after_warmup = _rss_kib(server)
        for _ in range(SWAPS - WARMUP_SWAPS):
            _swap(server, base, version)
            version += 1
        rss_at_end = _rss_kib(server)
    served = sum(stream.outcomes.values())
    ok = stream.outcomes["grpc ok"] + stream.outcomes["rest ok"]
    per_swap_kib = (rss_at_end - rss_after_warmup) / (SWAPS - WARMUP_SWAPS)
    print(
        f"\n{SWAPS} swaps in {time.monotonic() - started:.1f} s; {served} requests, "
        f"{served - ok} failed; outcomes {dict(stream.outcomes)}; RSS "
        f"{rss_after_warmup // 1024} -> {rss_at_end // 1024} MiB after the first "
        f"{WARMUP_SWAPS} swaps: {per_swap_kib:+.0f} KiB per swap"
    )
    assert stream.outcomes["grpc ok"] > SWAPS and stream.outcomes["rest ok"] > SWAPS
    assert served == ok, stream.failures
    assert per_swap_kib < MAX_GROWTH_PER_SWAP_KIB
