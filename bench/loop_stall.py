"""How long small REST requests wait while one large ``:predict`` is served (issue 13).

One fresh server serves ``half_plus_two``. A thread sends small ``:predict`` requests back
to back over one keep-alive connection and records each latency; after a quiet baseline
window, the main thread sends one ``:predict`` whose JSON body is about ``BODY_MB`` MB of
numbers (15 M floats; the answer is as large). The bench prints the small requests'
latency (median, p99, max) before and during the large request: the max is the longest
the event loop stalled. Run:

    AIOSERVING_TESTDATA=... python -m bench.loop_stall

With ``PYTHONASYNCIODEBUG=1`` (which the server inherits) it also prints asyncio's log
of each callback that held the loop over 100 ms, to see what stalled it.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.integration.server_process import ServerProcess, testdata_dir

BODY_MB = 60
BASELINE_S = 2.0


def _body() -> bytes:
    count = BODY_MB * 1024**2 // 4  # "1.5," per value
    return b'{"instances": [' + b",".join([b"1.5"] * count) + b"]}"


def _summary(latencies_ms: list[float]) -> str:
    if not latencies_ms:
        return "no requests"
    ordered = sorted(latencies_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{len(ordered)} requests, median {statistics.median(ordered):.1f} ms, "
        f"p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms"
    )


def main() -> None:
    body = _body()
    with tempfile.TemporaryDirectory() as workdir:
        server = ServerProcess(
            [
                f"--model_base_path={testdata_dir() / 'saved_model_half_plus_two_cpu'}",
                "--model_name=hpt",
                f"--rest_max_body_bytes={len(body) + 1024}",
            ],
            Path(workdir),
        )
        try:
            samples: list[tuple[float, float]] = []  # (start, latency ms)
            stop = threading.Event()
            small = json.dumps({"instances": [1.0, 2.0]}).encode()

            def probe() -> None:
                connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=300)
                while not stop.is_set():
                    started = time.perf_counter()
                    connection.request("POST", "/v1/models/hpt:predict", body=small)
                    response = connection.getresponse()
                    response.read()
                    assert response.status == 200
                    samples.append((started, (time.perf_counter() - started) * 1000))
                    time.sleep(0.005)
                connection.close()

            prober = threading.Thread(target=probe)
            prober.start()
            time.sleep(BASELINE_S)
            large_start = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=300)
            connection.request("POST", "/v1/models/hpt:predict", body=body)
            response = connection.getresponse()
            answer = response.read()
            large_end = time.perf_counter()
            connection.close()
            stop.set()
            prober.join()
            assert response.status == 200, answer[:300]
            before = [ms for start, ms in samples if start < large_start]
            during = [ms for start, ms in samples if large_start <= start < large_end]
            # A request that started before the large one but was still waiting counts too.
            during += [ms for start, ms in samples if start < large_start < start + ms / 1000]
            print(
                f"body {len(body) / 1e6:.1f} MB, answer {len(answer) / 1e6:.1f} MB, "
                f"large request {large_end - large_start:.2f} s"
            )
            print(f"small requests before: {_summary(before)}")
            print(f"small requests during: {_summary(during)}")
            slowest = sorted(samples, key=lambda sample: -sample[1])[:3]
            print(
                "slowest small requests (start after the large one's start, s: ms): "
                + ", ".join(f"{start - large_start:+.2f}: {ms:.0f}" for start, ms in slowest)
            )
            # With PYTHONASYNCIODEBUG=1, asyncio logs each callback that held the loop.
            for line in server.log().splitlines():
                if "Executing" in line and "took" in line:
                    print("server:", line[:40], line[line.find("took") :][:60], line[90:200])
        finally:
            server.stop()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
