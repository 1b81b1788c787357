"""The gRPC frontend in-process: grpc.aio on port 0 over a real DataPlane (numpy servables)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from frontends.grpc_frontend import GrpcFrontend, ModelServicer, PredictionServicer
from tests.unit.frontends.test_rest_v1 import Served, served_plane
from tests.unit.servables.tensorflow.test_example_apis import example, examples_input


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    served = await served_plane()
    yield served
    await served.executor.stop(5)


def frontend_for(served: Served, socket_path: str | None = None) -> GrpcFrontend:
    return GrpcFrontend(
        prediction=PredictionServicer(served.plane, examples=served.examples),
        model=ModelServicer(served.plane),
        address="127.0.0.1:0",
        socket_path=socket_path,
    )


@pytest.fixture
async def channel(served: Served) -> AsyncIterator[grpc.aio.Channel]:
    frontend = frontend_for(served)
    await frontend.start()
    assert frontend.port > 0
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{frontend.port}") as opened:
            yield opened
    finally:
        await frontend.stop(1)


def predict_request(model: str, *xs: float) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[
                    tensor_shape_pb2.TensorShapeProto.Dim(size=len(xs)),
                    tensor_shape_pb2.TensorShapeProto.Dim(size=1),
                ]
            ),
            float_val=list(xs),
        )
    )
    return request


async def test_predict(channel: grpc.aio.Channel) -> None:
    response = await prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
        predict_request("half", 1.0, 4.0), timeout=10
    )
    assert list(response.outputs["y"].float_val) == [2.5, 4.0]
    assert [d.size for d in response.outputs["y"].tensor_shape.dim] == [2, 1]
    assert (response.model_spec.name, response.model_spec.version.value) == ("half", 1)
    assert response.model_spec.signature_name == "serving_default"


async def test_model_status_and_metadata(channel: grpc.aio.Channel) -> None:
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "half"
    status = await model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
        status_request, timeout=10
    )
    (version,) = status.model_version_status
    assert (version.version, version.state) == (
        1,
        get_model_status_pb2.ModelVersionStatus.AVAILABLE,
    )

    metadata_request = get_model_metadata_pb2.GetModelMetadataRequest(
        metadata_field=["signature_def"]
    )
    metadata_request.model_spec.name = "half"
    metadata = await prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(
        metadata_request, timeout=10
    )
    signatures = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signatures)
    assert signatures.signature_def["serving_default"].inputs["x"].name == "x:0"


async def test_an_unknown_model_is_not_found(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            predict_request("nope", 1.0), timeout=10
        )
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    assert "Servable not found for request: Latest(nope)" in (raised.value.details() or "")


async def test_regress_and_an_empty_input_is_invalid_argument(
    channel: grpc.aio.Channel, served: Served
) -> None:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = regression_pb2.RegressionRequest(input=examples_input(example(x=2.0)))
    request.model_spec.name = "m"
    request.model_spec.signature_name = "regress"
    response = await stub.Regress(request, timeout=10)
    assert [round(r.value, 3) for r in response.result.regressions] == [3.0]

    empty = regression_pb2.RegressionRequest()
    empty.model_spec.name = "m"
    empty.model_spec.signature_name = "regress"
    calls = len(served.examples_model.calls)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Regress(empty, timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(served.examples_model.calls) == calls


async def test_serves_on_the_unix_socket_too(served: Served, tmp_path: Path) -> None:
    socket_path = tmp_path / "grpc.sock"
    frontend = frontend_for(served, socket_path=str(socket_path))
    await frontend.start()
    try:
        assert socket_path.exists()
        async with grpc.aio.insecure_channel(f"unix:{socket_path}") as channel:
            response = await prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                predict_request("half", 1.0), timeout=10
            )
        assert list(response.outputs["y"].float_val) == [2.5]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{frontend.port}") as channel:
            response = await prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                predict_request("half", 3.0), timeout=10
            )
        assert list(response.outputs["y"].float_val) == [3.5]
    finally:
        await frontend.stop(1)


async def test_start_twice_says_what_to_do(served: Served) -> None:
    frontend = frontend_for(served)
    await frontend.start()
    try:
        with pytest.raises(RuntimeError, match="create a new frontend"):
            await frontend.start()
    finally:
        await frontend.stop(1)
