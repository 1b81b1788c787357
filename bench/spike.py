"""Load while serving (issue 4): one model's tail latency while another loads a new version.

One server (batching off) serves ``half_plus_two`` (A) and a private copy of the CNN (B)
under ``bench/out/spike/`` (removed afterwards). An open-loop stream of single-example gRPC
calls to A (``RATE_PER_S`` a second, up to ``IN_FLIGHT`` at once, so a stall shows up as
queued latency rather than as fewer calls; ``bench.loadgen --rate``) runs twice per repeat:
``quiet``, and ``loading``: ``LOAD_AFTER_S`` into the stream, B's newest version is copied to
a new version number (aside, then renamed, as an exporter does); the server polls every
second, loads it and unloads the old one, and the bench polls B's status over REST until
the new version is AVAILABLE. Per repeat: p50/p99/max of the quiet stream, p99/max of the
loading stream as a whole and over the *load window* (calls started from the copy until
``AFTER_LOAD_S`` after AVAILABLE), and the load time; ``SpikeResult`` keeps the repeats.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

import numpy as np

from bench.measure import GENERATOR_CPU, Server, started
from bench.prepare import copy_version, latest_version, write_model_config
from bench.spec import CNN, HALF_PLUS_TWO, OUT, REPO

SPIKE = OUT / "spike" / f"run-{os.getpid()}"
RATE_PER_S, IN_FLIGHT = 400, 64
QUIET_S, LOADING_S, LOAD_AFTER_S, AFTER_LOAD_S = 3.0, 5.0, 1.0, 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class SpikeResult:
    flags: str
    repeats: list[dict[str, float]]

    def median(self, key: str) -> float:
        return float(statistics.median(r[key] for r in self.repeats))


def _stream(server: Server, seconds: float, name: str) -> np.ndarray:
    """Rows of (start epoch s, duration ms) of an open-loop stream to A."""
    log = SPIKE / f"{name}.log"
    argv = [sys.executable, "-m", "bench.loadgen", "--protocol=grpc", f"--port={server.grpc_port}"]
    argv += ["--payload=half_plus_two-1", f"--concurrency={IN_FLIGHT}", f"--rate={RATE_PER_S}"]
    argv += [f"--duration_s={seconds}", f"--log={log}"]
    done = subprocess.run(["taskset", "-c", GENERATOR_CPU, *argv], cwd=REPO, capture_output=True)
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    if result["errors"]:
        raise RuntimeError(f"stream errors: {result['first_error']}")
    rows = np.loadtxt(log, ndmin=2)
    return np.column_stack([rows[:, 0], rows[:, 1] * 1e3])


def _available(server: Server, version: int, timeout_s: float) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/{CNN.name}"
        with urllib.request.urlopen(url, timeout=10) as response:
            states = json.load(response).get("model_version_status", [])
        if any(int(s["version"]) == version and s["state"] == "AVAILABLE" for s in states):
            return time.time()
        time.sleep(0.2)
    return None


def _repeat(server: Server, version: int) -> dict[str, float]:
    quiet = _stream(server, QUIET_S, "quiet")[:, 1]
    model_b = dataclasses.replace(CNN, base_path=SPIKE / "cnn")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(_stream, server, LOADING_S, "loading")
        time.sleep(LOAD_AFTER_S)
        copied = time.time()
        copy_version(model_b, version - 1, version)
        available = _available(server, version, 60.0)
        loading = running.result()
    if available is None:
        raise RuntimeError(f"version {version} of the CNN never became available")
    window = loading[(loading[:, 0] >= copied) & (loading[:, 0] <= available + AFTER_LOAD_S), 1]
    window = window if window.size else loading[:, 1]
    return {
        "quiet_p50": float(np.percentile(quiet, 50)),
        "quiet_p99": float(np.percentile(quiet, 99)),
        "quiet_max": float(quiet.max()),
        "quiet_rps": quiet.size / QUIET_S,
        "loading_p99": float(np.percentile(loading[:, 1], 99)),
        "loading_max": float(loading[:, 1].max()),
        "loading_rps": loading.shape[0] / LOADING_S,
        "window_p99": float(np.percentile(window, 99)),
        "window_max": float(window.max()),
        "load_s": available - copied,
    }


def run_spike(repeats: int = 3) -> SpikeResult:
    shutil.rmtree(SPIKE, ignore_errors=True)
    shutil.copytree(latest_version(CNN), SPIKE / "cnn" / "1")
    model_b = dataclasses.replace(CNN, base_path=SPIKE / "cnn")
    config = SPIKE / "models.config"
    write_model_config(config, (HALF_PLUS_TWO, model_b))
    try:
        with started("spike", (), models=config) as server:
            repeats_ = [_repeat(server, 2 + i) for i in range(repeats)]
        return SpikeResult(f"server.py --model_config_file={config}", repeats_)
    finally:
        shutil.rmtree(SPIKE, ignore_errors=True)
