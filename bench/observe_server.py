"""Full-server cost of request logging and tracing: c1 p50 and c64 throughput, on and off.

Starts the real server (``server.py``, ephemeral ports) once per variant on TF Serving's
``half_plus_two`` test model, and drives gRPC ``Predict`` (a pre-serialized 3-float
request) from one grpc.aio client process: ``--duration_s`` at concurrency 1 (p50 of the
calls) and then at concurrency 64 (calls per second). Variants:

- ``off``: no ``logging_config``, no ``OTEL_*`` variable;
- ``rate0``, ``rate0.01``, ``rate1``: ``logging_config`` at that sampling rate (files
  under a temporary folder);
- ``tracing``: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` at a loopback OTLP/HTTP receiver
  (``tests.otlp_receiver``), every request carrying a sampled ``traceparent``.

Run: ``python -m bench.observe_server [--duration_s 5] [--variants off,rate1]``
(``AIOSERVING_TESTDATA`` names TF Serving's test data). Prints one line per variant.
The server and the client share the machine's CPUs: compare variants of one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

REPO = Path(__file__).resolve().parents[1]
PREDICT = "/tensorflow.serving.PredictionService/Predict"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
VARIANTS = ("off", "rate0", "rate0.01", "rate1", "tracing")

CONFIG = """
model_config_list {{
  config {{
    name: "half_plus_two" base_path: "{base}" model_platform: "tensorflow"
    {logging}
  }}
}}
"""
LOGGING = """logging_config {{
      log_collector_config {{ type: "" filename_prefix: "{prefix}" }}
      sampling_config {{ sampling_rate: {rate} }}
    }}"""


def request_bytes() -> bytes:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0, 5.0], np.float32)))
    serialized: bytes = request.SerializeToString()
    return serialized


async def drive(port: int, concurrency: int, seconds: float, traced: bool) -> list[float]:
    """Each worker keeps one call in flight for ``seconds``; returns every call's seconds."""
    body = request_bytes()
    metadata = (("traceparent", TRACEPARENT),) if traced else None
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(PREDICT)
        await call(body, metadata=metadata)  # warm up
        latencies: list[float] = []
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                await call(body, metadata=metadata)
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies


def start_server(
    workdir: Path, variant: str, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], int]:
    testdata = Path(os.environ.get("AIOSERVING_TESTDATA", REPO.parent / "shared" / "testdata"))
    logging = ""
    if variant.startswith("rate"):
        prefix = workdir / "logs" / variant / "reqlog"
        logging = LOGGING.format(prefix=prefix, rate=variant.removeprefix("rate"))
    config = workdir / f"{variant}.config"
    config.write_text(
        CONFIG.format(base=testdata / "saved_model_half_plus_two_cpu", logging=logging)
    )
    port_file = workdir / f"{variant}.ports"
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "server.py"),
            "--port=0",
            "--rest_api_port=0",
            f"--port_file={port_file}",
            f"--model_config_file={config}",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / f"{variant}.log", "wb"),  # noqa: SIM115 - the child holds it
    )
    while not port_file.exists():
        if process.poll() is not None:
            raise RuntimeError(f"{variant}: the server exited; see {workdir / variant}.log")
        time.sleep(0.05)
    return process, int(json.loads(port_file.read_text())["grpc"])


def measure(variant: str, seconds: float, workdir: Path, endpoint: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if variant == "tracing":
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = endpoint
    process, port = start_server(workdir, variant, env)
    try:
        traced = variant == "tracing"
        single = asyncio.run(drive(port, 1, seconds, traced))
        many = asyncio.run(drive(port, 64, seconds, traced))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    return {
        "c1_p50_us": round(statistics.median(single) * 1e6, 1),
        "c64_calls_per_s": round(len(many) / seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration_s", type=float, default=5.0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    from tests.otlp_receiver import TRACES_PATH, OtlpReceiver  # a real receiver on loopback

    with tempfile.TemporaryDirectory() as folder, OtlpReceiver() as receiver:
        for variant in args.variants.split(","):
            result = measure(
                variant, args.duration_s, Path(folder), receiver.http_endpoint + TRACES_PATH
            )
            print(json.dumps({"variant": variant, **result}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
