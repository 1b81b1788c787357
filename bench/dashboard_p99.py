"""p99 of a steady gRPC Predict stream with the dashboard open and refreshing, and without.

Starts ``server.py`` (half_plus_two from the test data, ``--enable_batching``, so the
queue-depth series is live too), then sends a paced stream of Predicts (one every
``--interval_ms``, one at a time) in alternating blocks: without a browser, then with
headless Chromium (Playwright, Debian's ``/usr/bin/chromium``) showing the dashboard with
the model selected, its own 2 s polling running and a full page reload every
``--reload_seconds``; repeated ``--rounds`` times, so drift on the machine hits both sides.
Prints p50/p99/max per side. The browser runs in a child process (this script with
``--browse URL``), so its CPU use is its own; on a small machine it still competes with
the server for cores, which is part of what is measured.

    python -m bench.dashboard_p99 [--requests 2000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"]


def browse(url: str, reload_seconds: float) -> None:
    """Child process: keep the dashboard open on the first model, reloading, until killed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        while True:
            page.goto(url)
            page.wait_for_selector("#models tbody tr")
            page.click("#models tbody tr")
            print("page open", flush=True)
            page.wait_for_timeout(reload_seconds * 1000)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stream(stub: object, request: object, count: int, interval_s: float) -> list[float]:
    latencies_ms = []
    next_at = time.perf_counter()
    for _ in range(count):
        now = time.perf_counter()
        if now < next_at:
            time.sleep(next_at - now)
        started = time.perf_counter()
        stub.Predict(request, timeout=10)  # type: ignore[attr-defined]
        latencies_ms.append((time.perf_counter() - started) * 1000)
        next_at = max(next_at + interval_s, time.perf_counter())
    return latencies_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per side, all rounds together")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--interval_ms", type=float, default=5.0)
    parser.add_argument("--reload_seconds", type=float, default=5.0)
    parser.add_argument("--browse", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.browse:
        browse(args.browse, args.reload_seconds)
        return 0

    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    from tests.integration.server_process import ServerProcess, testdata_dir

    batching = REPO_ROOT / "bench" / "batching.pbtxt"
    with tempfile.TemporaryDirectory() as workdir:
        server = ServerProcess(
            [
                f"--model_base_path={testdata_dir() / 'saved_model_half_plus_two_cpu'}",
                "--enable_batching",
                f"--batching_parameters_file={batching}",
            ],
            Path(workdir),
        )
        try:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "default"
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0]], np.float32)))
            stream(server.prediction, request, 200, 0.0)  # warm-up
            per_block = args.requests // args.rounds
            interval_s = args.interval_ms / 1000
            sides: dict[str, list[float]] = {"without the page": [], "with the page": []}
            for _ in range(args.rounds):
                sides["without the page"] += stream(
                    server.prediction, request, per_block, interval_s
                )
                child = subprocess.Popen(
                    [sys.executable, "-m", "bench.dashboard_p99", "--browse", server.rest_url + "/",
                     "--reload_seconds", str(args.reload_seconds)],
                    cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                try:
                    assert child.stdout is not None
                    child.stdout.readline()  # the page is open, the model selected
                    sides["with the page"] += stream(
                        server.prediction, request, per_block, interval_s
                    )
                finally:
                    child.terminate()
                    child.wait(30)
        finally:
            server.stop()
    print(f"{args.requests} gRPC Predicts per side, one every {args.interval_ms} ms, "
          f"{args.rounds} alternating rounds, {os.cpu_count()} CPUs")  # fmt: skip
    for name, values in sides.items():
        print(
            f"{name:>17}: p50 {statistics.median(values):.3f} ms  p99 {percentile(values, 0.99):.3f} ms"
            f"  max {max(values):.3f} ms  (n={len(values)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
