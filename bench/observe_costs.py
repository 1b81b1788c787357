"""Per-request cost of request logging, tracing and shadow decisions, measured in-process.

The request path's share of each feature, with the real components and no server:

- request logging: ``RequestLogger.sample`` for a model without ``logging_config``
  (capture off) and at sampling rates 0, 0.01 and 1; and, off the request path, the
  writer thread's cost to build, frame and write one Predict record;
- tracing: the ``is None`` test (tracing off) against a request span with five
  children exported by the SDK's batch processor to a loopback OTLP/HTTP receiver;
- shadows: ``ShadowMirror.decide`` for a model without a rule and with a 5 % rule.

Run: ``python -m bench.observe_costs``. Prints nanoseconds per call (best of 5 runs).
Full-server figures (c1 p50, c64 throughput) need the features wired into the data
plane; see app/NOTES-for-docs.md.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable

import numpy as np
from actors.request_logger import RequestLogger
from actors.shadow_mirror import ShadowMirror
from config.model_config import ModelSettings
from config.request_logging import RequestLogging
from config.shadow_config import ShadowRule, VersionRef
from protocol.prediction_log import CaptureContext, Captured, prediction_log
from protocol.tensors import ndarray_to_tensor_proto
from protocol.tfrecord import frame
from tensorflow_serving.apis import predict_pb2


def per_call_ns(function: Callable[[], object], number: int = 200_000) -> float:
    return min(timeit.repeat(function, number=number, repeat=5)) / number * 1e9


_RECEIVER = (
    "import sys\n"
    "from tests.otlp_receiver import OtlpReceiver\n"
    "with OtlpReceiver() as receiver:\n"
    "    print(receiver.http_endpoint, flush=True)\n"
    "    sys.stdin.read()\n"
)


def _timed(function: Callable[[], object], number: int, after: Callable[[], object]) -> float:
    """Nanoseconds per call of ``number`` calls; ``after`` runs untimed once they are done."""
    started = time.perf_counter_ns()
    for _ in range(number):
        function()
    elapsed = time.perf_counter_ns() - started
    after()
    return elapsed / number


def main() -> None:
    prefix = os.path.join(tempfile.mkdtemp(), "req")
    logger = RequestLogger()
    logger.configure(
        [ModelSettings(name="plain", base_path="/m")]
        + [
            ModelSettings(
                name=f"r{rate}",
                base_path="/m",
                request_logging=RequestLogging(filename_prefix=prefix, sampling_rate=rate),
            )
            for rate in (0.0, 0.01, 1.0)
        ]
    )
    print(f"logging off (no logging_config): {per_call_ns(lambda: logger.sample('plain')):6.1f} ns")
    for rate in (0.0, 0.01, 1.0):
        name = f"r{rate}"
        print(
            f"logging sample at rate {rate:<4}:     "
            f"{per_call_ns(functools.partial(logger.sample, name)):6.1f} ns"
        )

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    request.inputs["x"].CopyFrom(ndarray_to_tensor_proto(np.ones((1, 784), np.float32)))
    response = predict_pb2.PredictResponse()
    response.outputs["y"].CopyFrom(ndarray_to_tensor_proto(np.ones((1, 10), np.float32)))
    capture = Captured(
        context=CaptureContext(
            model_name="m",
            version=1,
            signature_name="serving_default",
            sampling_rate=1.0,
            request_origin="grpc",
            timestamp_secs=int(time.time()),
        ),
        request=request,
        response=response,
    )
    with open(prefix + "-bench", "wb") as sink:
        cost = per_call_ns(
            lambda: sink.write(frame(prediction_log(capture).SerializeToString())), 20_000
        )
    print(f"record build+frame+write (784 floats, writer thread): {cost / 1000:6.1f} µs")

    tracing: object | None = None
    print(f"tracing off (is None):           {per_call_ns(lambda: tracing is None):6.1f} ns")
    # The receiver runs in its own process so that its parsing does not share our GIL.
    receiver = subprocess.Popen(
        [sys.executable, "-c", _RECEIVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.stdout.readline().strip()
        from app.tracing import context_from_http_headers, tracing_from_environment

        on = tracing_from_environment()
        assert on is not None
        headers = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}

        def traced_request() -> None:
            trace = on.start_request(
                "Predict", parent=context_from_http_headers(headers), api="Predict", model_name="m"
            )
            trace.set_model(version=1, signature_name="serving_default")
            now = time.monotonic()
            trace.record("queue_wait", now, now)
            trace.record("batch", now, now, {"batch.size": 1})
            trace.record("model_execution", now, now)
            with trace.phase("decode"):
                pass
            with trace.phase("encode"):
                pass
            trace.end()

        # 300 requests (1800 spans) per run stay under the batch processor's 2048-span
        # queue; each run is followed by a flush, outside the timing.
        best = min(_timed(traced_request, 300, on.provider.force_flush) for _ in range(5))
        print(f"tracing on (span + 5 children):  {best / 1000:6.1f} µs")
        on.shutdown()
    finally:
        receiver.communicate("")

    rule = ShadowRule(
        model_name="s", primary=None, shadow=VersionRef(version=2), sampling_rate=0.05
    )
    mirror = ShadowMirror([rule])
    print(
        f"shadow decide, no rule:          {per_call_ns(lambda: mirror.decide('m', 1, {})):6.1f} ns"
    )
    print(
        f"shadow decide, 5 % rule:         {per_call_ns(lambda: mirror.decide('s', 1, {})):6.1f} ns"
    )


if __name__ == "__main__":
    main()
