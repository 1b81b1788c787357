"""The health servicer's answers for service names, on a real gRPC server and stub.

Source: TF Serving ``tensorflow_serving/model_servers/server.cc`` (with
``--enable_grpc_healthcheck_service`` it calls ``SetServingStatus("ModelService", true)``
and ``SetServingStatus("PredictionService", true)``); the issue asks for the full names
``tensorflow.serving.ModelService`` and ``tensorflow.serving.PredictionService`` as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from actors.routing import RoutingSnapshot
from dataplane.readiness import Readiness, readiness
from frontends.grpc_health import HealthServicer

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def nothing_loaded() -> Readiness:
    """One configured model ("m") with no version: the server is not ready."""
    return readiness(RoutingSnapshot(), ["m"], draining=False)


@pytest.fixture
async def stub() -> AsyncIterator[health_pb2_grpc.HealthStub]:
    server = grpc.aio.server()
    HealthServicer(nothing_loaded).register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield health_pb2_grpc.HealthStub(channel)
    await server.stop(None)


@pytest.mark.parametrize(
    "service",
    [
        "tensorflow.serving.ModelService",
        "tensorflow.serving.PredictionService",
        "ModelService",
        "PredictionService",
    ],
)
async def test_the_grpc_service_names_report_serving(
    stub: health_pb2_grpc.HealthStub, service: str
) -> None:
    answer = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    assert answer.status == SERVING


async def test_the_server_and_a_model_still_answer_their_own_state(
    stub: health_pb2_grpc.HealthStub,
) -> None:
    assert (await stub.Check(health_pb2.HealthCheckRequest(service=""))).status == NOT_SERVING
    assert (await stub.Check(health_pb2.HealthCheckRequest(service="m"))).status == NOT_SERVING
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.Check(health_pb2.HealthCheckRequest(service="tensorflow.serving.Nope"))
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND


async def test_list_names_the_grpc_services(stub: health_pb2_grpc.HealthStub) -> None:
    answer = await stub.List(health_pb2.HealthListRequest())
    assert answer.statuses["tensorflow.serving.PredictionService"].status == SERVING
    assert answer.statuses["tensorflow.serving.ModelService"].status == SERVING
