"""Fuzzed gRPC request bytes: never INTERNAL or UNKNOWN, on every service of the port.

Issue 18 item 18: bytes that do not parse as the method's request message were
answered UNKNOWN "Unexpected DecodeError". Here hypothesis sends, to TF Serving's,
V2's and the health service's methods, arbitrary bytes and valid requests with bytes
flipped, cut or appended; each answer is OK or a client error, and an undecodable
request is INVALID_ARGUMENT naming the message type. ``AIOSERVING_FUZZ_EXAMPLES``
raises the case count, as in ``test_fuzz``.
"""

from __future__ import annotations

import collections
import os

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2
from tritonclient.grpc import service_pb2

from tests.integration.server_process import ServerProcess

EXAMPLES = int(os.environ.get("AIOSERVING_FUZZ_EXAMPLES", "600"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)


def _predict() -> bytes:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hpt"
    request.inputs["x"].dtype = 1  # DT_FLOAT
    request.inputs["x"].tensor_shape.dim.add(size=2)
    request.inputs["x"].float_val.extend([1.0, 2.0])
    return bytes(request.SerializeToString())


def _status() -> bytes:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "hpt"
    return bytes(request.SerializeToString())


def _infer() -> bytes:
    request = service_pb2.ModelInferRequest(model_name="hpt")
    tensor = request.inputs.add(name="x", datatype="FP32", shape=[2])
    tensor.contents.fp32_contents.extend([1.0, 2.0])
    return bytes(request.SerializeToString())


# method -> (request message type, a valid request's bytes)
METHODS = {
    "/tensorflow.serving.PredictionService/Predict": (
        "tensorflow.serving.PredictRequest",
        _predict(),
    ),
    "/tensorflow.serving.ModelService/GetModelStatus": (
        "tensorflow.serving.GetModelStatusRequest",
        _status(),
    ),
    "/inference.GRPCInferenceService/ModelInfer": ("inference.ModelInferRequest", _infer()),
    "/inference.GRPCInferenceService/ModelMetadata": ("inference.ModelMetadataRequest", b""),
    "/grpc.health.v1.Health/Check": ("grpc.health.v1.HealthCheckRequest", b""),
}


@st.composite
def request_bytes(draw: st.DrawFn) -> bytes:
    valid = METHODS[draw(st.sampled_from(sorted(METHODS)))][1]
    how = draw(st.sampled_from(["any", "flip", "cut", "append"]))
    if how == "any" or not valid:
        return draw(st.binary(max_size=64))
    if how == "flip":
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 3))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        return bytes(data)
    if how == "cut":
        return valid[: draw(st.integers(0, len(valid) - 1))]
    return valid + draw(st.binary(min_size=1, max_size=16))


def test_fuzzed_request_bytes_never_get_internal_or_unknown(server: ServerProcess) -> None:
    answers: collections.Counter[str] = collections.Counter()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")

    @FUZZ
    @given(st.sampled_from(sorted(METHODS)), request_bytes())
    def case(method: str, data: bytes) -> None:
        call = channel.unary_unary(method)  # bytes in, bytes out
        try:
            call(data, timeout=30)
            answers["OK"] += 1
        except grpc.RpcError as error:
            code = error.code()
            answers[code.name] += 1
            assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (
                method,
                data,
                error.details(),
            )
            if "is not a valid" in error.details():
                assert code is grpc.StatusCode.INVALID_ARGUMENT
                assert error.details().startswith(
                    f"the request is not a valid {METHODS[method][0]} message"
                )

    try:
        case()
    finally:
        channel.close()
    print(
        f"\ngRPC bytes fuzz: {sum(answers.values())} cases, by status {dict(sorted(answers.items()))}"
    )
    assert answers["INVALID_ARGUMENT"] > 0 and sum(answers.values()) >= EXAMPLES // 2
