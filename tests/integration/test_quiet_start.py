"""A quiet start: nothing from TensorFlow, absl or CUDA reaches the output without ``--verbose``.

Real processes, real output: the README's first command (``server.py`` with no model
source) on its first run, which exports the digits example before serving it, then the
example client against that server, the exporter on its own, and the same server with
``--verbose``, which lets TensorFlow's own lines through. The first run exports into a
temporary folder (``server.EXAMPLE_MODEL_DIR`` pointed there); everything else is
``server.main`` as the command runs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOISE = ("onednn", "cuda", "cuinit", "absl", "all log messages before absl")
SERVE = (
    "import sys; from pathlib import Path; import server; "
    "server.EXAMPLE_MODEL_DIR = Path(sys.argv[1]); sys.exit(server.main(sys.argv[2:]))"
)
START_TIMEOUT_SECONDS = 300.0


def noise_in(output: str) -> list[str]:
    lowered = output.lower()
    return [word for word in NOISE if word in lowered]


class FirstCommand:
    """``server.py`` with no model source, serving (and if needed exporting) the example."""

    def __init__(self, model_dir: Path, work: Path, *flags: str) -> None:
        self.port_file = work / "ports.json"
        self.output = work / "output.txt"
        with self.output.open("wb") as output:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    SERVE,
                    str(model_dir),
                    "--port=0",
                    "--rest_api_port=0",
                    f"--port_file={self.port_file}",
                    "--drain_seconds=0",
                    *flags,
                ],
                cwd=REPO_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"the server did not start:\n{self.output.read_text()}")
            time.sleep(0.2)

    def grpc_address(self) -> str:
        import json

        return f"localhost:{json.loads(self.port_file.read_text())['grpc']}"

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) == 0
        return self.output.read_text()


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def test_first_run_export_start_and_example_client_print_no_tensorflow_noise(
    tmp_path: Path,
) -> None:
    model_dir = tmp_path / "models" / "mnist"
    (tmp_path / "first").mkdir()
    server = FirstCommand(model_dir, tmp_path / "first")
    try:
        client = run_example(
            "examples.mnist_client", "--server", server.grpc_address(), "--num_tests", "20"
        )
    finally:
        log = server.stop()
    assert (model_dir / "1").is_dir() and (model_dir / "2").is_dir()
    assert "exporting the example digits model" in log
    assert "Running gRPC ModelServer" in log
    assert noise_in(log) == [], log
    assert client.returncode == 0, client.stderr
    assert "Inference error rate" in client.stdout
    assert noise_in(client.stdout + client.stderr) == [], client.stderr


def test_the_exporter_alone_prints_no_tensorflow_noise(tmp_path: Path) -> None:
    done = run_example(
        "examples.export_digits",
        f"--output_dir={tmp_path / 'mnist'}",
        "--model_version=1",
        "--training_iterations=10",
    )
    assert done.returncode == 0, done.stderr
    assert "Exported version 1" in done.stdout
    assert noise_in(done.stdout + done.stderr) == [], done.stderr


def test_verbose_lets_tensorflow_lines_through(tmp_path: Path) -> None:
    model_dir = tmp_path / "models" / "mnist"
    (tmp_path / "verbose").mkdir()
    log = FirstCommand(model_dir, tmp_path / "verbose", "--verbose").stop()
    assert "exporting the example digits model" in log
    assert noise_in(log), log
    # TensorFlow's own kernels, as in TF Serving's build: pip's TensorFlow, left to
    # itself, announces oneDNN's.
    assert "onednn" not in noise_in(log), log
