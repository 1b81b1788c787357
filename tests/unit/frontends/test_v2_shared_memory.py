"""System shared memory over both V2 frontends, in-process, with a client's real POSIX object.

Source: Triton's ``src/http_server.cc`` (the ``/v2/systemsharedmemory`` and
``/v2/cudasharedmemory`` routes, ``ValidateInputContentType``, ``ValidateOutputParameter``)
and ``src/grpc/infer_handler.cc`` (shared memory inputs, one raw output entry per output).
The model is ``half`` (y = 0.5 x + 2, FP32, ``tests/unit/frontends/v2_served.py``); the
client's object is made with ``multiprocessing.shared_memory`` as tritonclient's
``shared_memory`` module would make it, and read back through the client's own mapping.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from tritonclient.grpc import service_pb2, service_pb2_grpc

from frontends.rest_server import RestServer, RestSettings
from frontends.v2_grpc import V2GrpcServicer
from frontends.v2_rest import V2Rest
from tests.unit.frontends.v2_served import V2Served

Client = TestClient[Any, Any]
X = np.array([[1.0], [3.0]], dtype=np.float32)
Y = np.array([[2.5], [3.5]], dtype=np.float32)
BYTES = X.nbytes  # 8


@pytest.fixture
def block() -> Iterator[shared_memory.SharedMemory]:
    """The client's object: x at offset 0, room for y at offset BYTES."""
    made = shared_memory.SharedMemory(
        name=f"aioserving_test_{uuid.uuid4().hex[:12]}", create=True, size=4 * BYTES
    )
    try:
        assert made.buf is not None
        made.buf[:BYTES] = X.tobytes()
        yield made
    finally:
        made.close()
        made.unlink()


def key_of(block: shared_memory.SharedMemory) -> str:
    return "/" + block.name.lstrip("/")


def y_in(block: shared_memory.SharedMemory) -> np.ndarray:
    assert block.buf is not None
    return np.frombuffer(bytes(block.buf[BYTES : 2 * BYTES]), dtype=np.float32).reshape(2, 1)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[V2Served]:
    served = V2Served(tmp_path)
    await served.start()
    yield served
    served.v2.close()
    await served.stop()


@pytest.fixture
async def client(served: V2Served) -> AsyncIterator[Client]:
    routes = V2Rest(served.v2, observer=served.metrics).routes()
    server = RestServer(RestSettings(host="127.0.0.1", port=0), routes)
    async with TestClient(TestServer(server.app)) as test_client:
        yield test_client


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


async def call(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    response = await client.request(method, path, data=data)
    raw = await response.read()
    return response.status, json.loads(raw) if raw else None


def region(name: str, byte_size: int, offset: int = 0) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "shared_memory_region": name,
        "shared_memory_byte_size": byte_size,
    }
    if offset:
        parameters["shared_memory_offset"] = offset
    return parameters


def infer_body(x_bytes: int = BYTES, y_bytes: int = BYTES) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [2, 1], "parameters": region("in", x_bytes)}
        ],
        "outputs": [{"name": "y", "parameters": region("out", y_bytes, offset=BYTES)}],
    }


# --- REST ------------------------------------------------------------------------------------


async def test_rest_register_status_and_unregister(
    client: Client, block: shared_memory.SharedMemory
) -> None:
    path = "/v2/systemsharedmemory"
    body = {"key": key_of(block), "offset": 0, "byte_size": 2 * BYTES}
    assert await call(client, "POST", f"{path}/region/in/register", body) == (200, None)
    assert await call(client, "POST", f"{path}/region/out/register", body) == (200, None)
    status_of_in = {"name": "in", "key": key_of(block), "offset": 0, "byte_size": 2 * BYTES}
    assert await call(client, "GET", f"{path}/region/in/status") == (200, [status_of_in])
    status, every = await call(client, "GET", f"{path}/status")
    assert status == 200 and [r["name"] for r in every] == ["in", "out"]
    assert (await call(client, "POST", f"{path}/region/in/register", body))[0] == 409
    assert await call(client, "POST", f"{path}/region/in/unregister") == (200, None)
    assert await call(client, "GET", f"{path}/region/in/status") == (
        404,
        {"error": "Unable to find system shared memory region: 'in'"},
    )
    assert await call(client, "POST", f"{path}/unregister") == (200, None)
    assert await call(client, "GET", f"{path}/status") == (200, [])


async def test_rest_register_refuses_a_body_without_key_or_byte_size(
    client: Client, block: shared_memory.SharedMemory
) -> None:
    path = "/v2/systemsharedmemory/region/in/register"
    assert await call(client, "POST", path, {"byte_size": BYTES}) == (
        400,
        {"error": "Shared memory register request has no 'key' field"},
    )
    assert await call(client, "POST", path, {"key": key_of(block)}) == (
        400,
        {"error": "Shared memory register request has no 'byte_size' field"},
    )
    status, answer = await call(client, "POST", path, {"key": "/no_such_object", "byte_size": 8})
    assert (status, answer) == (
        400,
        {"error": "Unable to open shared memory region: '/no_such_object'"},
    )


