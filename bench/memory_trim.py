"""RSS before and after one large REST request, with and without ``malloc_trim`` (issue 13).

For each setting (``--malloc_trim_threshold_bytes=0``: never trim; the default 32 MiB),
one fresh server serves ``half_plus_two``; the bench reads its VmRSS, sends one
``:predict`` whose JSON body is about ``BODY_MB`` MB of numbers (15 M floats), then reads
VmHWM (the peak) and VmRSS ``SETTLE_S`` seconds after the answer. Run:

    AIOSERVING_TESTDATA=... python -m bench.memory_trim
"""

from __future__ import annotations

import http.client
import sys
import tempfile
import time
from pathlib import Path

from tests.integration.server_process import ServerProcess, testdata_dir

BODY_MB = 60
SETTLE_S = 2.0


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _body() -> bytes:
    count = BODY_MB * 1024**2 // 4  # "1.5," per value
    return b'{"instances": [' + b",".join([b"1.5"] * count) + b"]}"


def measure(threshold_bytes: int, body: bytes) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as workdir:
        server = ServerProcess(
            [
                f"--model_base_path={testdata_dir() / 'saved_model_half_plus_two_cpu'}",
                "--model_name=hpt",
                f"--rest_max_body_bytes={len(body) + 1024}",
                f"--malloc_trim_threshold_bytes={threshold_bytes}",
            ],
            Path(workdir),
        )
        try:
            pid = server.process.pid
            assert server.http("POST", "/v1/models/hpt:predict", {"instances": [1.0]})[0] == 200
            time.sleep(0.5)
            before = _status_kib(pid, "VmRSS")
            connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=300)
            started = time.perf_counter()
            connection.request("POST", "/v1/models/hpt:predict", body=body)
            response = connection.getresponse()
            answer = response.read()
            seconds = time.perf_counter() - started
            connection.close()
            assert response.status == 200, answer[:300]
            del answer
            time.sleep(SETTLE_S)
            return {
                "before_mib": before / 1024,
                "peak_mib": _status_kib(pid, "VmHWM") / 1024,
                "after_mib": _status_kib(pid, "VmRSS") / 1024,
                "request_s": seconds,
            }
        finally:
            server.stop()


def main() -> None:
    body = _body()
    print(f"body: {len(body) / 1e6:.1f} MB", file=sys.stderr)
    for label, threshold in (("no trim", 0), ("trim (32 MiB)", 32 * 1024**2)):
        figures = measure(threshold, body)
        print(
            f"{label:14} RSS before {figures['before_mib']:.0f} MiB, peak "
            f"{figures['peak_mib']:.0f} MiB, after {figures['after_mib']:.0f} MiB "
            f"(+{figures['after_mib'] - figures['before_mib']:.0f} MiB kept); request "
            f"{figures['request_s']:.1f} s"
        )


if __name__ == "__main__":
    main()
