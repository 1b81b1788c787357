"""The example client against an in-process gRPC PredictionService.

The fake servers here bind an ephemeral port and serve either the exported model (to check
the error rate end to end) or a scripted answer (to check failure reporting). The servers
count requests in flight, which is how the concurrency limit is observed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from examples.digits_data import IMAGE_PIXELS, load_digits_28x28
from examples.export_digits import ExportedVersion, error_rate
from examples.mnist_client import ClientError, build_request, main, run_client

Handler = Callable[[predict_pb2.PredictRequest, grpc.ServicerContext], predict_pb2.PredictResponse]


class FakePredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Answers Predict with ``handler`` and records requests and the peak number in flight."""

    def __init__(self, handler: Handler, delay_s: float = 0.0) -> None:
        self._handler = handler
        self._delay_s = delay_s
        self._lock = threading.Lock()
        self._in_flight = 0
        self.peak_in_flight = 0
        self.requests: list[predict_pb2.PredictRequest] = []

    def Predict(  # the name gRPC generated
        self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> predict_pb2.PredictResponse:
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            self.requests.append(request)
        try:
            # Holding each request a moment makes overlapping requests overlap on the server.
            time.sleep(self._delay_s)
            return self._handler(request, context)
        finally:
            with self._lock:
                self._in_flight -= 1


@pytest.fixture
def serve() -> Iterator[Callable[[FakePredictionService], str]]:
    """Starts a gRPC server for a servicer on an ephemeral port; yields its "host:port"."""
    servers: list[grpc.Server] = []

    def start(servicer: FakePredictionService) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(grace=None)


def _model_handler(version: ExportedVersion) -> Handler:
    loaded = tf.saved_model.load(str(version.path))

    def handle(
        request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> predict_pb2.PredictResponse:
        scores = loaded.predict(tf.make_ndarray(request.inputs["images"]))["scores"].numpy()
        response = predict_pb2.PredictResponse()
        response.outputs["scores"].CopyFrom(tf.make_tensor_proto(scores))
        return response

    return handle


def _not_found(
    request: predict_pb2.PredictRequest, context: grpc.ServicerContext
) -> predict_pb2.PredictResponse:
    context.abort(
        grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {request.model_spec.name}"
    )
    raise AssertionError("abort() raises")


def test_request_carries_one_image_and_the_model_spec() -> None:
    image = load_digits_28x28().test_images[3]
    request = build_request(image, "mnist", "predict_images", model_version=2)
    assert request.model_spec.name == "mnist"
    assert request.model_spec.signature_name == "predict_images"
    assert request.model_spec.version.value == 2
    sent = tf.make_ndarray(request.inputs["images"])
    assert sent.dtype == np.float32 and sent.shape == (1, IMAGE_PIXELS)
    np.testing.assert_array_equal(sent[0], image)
    assert not build_request(image, "mnist", "serving_default").model_spec.HasField("version")


def test_error_rate_matches_the_model_and_cycles_the_test_set(
    serve: Callable[[FakePredictionService], str], exported: dict[int, ExportedVersion]
) -> None:
    data = load_digits_28x28()
    num_tests = len(data.test_images) + 40  # the first 40 images are sent twice
    indices = np.arange(num_tests) % len(data.test_images)
    handler = _model_handler(exported[1])
    loaded = tf.saved_model.load(str(exported[1].path))
    scores = loaded.predict(data.test_images[indices])["scores"].numpy()
    expected = error_rate(scores, data.test_labels[indices])
    servicer = FakePredictionService(handler)

    rate = run_client(serve(servicer), num_tests=num_tests, concurrency=8)

    assert rate == pytest.approx(expected)
    assert len(servicer.requests) == num_tests
    assert {request.model_spec.name for request in servicer.requests} == {"mnist"}


@pytest.mark.parametrize("concurrency", [1, 3])
def test_at_most_concurrency_requests_in_flight(
    serve: Callable[[FakePredictionService], str],
    exported: dict[int, ExportedVersion],
    concurrency: int,
) -> None:
    servicer = FakePredictionService(_model_handler(exported[2]), delay_s=0.02)
    run_client(serve(servicer), num_tests=20, concurrency=concurrency)
    assert servicer.peak_in_flight <= concurrency
    # The client submits without waiting for answers, so a 20 ms server sees them overlap.
    assert servicer.peak_in_flight > 1 or concurrency == 1


def test_rpc_failures_raise_instead_of_counting_as_errors(
    serve: Callable[[FakePredictionService], str],
) -> None:
    address = serve(FakePredictionService(_not_found))
    with pytest.raises(ClientError, match=r"5 of 5 requests .* NOT_FOUND: Servable not found"):
        run_client(address, num_tests=5, concurrency=2, model_name="missing")


def test_command_line_prints_the_error_rate(
    serve: Callable[[FakePredictionService], str],
    exported: dict[int, ExportedVersion],
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = serve(FakePredictionService(_model_handler(exported[2])))
    assert main(["--server", address, "--num_tests", "360", "--concurrency", "4"]) == 0
    expected = f"Inference error rate: {exported[2].test_error_rate * 100:.2f}%"
    assert capsys.readouterr().out.strip() == expected


def test_command_line_fails_when_the_server_does(
    serve: Callable[[FakePredictionService], str], capsys: pytest.CaptureFixture[str]
) -> None:
    address = serve(FakePredictionService(_not_found))
    assert main(["--server", address, "--num_tests", "2"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err
