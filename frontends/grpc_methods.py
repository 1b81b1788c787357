"""The gRPC server's one generic handler: every service's methods, each wrapped once.

``ServerMethods`` collects the method handlers of every service on the port: it is the
sink the generated ``add_*_to_server`` helpers are given (``add_generic_rpc_handlers``;
``add_registered_method_handlers`` repeats the same methods and is ignored). grpc.aio
then finds a call's handler with one ``service(details)`` call, a dictionary lookup once
the method was seen, and runs no interceptor: the checks every call needs live in the
method's handler, built once per method on its first call:

1. while ``closing`` (set by ``GrpcFrontend.stop``), a unary-request call is answered
   UNAVAILABLE "the server is shutting down" before anything else;
2. when ``auth`` guards the method (``frontends.auth.GrpcAuth``: every method but the
   health checks unless ``--auth_protect_health``), a call without valid ``authorization``
   metadata is answered UNAUTHENTICATED, whatever its request bytes;
3. a unary request whose bytes are not a valid message (``frontends.grpc_decode``) is
   answered INVALID_ARGUMENT naming the message type, before the servicer sees it.

Why not interceptors and registered methods: under the same load, each grpc.aio server
interceptor runs a coroutine and builds a handler per call, and every registered method
adds a pending future per call (``bench/profiles/grpc.md``). An unknown method is
not cached (a client cannot grow the table) and answers UNIMPLEMENTED, as grpc does.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc

from frontends.auth import GrpcAuth
from frontends.grpc_decode import Undecodable, safe_deserializer


class ServerMethods(grpc.GenericRpcHandler):
    """The one generic handler (module doc); give it to ``add_*_to_server`` as the server."""

    def __init__(self, auth: GrpcAuth | None = None) -> None:
        self.closing = False
        self._auth = auth
        self._sources: list[grpc.GenericRpcHandler] = []
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        self._refusals: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        """Called by the generated ``add_*_to_server`` helpers: one service's methods."""
        self._sources.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: object) -> None:
        """Called by newer generated helpers after ``add_generic_rpc_handlers``: ignored."""

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is None:
            handler = self._first_seen(method, handler_call_details)
            if handler is None:
                return None
        if self.closing and handler.unary_unary is not None:
            return self._refusal(method, handler)
        return handler

    def _first_seen(
        self, method: str, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        for source in self._sources:
            found = source.service(handler_call_details)
            if found is not None:
                auth = self._auth if self._auth is not None and self._auth.guards(method) else None
                handler = self._handlers[method] = _checked(found, auth)
                return handler
        return None

    def _refusal(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        refusal = self._refusals.get(method)
        if refusal is None:

            async def refuse(request: object, context: grpc.aio.ServicerContext) -> object:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
                raise AssertionError("unreachable: context.abort raises")

            refusal = self._refusals[method] = grpc.unary_unary_rpc_method_handler(
                refuse,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return refusal


async def _admit(request: Any, context: grpc.aio.ServicerContext, auth: GrpcAuth | None) -> None:
    """Abort the call unless its credentials are valid and its request was decoded."""
    if auth is not None:
        refusal = await auth.refusal(context.invocation_metadata())
        if refusal is not None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, refusal)
    if type(request) is Undecodable:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)


def _checked(handler: grpc.RpcMethodHandler, auth: GrpcAuth | None) -> grpc.RpcMethodHandler:
    """``handler`` with the checks of the module doc (2, 3), of the same RPC shape."""
    serializer = handler.response_serializer
    if handler.unary_unary is not None:
        unary = handler.unary_unary
        if auth is None:

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                if type(request) is Undecodable:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
                return await unary(request, context)

        else:

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await _admit(request, context, auth)
                return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary,
            request_deserializer=safe_deserializer(handler.request_deserializer),
            response_serializer=serializer,
        )
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        async def unary_stream(
            request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            await _admit(request, context, auth)
            async for response in stream(request, context):
                yield response

        return grpc.unary_stream_rpc_method_handler(
            unary_stream,
            request_deserializer=safe_deserializer(handler.request_deserializer),
            response_serializer=serializer,
        )
    if auth is None:  # a stream of requests is decoded message by message, by the servicer
        return handler
    deserializer = handler.request_deserializer
    if handler.stream_unary is not None:
        gathers = handler.stream_unary

        async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            await _admit(None, context, auth)
            response = gathers(requests, context)
            return await response if inspect.isawaitable(response) else response

        return grpc.stream_unary_rpc_method_handler(
            stream_unary, request_deserializer=deserializer, response_serializer=serializer
        )
    streams = handler.stream_stream

    async def stream_stream(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await _admit(None, context, auth)
        responses = streams(requests, context)
        if hasattr(responses, "__aiter__"):
            async for response in responses:
                yield response
        else:
            for response in responses:
                yield response

    return grpc.stream_stream_rpc_method_handler(
        stream_stream, request_deserializer=deserializer, response_serializer=serializer
    )
