"""Send the held-out digits to a model server over gRPC and report the inference error rate.

TF Serving's ``mnist_client.py``, adapted to the built-in digits example: it uses only the
official ``tensorflow-serving-api`` stubs, so it works the same against TF Serving and
aioserving. Contract:

- each request is one ``PredictRequest`` carrying one image as input ``images`` (float32
  [1, 784]) for ``model_name`` / ``signature_name`` (and ``model_version`` when given);
- at most ``concurrency`` requests are in flight at any moment (``Predict.future`` plus a
  semaphore that each completion releases), so the client can load a server without
  flooding it;
- the prediction is the argmax of output ``scores``; the error rate is the fraction of the
  ``num_tests`` requests whose prediction is not the label. When ``num_tests`` exceeds the
  held-out set, images are reused in order (cycled);
- an RPC that fails is not an inference error: once every request has finished,
  ``ClientError`` is raised naming how many failed and the first status, so a broken server
  can never pass for a merely inaccurate model. Each request has a deadline
  (``timeout_s``), so the client never hangs on an unresponsive server.

Usage: ``python -m examples.mnist_client --server localhost:8500 --num_tests 1000
--concurrency 10``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import threading
from collections.abc import Sequence

import grpc
import numpy as np
import numpy.typing as npt

from examples.quiet_tensorflow import VERBOSE_HELP, tensorflow_quiet

with tensorflow_quiet():  # importing TensorFlow (see examples.quiet_tensorflow)
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from examples.digits_data import IMAGE_PIXELS, load_digits_28x28
    from examples.export_digits import PREDICT_INPUT_KEY, SCORES_KEY

DEFAULT_MODEL_NAME = "mnist"
DEFAULT_SIGNATURE_NAME = "serving_default"
DEFAULT_TIMEOUT_S = 10.0


class ClientError(RuntimeError):
    """Some requests failed at the RPC level, so no error rate can be trusted."""


def build_request(
    image: npt.NDArray[np.floating],
    model_name: str,
    signature_name: str,
    model_version: int | None = None,
) -> predict_pb2.PredictRequest:
    """A Predict request for one flattened image, sent as a [1, 784] batch."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if model_version is not None:
        request.model_spec.version.value = model_version
    # make_tensor_proto packs the floats into tensor_content, as TF Serving's own client does.
    request.inputs[PREDICT_INPUT_KEY].CopyFrom(
        tf.make_tensor_proto(image, dtype=tf.float32, shape=[1, IMAGE_PIXELS])
    )
    return request


@dataclasses.dataclass(slots=True)
class _Tally:
    """Outcomes recorded from gRPC's callback threads, hence the lock."""

    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    wrong: int = 0
    failed: int = 0
    first_failure: str | None = None

    def record_prediction(self, correct: bool) -> None:
        if not correct:
            with self.lock:
                self.wrong += 1

    def record_failure(self, description: str) -> None:
        with self.lock:
            self.failed += 1
            if self.first_failure is None:
                self.first_failure = description


def _describe_failure(future: grpc.Future) -> str:
    error = future.exception()
    if isinstance(error, grpc.RpcError) and isinstance(error, grpc.Call):
        return f"{error.code().name}: {error.details()}"
    return repr(error)


def _on_done(
    tally: _Tally, slots: threading.BoundedSemaphore, label: int, future: grpc.Future
) -> None:
    """Score one finished request; always frees its slot, or the client would hang."""
    try:
        if future.exception() is not None:
            tally.record_failure(_describe_failure(future))
            return
        response: predict_pb2.PredictResponse = future.result()
        scores = tf.make_ndarray(response.outputs[SCORES_KEY])
        tally.record_prediction(int(np.argmax(scores.reshape(-1))) == label)
    except Exception as error:  # noqa: BLE001 - a malformed response must count, not vanish
        tally.record_failure(f"bad response: {error!r}")
    finally:
        slots.release()


def run_client(
    server: str,
    num_tests: int = 100,
    concurrency: int = 1,
    model_name: str = DEFAULT_MODEL_NAME,
    signature_name: str = DEFAULT_SIGNATURE_NAME,
    model_version: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> float:
    """Send ``num_tests`` held-out images to ``server`` ("host:port"); return the error rate.

    Raises ClientError if any request failed, after all of them have finished.
    """
    if num_tests < 1 or concurrency < 1:
        raise ValueError(f"num_tests ({num_tests}) and concurrency ({concurrency}) must be >= 1")
    data = load_digits_28x28()
    tally = _Tally()
    slots = threading.BoundedSemaphore(concurrency)
    with grpc.insecure_channel(server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for index in range(num_tests):
            image_index = index % len(data.test_images)
            request = build_request(
                data.test_images[image_index], model_name, signature_name, model_version
            )
            slots.acquire()
            future = stub.Predict.future(request, timeout=timeout_s)
            future.add_done_callback(
                functools.partial(_on_done, tally, slots, int(data.test_labels[image_index]))
            )
        # Every callback releases its slot last, so holding all slots means all are recorded.
        for _ in range(concurrency):
            slots.acquire()
    if tally.failed:
        raise ClientError(
            f"{tally.failed} of {num_tests} requests to {server} failed; "
            f"first: {tally.first_failure}"
        )
    return tally.wrong / num_tests


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="PredictionService host:port")
    parser.add_argument("--num_tests", type=int, default=100, help="number of requests to send")
    parser.add_argument("--concurrency", type=int, default=1, help="most requests in flight")
    parser.add_argument("--model_name", default=DEFAULT_MODEL_NAME)
    parser.add_argument("--signature_name", default=DEFAULT_SIGNATURE_NAME)
    parser.add_argument("--model_version", type=int, default=None, help="default: server's choice")
    parser.add_argument(
        "--timeout_s", type=float, default=DEFAULT_TIMEOUT_S, help="deadline per request"
    )
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    args = parser.parse_args(argv)
    try:
        error_rate = run_client(
            args.server,
            args.num_tests,
            args.concurrency,
            model_name=args.model_name,
            signature_name=args.signature_name,
            model_version=args.model_version,
            timeout_s=args.timeout_s,
        )
    except ClientError as error:
        print(f"Inference failed: {error}", file=sys.stderr)
        return 1
    print(f"Inference error rate: {error_rate * 100:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