async def test_rest_infer_reads_its_input_from_and_writes_its_output_into_shared_memory(
    client: Client, block: shared_memory.SharedMemory
) -> None:
    for name in ("in", "out"):
        body = {"key": key_of(block), "byte_size": 4 * BYTES}
        assert (await call(client, "POST", f"/v2/systemsharedmemory/region/{name}/register", body))[
            0
        ] == 200
    status, answer = await call(client, "POST", "/v2/models/half/infer", infer_body())
    assert status == 200, answer
    # Triton's answer for an output in shared memory: name, datatype and shape, no data.
    assert answer["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [2, 1]}]
    np.testing.assert_allclose(y_in(block), Y)


async def test_rest_infer_checks_sizes_regions_and_conflicting_fields(
    client: Client, block: shared_memory.SharedMemory
) -> None:
    for name in ("in", "out"):
        body = {"key": key_of(block), "byte_size": 4 * BYTES}
        await call(client, "POST", f"/v2/systemsharedmemory/region/{name}/register", body)
    status, answer = await call(client, "POST", "/v2/models/half/infer", infer_body(x_bytes=4))
    assert status == 400
    assert answer["error"] == (
        "input 'x': shared memory byte size 4 does not match shape [2, 1] of FP32, "
        "which needs 8 bytes"
    )
    status, answer = await call(client, "POST", "/v2/models/half/infer", infer_body(y_bytes=4))
    assert status == 400
    assert answer["error"] == (
        "shared memory size specified with the request for output 'y' (4 bytes) should be "
        "at least 8 bytes to hold the results"
    )
    unknown = infer_body()
    unknown["inputs"][0]["parameters"]["shared_memory_region"] = "nope"
    assert await call(client, "POST", "/v2/models/half/infer", unknown) == (
        404,
        {"error": "Unable to find shared memory region: 'nope'"},
    )
    # The model is resolved before any region is read (an unknown one named above).
    assert await call(client, "POST", "/v2/models/ghost/infer", unknown) == (
        404,
        {"error": "Request for unknown model: 'ghost' is not found"},
    )
    both = infer_body()
    both["inputs"][0]["data"] = [1.0, 3.0]
    status, answer = await call(client, "POST", "/v2/models/half/infer", both)
    assert status == 400
    assert answer["error"].endswith("But set 'data' 'shared_memory_region'")
    binary = infer_body()
    binary["outputs"][0]["parameters"]["binary_data"] = True
    assert await call(client, "POST", "/v2/models/half/infer", binary) == (
        400,
        {"error": "Output can't set both 'shared_memory_region' and 'binary_data'"},
    )


async def test_rest_cuda_shared_memory_is_unavailable_with_a_reason(client: Client) -> None:
    path = "/v2/cudasharedmemory"
    status, answer = await call(
        client, "POST", f"{path}/region/c/register", {"raw_handle": {"b64": ""}, "byte_size": 8}
    )
    assert status == 503 and "CUDA shared memory is not supported" in answer["error"]
    assert await call(client, "GET", f"{path}/status") == (200, [])
    assert await call(client, "POST", f"{path}/unregister") == (200, None)


# --- gRPC ------------------------------------------------------------------------------------


async def test_grpc_register_infer_status_and_unregister_every_region(
    stub: Any, block: shared_memory.SharedMemory
) -> None:
    for name in ("in", "out"):
        await stub.SystemSharedMemoryRegister(
            service_pb2.SystemSharedMemoryRegisterRequest(
                name=name, key=key_of(block), offset=0, byte_size=4 * BYTES
            )
        )
    status = await stub.SystemSharedMemoryStatus(service_pb2.SystemSharedMemoryStatusRequest())
    assert sorted(status.regions) == ["in", "out"]
    assert status.regions["in"].key == key_of(block) and status.regions["in"].byte_size == 32

    request = service_pb2.ModelInferRequest(model_name="half")
    x = request.inputs.add(name="x", datatype="FP32", shape=[2, 1])
    x.parameters["shared_memory_region"].string_param = "in"
    x.parameters["shared_memory_byte_size"].int64_param = BYTES
    y = request.outputs.add(name="y")
    y.parameters["shared_memory_region"].string_param = "out"
    y.parameters["shared_memory_byte_size"].int64_param = BYTES
    y.parameters["shared_memory_offset"].int64_param = BYTES
    response = await stub.ModelInfer(request)
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("y", "FP32", [2, 1])
    ]
    assert list(response.raw_output_contents) == [b""]  # one entry per output, as Triton
    np.testing.assert_allclose(y_in(block), Y)

    await stub.SystemSharedMemoryUnregister(service_pb2.SystemSharedMemoryUnregisterRequest())
    status = await stub.SystemSharedMemoryStatus(service_pb2.SystemSharedMemoryStatusRequest())
    assert dict(status.regions) == {}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(request)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "Unable to find shared memory region: 'in'"


async def test_grpc_cuda_shared_memory_is_unavailable_with_a_reason(stub: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CudaSharedMemoryRegister(
            service_pb2.CudaSharedMemoryRegisterRequest(name="c", byte_size=8)
        )
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "CUDA shared memory is not supported" in (caught.value.details() or "")
    status = await stub.CudaSharedMemoryStatus(service_pb2.CudaSharedMemoryStatusRequest())
    assert dict(status.regions) == {}
    await stub.CudaSharedMemoryUnregister(service_pb2.CudaSharedMemoryUnregisterRequest())


async def test_closing_the_plane_unmaps_every_region(
    served: V2Served, block: shared_memory.SharedMemory
) -> None:
    """What the supervisor does at server stop, once the frontends have stopped."""
    served.v2.shared_memory.register("in", key_of(block), 0, BYTES)
    served.v2.close()
    assert served.v2.shared_memory.status() == []
