"""Run the real server as a subprocess on ephemeral ports, and talk to it.

``ServerProcess`` starts ``python server.py --port 0 --rest_api_port 0 --port_file F``
plus the test's flags, waits until the port file appears (the server writes it once both
ports listen), and offers the official gRPC stubs and a plain-HTTP helper. It passes
``--drain_seconds=0`` before the test's flags (a later flag wins), so that stopping is
quick. ``stop()`` sends SIGTERM and returns the exit code; the server's log is kept for assertions.
``signal_stop()`` only sends the SIGTERM, so that several servers can stop at the same time
(``stop()`` then waits without signalling again: a second SIGTERM would exit at once, with 1).
With ``wait=False`` the constructor only launches the process, so that several servers can
start at the same time (each spends seconds importing TensorFlow on its own core);
``wait_started()`` then waits for the port file and opens the clients. ``ServerStarter``
starts servers one at a time or together and stops them all at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 120.0


def testdata_dir() -> Path:
    configured = os.environ.get("AIOSERVING_TESTDATA")
    if configured:
        return Path(configured)
    for candidate in (REPO_ROOT / "shared" / "testdata", REPO_ROOT.parent / "shared" / "testdata"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("TF Serving test data not found: set AIOSERVING_TESTDATA")


class ServerProcess:
    channel: grpc.Channel
    prediction: prediction_service_pb2_grpc.PredictionServiceStub
    models: model_service_pb2_grpc.ModelServiceStub

    def __init__(
        self,
        args: Sequence[str],
        workdir: Path,
        preexec_fn: Callable[[], None] | None = None,
        *,
        wait: bool = True,
    ) -> None:
        """``preexec_fn`` runs in the child before ``server.py`` (a lower rlimit, say);
        ``wait=False``: return once launched, and call ``wait_started()`` before using it."""
        self.port_file = workdir / f"ports-{time.monotonic_ns()}.json"
        self.log_path = workdir / f"server-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._signalled_stop = False
        self._started = False
        self.grpc_port = self.rest_port = 0
        command = [
            sys.executable,
            str(REPO_ROOT / "server.py"),
            "--port=0",
            "--rest_api_port=0",
            f"--port_file={self.port_file}",
            "--drain_seconds=0",  # tests stop servers often; a test of the drain passes its own
            *args,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
        if wait:
            self.wait_started()

    def wait_started(self) -> ServerProcess:
        """Wait until both ports listen, then open the gRPC clients (once; returns self)."""
        if not self._started:
            self.grpc_port, self.rest_port = self._wait_for_ports()
            self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
            self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
            self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
            self._started = True
        return self

    def _wait_for_ports(self) -> tuple[int, int]:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            if self.port_file.exists():
                ports = json.loads(self.port_file.read_text())
                return ports["grpc"], ports["rest"]
            time.sleep(0.05)
        self.process.kill()
        raise TimeoutError(f"server did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def http(
        self, method: str, path: str, body: bytes | str | dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """Plain HTTP; returns (status, parsed JSON body or raw text)."""
        if isinstance(body, dict):
            body = json.dumps(body)
        data = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(self.rest_url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def wait_until(self, predicate: Any, timeout: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(
            f"timed out waiting for {what}\n--- server log ---\n{self.log()[-5000:]}"
        )

    def signal_stop(self) -> None:
        """Send SIGTERM once (if still running); ``stop()`` then only waits."""
        if self.process.poll() is None and not self._signalled_stop:
            self.process.send_signal(signal.SIGTERM)
            self._signalled_stop = True

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, wait for exit, then close the client channel (in-flight calls finish)."""
        self.signal_stop()
        if self.process.poll() is None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._started:
            self.channel.close()
        self._log.close()
        return self.process.returncode


class ServerStarter:
    """Starts servers in one work folder and remembers them, to stop them all later."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self.started: list[ServerProcess] = []

    def __call__(self, *args: str) -> ServerProcess:
        """Start one server with these flags; returns once it listens."""
        return self.together(args)[0]

    def together(self, *flag_lists: Sequence[str]) -> list[ServerProcess]:
        """Launch one server per flag list at once, then wait until every one listens."""
        servers = [ServerProcess(flags, self._workdir, wait=False) for flags in flag_lists]
        self.started.extend(servers)
        return [server.wait_started() for server in servers]

    def stop_all(self) -> None:
        for server in self.started:  # all stop at once: each stop takes a while
            server.signal_stop()
        for server in self.started:
            server.stop()


def run_server_expecting_failure(
    args: Sequence[str], timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run the server with flags that must make it exit; returns the finished process."""
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "server.py"), "--port=0", "--rest_api_port=0", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
