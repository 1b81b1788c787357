"""Request bytes that are not a valid protobuf message: INVALID_ARGUMENT naming the type.

Issue 18 item 18: grpc.aio answered UNKNOWN "Unexpected DecodeError". The real
``GrpcFrontend`` serves TF Serving's services, V2's ``GRPCInferenceService`` and the
health service; each is called with raw bytes over a real channel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2

from frontends.grpc_frontend import GrpcFrontend, ModelServicer, PredictionServicer
from frontends.grpc_health import HealthServicer
from frontends.v2_grpc import V2GrpcServicer
from tests.unit.frontends.test_grpc_frontend import predict_request
from tests.unit.frontends.test_rest_v1 import served_plane
from tests.unit.frontends.v2_served import V2Served

# A varint that never ends, and a length-delimited field longer than the bytes left.
UNDECODABLE = [b"\xff\xff\xff", b"\x0a\x05ab"]


@pytest.fixture
async def channel(tmp_path: Path) -> AsyncIterator[grpc.aio.Channel]:
    served = await served_plane()
    v2 = V2Served(tmp_path)
    await v2.start()
    frontend = GrpcFrontend(
        prediction=PredictionServicer(served.plane, examples=served.examples),
        model=ModelServicer(served.plane),
        address="127.0.0.1:0",
        extra_services=[V2GrpcServicer(v2.v2), HealthServicer(v2.v2.readiness)],
    )
    await frontend.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{frontend.port}") as opened:
            yield opened
    finally:
        await frontend.stop(1)
        await v2.stop()
        await served.executor.stop(5)


@pytest.mark.parametrize("data", UNDECODABLE)
@pytest.mark.parametrize(
    ("method", "message_type"),
    [
        ("/tensorflow.serving.PredictionService/Predict", "tensorflow.serving.PredictRequest"),
        (
            "/tensorflow.serving.ModelService/GetModelStatus",
            "tensorflow.serving.GetModelStatusRequest",
        ),
        ("/inference.GRPCInferenceService/ModelInfer", "inference.ModelInferRequest"),
        ("/inference.GRPCInferenceService/ServerLive", "inference.ServerLiveRequest"),
        ("/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest"),
    ],
)
async def test_undecodable_bytes_are_invalid_argument(
    channel: grpc.aio.Channel, method: str, message_type: str, data: bytes
) -> None:
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(data)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(f"the request is not a valid {message_type} message")


async def test_the_health_watch_stream_refuses_them_too(channel: grpc.aio.Channel) -> None:
    call = channel.unary_stream("/grpc.health.v1.Health/Watch")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in call(UNDECODABLE[0]):
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_valid_requests_still_reach_the_servicers(channel: grpc.aio.Channel) -> None:
    predict = channel.unary_unary(
        "/tensorflow.serving.PredictionService/Predict",
        request_serializer=predict_pb2.PredictRequest.SerializeToString,
        response_deserializer=predict_pb2.PredictResponse.FromString,
    )
    answer = await predict(predict_request("half", 1.0, 3.0))
    assert list(answer.outputs["y"].float_val) == [2.5, 3.5]
