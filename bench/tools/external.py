"""Optional native load generators: h2load (gRPC) and wrk (REST), used when on the PATH.

They cost the generator core less than the Python generator, so a fast floor is not
capped by its client. ``command(...)`` returns the command line and a parser of its
output into ``{"requests", "seconds", "p50_ms", "p99_ms", "errors", "first_error"}``, the
Python generator's own result shape. Install: ``apt-get install wrk nghttp2-client``.

- h2load posts the framed ``PredictRequest`` (or V2 ``ModelInferRequest``) with ``content-type: application/grpc`` and
  ``te: trailers`` over h2c, ``min(c, 4)`` connections (or the scenario's ``connections``)
  with ``c / connections`` streams each.
  h2load counts any HTTP 200 as a success, and gRPC errors travel in trailers behind a
  200, so the DATA bytes received per call must equal the framed answer the real server
  gave: an error answer has no message and fails the check. Percentiles come from its
  per-request log.
- wrk posts the request body with ``tools/wrk_post.lua`` and the protocol's headers
  (``bench.prepare.rest_target``), ``c`` connections, one call each.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.prepare import GRPC_METHODS, rest_target
from bench.spec import REQUEST_SUFFIX, Payload, transport

Result = dict[str, Any]  # requests, seconds, p50_ms, p99_ms, errors, first_error
Parser = Callable[[str], Result]
WRK_SCRIPT = Path(__file__).with_name("wrk_post.lua")


def python(output: str) -> Result:
    """The Python generator's result: its last line."""
    return dict(json.loads(output.strip().splitlines()[-1]))


def available(protocol: str) -> bool:
    return shutil.which("h2load" if transport(protocol) == "grpc" else "wrk") is not None


def command(
    protocol: str,
    port: int,
    payload: Payload,
    concurrency: int,
    seconds: int,
    scratch: Path,
    connections: int = 0,
) -> tuple[list[str], Parser]:
    body = payload.file(REQUEST_SUFFIX[protocol])
    if transport(protocol) == "rest":
        path, headers = rest_target(protocol, payload)
        argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s"]
        argv += ["-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}{path}", "--", str(body)]
        return [*argv, *(f"{name}: {value}" for name, value in headers.items())], _wrk
    framed, log = scratch / "request.grpc", scratch / "h2load.log"
    message = body.read_bytes()
    framed.write_bytes(struct.pack(">BI", 0, len(message)) + message)
    expected = 5 + payload.file(f"{protocol}_response").stat().st_size
    connections = connections or min(concurrency, 4)
    argv = ["h2load", "-t1", f"-c{connections}", f"-m{math.ceil(concurrency / connections)}"]
    argv += [f"-D{seconds}s", "-d", str(framed), "-H", "content-type: application/grpc"]
    argv += [
        "-H",
        "te: trailers",
        f"--log-file={log}",
        f"http://127.0.0.1:{port}{GRPC_METHODS[protocol]}",
    ]
    return argv, lambda text: _h2load(text, log, expected)


def _h2load(text: str, log: Path, expected_bytes: int) -> Result:
    finished = re.search(r"finished in ([\d.]+)s", text)
    counts = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", text)
    data = re.search(r"traffic: .* \((\d+)\) data", text)
    if not (finished and counts and data):
        raise RuntimeError(f"unexpected h2load output:\n{text[-2000:]}")
    done, succeeded = int(counts.group(1)), int(counts.group(2))
    rows = [line.split("\t") for line in log.read_text().splitlines()]
    latencies_ms = np.array([int(r[2]) / 1e3 for r in rows if len(r) == 3 and r[1] == "200"])
    # Streams cut at the end of the run may have delivered part of a message: 1% slack.
    bad_size = abs(int(data.group(1)) / max(done, 1) - expected_bytes) > 0.01 * expected_bytes + 1
    errors = done - succeeded + (done if bad_size else 0)
    return {
        "requests": done,
        "seconds": float(finished.group(1)),
        "p50_ms": float(np.percentile(latencies_ms, 50)) if latencies_ms.size else 0.0,
        "p99_ms": float(np.percentile(latencies_ms, 99)) if latencies_ms.size else 0.0,
        "errors": errors,
        "first_error": "answers of the wrong size: not all gRPC calls OK" if errors else None,
    }


def _wrk(text: str) -> Result:
    line = next((r for r in text.splitlines() if r.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"unexpected wrk output:\n{text[-2000:]}")
    result = json.loads(line.removeprefix("WRK_RESULT "))
    errors = {k: v for k, v in result.items() if k.startswith("errors_") and v}
    return {
        "requests": result["requests"],
        "seconds": result["duration_us"] / 1e6,
        "p50_ms": result["p50_us"] / 1e3,
        "p99_ms": result["p99_us"] / 1e3,
        "errors": sum(errors.values()),
        "first_error": str(errors) if errors else None,
    }
