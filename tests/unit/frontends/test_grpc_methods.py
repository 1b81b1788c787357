"""``ServerMethods``: the checks every call gets without an interceptor, on a real grpc.aio server.

Served: ``grpc.health.v1.Health`` (unary and server-streaming methods) and the generated
V2 ``GRPCInferenceService`` base servicer (every method UNIMPLEMENTED, ``ModelStreamInfer``
a bidirectional stream), both registered through their generated ``add_*_to_server``
helpers into ``ServerMethods``, called with the official stubs over a real channel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from actors.routing import RoutingSnapshot
from config.auth_config import AuthSettings
from dataplane.readiness import readiness
from frontends.auth import Authenticator, GrpcAuth
from frontends.grpc_health import HealthServicer
from frontends.grpc_methods import ServerMethods

TOKEN = "s3cret-token"


async def served(methods: ServerMethods) -> tuple[grpc.aio.Server, int]:
    HealthServicer(lambda: readiness(RoutingSnapshot(), [], draining=False)).register(methods)
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        service_pb2_grpc.GRPCInferenceServiceServicer(), methods
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((methods,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
async def open_server() -> AsyncIterator[tuple[ServerMethods, grpc.aio.Channel]]:
    methods = ServerMethods()
    server, port = await served(methods)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield methods, channel
    await server.stop(None)


@pytest.fixture
async def guarded() -> AsyncIterator[tuple[list[tuple[str, str]], grpc.aio.Channel]]:
    failures: list[tuple[str, str]] = []
    settings = AuthSettings(bearer_tokens=(TOKEN,), protect_health=True)
    methods = ServerMethods(GrpcAuth(Authenticator(settings), lambda *f: failures.append(f)))
    server, port = await served(methods)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield failures, channel
    await server.stop(None)


async def test_a_call_is_served_until_closing_then_answered_unavailable(
    open_server: tuple[ServerMethods, grpc.aio.Channel],
) -> None:
    methods, channel = open_server
    health = health_pb2_grpc.HealthStub(channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    methods.closing = True
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == "the server is shutting down"


async def test_undecodable_bytes_are_invalid_argument_naming_the_message(
    open_server: tuple[ServerMethods, grpc.aio.Channel],
) -> None:
    _, channel = open_server
    check = channel.unary_unary("/grpc.health.v1.Health/Check")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await check(b"\xff\xff\xff")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "grpc.health.v1.HealthCheckRequest" in (refused.value.details() or "")


async def test_an_unknown_method_is_unimplemented(
    open_server: tuple[ServerMethods, grpc.aio.Channel],
) -> None:
    _, channel = open_server
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await channel.unary_unary("/no.Such/Method")(b"")
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_every_rpc_shape_needs_a_credential_when_guarded(
    guarded: tuple[list[tuple[str, str]], grpc.aio.Channel],
) -> None:
    failures, channel = guarded
    health = health_pb2_grpc.HealthStub(channel)
    v2 = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    calls: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "unary": lambda metadata: health.Check(health_pb2.HealthCheckRequest(), metadata=metadata),
        "server stream": lambda metadata: health.Watch(
            health_pb2.HealthCheckRequest(), metadata=metadata
        ).read(),
        "bidirectional stream": lambda metadata: v2.ModelStreamInfer(
            iter([service_pb2.ModelInferRequest()]), metadata=metadata
        ).read(),
    }
    for shape, call in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(())
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, shape
        assert refused.value.details() == "Unauthenticated: credentials required", shape
    assert failures == [("grpc", "missing")] * 3
    bearer = (("authorization", f"Bearer {TOKEN}"),)
    answer = await health.Check(health_pb2.HealthCheckRequest(), metadata=bearer)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as unimplemented:
        await v2.ModelStreamInfer(iter([service_pb2.ModelInferRequest()]), metadata=bearer).read()
    assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_undecodable_bytes_without_a_credential_are_unauthenticated_first(
    guarded: tuple[list[tuple[str, str]], grpc.aio.Channel],
) -> None:
    _, channel = guarded
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await channel.unary_unary("/grpc.health.v1.Health/Check")(b"\xff\xff\xff")
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
