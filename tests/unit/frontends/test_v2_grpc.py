"""The V2 gRPC servicer in-process: a grpc.aio server on port 0, called through
``tritonclient.grpc``'s generated stub, over the V2 plane of real actors
(``tests/unit/frontends/v2_served.py`` says which models exist).
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from tritonclient.grpc import service_pb2, service_pb2_grpc

from frontends.v2_grpc import V2GrpcServicer
from tests.unit.frontends.v2_served import V2Served


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[V2Served]:
    served = V2Served(tmp_path)
    await served.start()
    yield served
    await served.stop()


@pytest.fixture
async def stub(served: V2Served) -> AsyncIterator[Any]:
    server = grpc.aio.server()
    V2GrpcServicer(served.v2, observer=served.metrics).register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield service_pb2_grpc.GRPCInferenceServiceStub(channel)
    finally:
        await server.stop(1)


def infer_request(model: str, version: str = "", *, datatype: str = "FP32") -> Any:
    request = service_pb2.ModelInferRequest(model_name=model, model_version=version, id="r1")
    request.inputs.add(name="x", datatype=datatype, shape=[2, 1])
    request.raw_input_contents.append(struct.pack("<2f", 1.0, 3.0))
    return request


async def test_server_calls(stub: Any) -> None:
    assert (await stub.ServerLive(service_pb2.ServerLiveRequest())).live
    assert not (await stub.ServerReady(service_pb2.ServerReadyRequest())).ready  # "empty"
    metadata = await stub.ServerMetadata(service_pb2.ServerMetadataRequest())
    assert (metadata.name, metadata.version, list(metadata.extensions)) == (
        "aioserving",
        "0.1.0",
        [
            "binary_tensor_data",
            "model_configuration",
            "statistics",
            "system_shared_memory",
            "model_repository",
        ],
    )


@pytest.mark.parametrize(("model", "ready"), [("half", True), ("empty", False), ("nope", False)])
async def test_model_ready_is_false_for_an_unknown_model(
    stub: Any, model: str, ready: bool
) -> None:
    answer = await stub.ModelReady(service_pb2.ModelReadyRequest(name=model))
    assert answer.ready is ready


async def test_model_metadata_and_config(stub: Any) -> None:
    metadata = await stub.ModelMetadata(service_pb2.ModelMetadataRequest(name="half", version="1"))
    assert (metadata.name, list(metadata.versions), metadata.platform) == (
        "half",
        ["1"],
        "tensorflow_savedmodel",
    )
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("x", "FP32", [-1, 1])
    ]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [
        ("y", "FP32", [-1, 1])
    ]
    config = (await stub.ModelConfig(service_pb2.ModelConfigRequest(name="half"))).config
    assert (config.name, config.platform, config.max_batch_size) == (
        "half",
        "tensorflow_savedmodel",
        0,
    )
    assert [(t.name, list(t.dims)) for t in config.input] == [("x", [-1, 1])]


async def test_infer_raw_contents(stub: Any, served: V2Served) -> None:
    answer = await stub.ModelInfer(infer_request("half"))
    assert (answer.model_name, answer.model_version, answer.id) == ("half", "1", "r1")
    [output] = answer.outputs
    assert (output.name, output.datatype, list(output.shape)) == ("y", "FP32", [2, 1])
    assert struct.unpack("<2f", answer.raw_output_contents[0]) == (2.5, 3.5)
    assert served.request_count("half", "OK") == 1


async def test_infer_typed_contents(stub: Any) -> None:
    request = service_pb2.ModelInferRequest(model_name="half")
    request.inputs.add(name="x", datatype="FP32", shape=[1, 1]).contents.fp32_contents.append(5.0)
    answer = await stub.ModelInfer(request)
    assert struct.unpack("<f", answer.raw_output_contents[0]) == (4.5,)


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (
            infer_request("nope"),
            grpc.StatusCode.NOT_FOUND,
            "Request for unknown model: 'nope' is not found",
        ),
        (
            infer_request("half", "7"),
            grpc.StatusCode.NOT_FOUND,
            "Request for unknown model: 'half' version 7 is not found",
        ),
        (
            infer_request("empty"),
            grpc.StatusCode.UNAVAILABLE,
            "Request for unknown model: 'empty' has no available versions",
        ),
        (
            infer_request("half", datatype="INT32"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'x' has datatype INT32 but the model expects FP32",
        ),
    ],
)
async def test_infer_errors(stub: Any, request_: Any, code: grpc.StatusCode, message: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(request_)
    assert (caught.value.code(), caught.value.details()) == (code, message)


async def test_a_bug_in_the_model_call_is_internal_and_counted(stub: Any, served: V2Served) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(infer_request("broken"))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == "RuntimeError: the model call has a bug"
    assert served.request_count("broken", "INTERNAL") == 1


async def test_statistics(stub: Any) -> None:
    await stub.ModelInfer(infer_request("half"))
    answer = await stub.ModelStatistics(service_pb2.ModelStatisticsRequest(name="half"))
    [stats] = answer.model_stats
    assert (stats.name, stats.inference_count, stats.execution_count) == ("half", 1, 1)
    assert stats.inference_stats.success.count == 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelStatistics(service_pb2.ModelStatisticsRequest(name="nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_repository_index_unload_and_load(stub: Any) -> None:
    index = await stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(ready=True))
    assert [(m.name, m.version, m.state) for m in index.models] == [
        ("half", "1", "READY"),
        ("broken", "1", "READY"),
    ]
    await stub.RepositoryModelUnload(service_pb2.RepositoryModelUnloadRequest(model_name="half"))
    assert not (await stub.ModelReady(service_pb2.ModelReadyRequest(name="half"))).ready
    await stub.RepositoryModelLoad(service_pb2.RepositoryModelLoadRequest(model_name="half"))
    assert (await stub.ModelReady(service_pb2.ModelReadyRequest(name="half"))).ready

    refused = service_pb2.RepositoryModelLoadRequest(model_name="half")
    refused.parameters["config"].string_param = "{}"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RepositoryModelLoad(refused)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RepositoryModelUnload(
            service_pb2.RepositoryModelUnloadRequest(model_name="nope")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_raw_and_typed_contents_together_are_invalid(stub: Any) -> None:
    """Triton's ``simple_grpc_infer_client.py`` (last case) expects this exact message."""
    request = infer_request("half")
    request.inputs[0].contents.fp32_contents.extend([1.0, 3.0])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(request)
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "contents field must not be specified when using raw_input_contents for 'x' "
        "for model 'half'",
    )


async def test_a_version_string_that_is_no_label_is_invalid(stub: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(infer_request("half", "beta"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(
        "failed to get model version from specified version string 'beta'"
    )


async def test_model_ready_with_a_version_string_that_is_no_label_is_invalid(stub: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelReady(service_pb2.ModelReadyRequest(name="half", version="beta"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
