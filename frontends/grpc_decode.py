"""Undecodable gRPC requests answer INVALID_ARGUMENT naming the message type.

grpc.aio deserializes a request with the method's ``request_deserializer`` before any
handler runs, and answers a ``DecodeError`` there as UNKNOWN "Unexpected DecodeError",
which reads as a server fault. ``DecodeErrors`` is a server interceptor that gives every
unary-request method (TF Serving's services, V2's, health) a deserializer that never
raises: bytes that are not a valid message become an ``_Undecodable`` note, and the
method's behaviour, wrapped, aborts such a call with INVALID_ARGUMENT "the request is
not a valid <full message name> message: <protobuf's reason>" before the servicer sees
it. Handlers without a deserializer (an interceptor's own refusal) and streaming-request
methods pass through unchanged. The wrapped handler of each method is built once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

Deserializer = Callable[[bytes], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class _Undecodable:
    """What a safe deserializer returns for bytes that are not a valid message."""

    message: str


def _message_name(deserializer: Deserializer) -> str:
    """``tensorflow.serving.PredictRequest`` for ``PredictRequest.FromString``."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "") or "request")


def _safe(deserializer: Deserializer) -> Deserializer:
    name = _message_name(deserializer)

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, RuntimeWarning, ValueError) as error:
            return _Undecodable(f"the request is not a valid {name} message: {error}")

    return deserialize


class DecodeErrors(grpc.aio.ServerInterceptor):
    """The interceptor (module doc); add it last, so that it wraps the servicer's handlers."""

    def __init__(self) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method = handler_call_details.method
        wrapped = self._handlers.get(method)
        if wrapped is None:
            wrapped = _wrapped(handler)
            if wrapped is not handler:
                self._handlers[method] = wrapped
        return wrapped


def _wrapped(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    deserialize = _safe(handler.request_deserializer)
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, _Undecodable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary,
            request_deserializer=deserialize,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        async def unary_stream(
            request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            if isinstance(request, _Undecodable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            async for response in stream(request, context):
                yield response

        return grpc.unary_stream_rpc_method_handler(
            unary_stream,
            request_deserializer=deserialize,
            response_serializer=handler.response_serializer,
        )
    return handler
