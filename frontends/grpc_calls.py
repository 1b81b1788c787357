"""The one wrapper every gRPC handler runs in: status mapping and metrics, for both APIs.

``GrpcCalls(observer, api).call(entrypoint, model_name, context, work)`` awaits ``work``.
A ``ServingError`` aborts the RPC with the gRPC status of the same name and its message
(made safe to encode and cut to a few KiB, ``protocol.status.safe_message``); any other
exception is a bug: it is logged with its traceback and answered INTERNAL, never left to
hang. Each call is reported once to the observer under ``api`` (``grpc`` for TF Serving's
services, ``v2`` for the Open Inference Protocol), except calls that name no model when
``count_unnamed`` is off (V2's repository index and server calls belong to no model). Passing the RPC's
``request`` lets the access log name the version it asked for.

When the observer is an ``ObservedRequests`` (``frontends.observed_requests``), each call
also runs in a ``RequestScope`` (``dataplane.observing``): its SERVER span continues the
``traceparent`` of the call's metadata and ends with the call's status; a sampled call of
TF Serving's APIs is request-logged here, from its request and response protos, after
``work`` answered (V2's calls are logged by the data plane, from their arrays).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from dataplane.observing import CURRENT_SCOPE, RequestScope, grpc_span_name
from frontends.observed_requests import observability_of, observer_of
from frontends.observer import RequestObserver, grpc_version
from protocol.status import Code, ServingError, safe_message

log = logging.getLogger(__name__)

Resp = TypeVar("Resp")


class GrpcCalls:
    """Error mapping and metrics shared by every RPC of one API."""

    def __init__(
        self, observer: RequestObserver | None, *, api: str, count_unnamed: bool = True
    ) -> None:
        self._observer = observer_of(observer)
        self._api = api
        self._count_unnamed = count_unnamed
        self._observability = observability_of(observer)
        self._origin = "grpc" if api == "grpc" else f"{api}-grpc"

    async def call(
        self,
        entrypoint: str,
        model_name: str,
        context: grpc.aio.ServicerContext,
        work: Callable[[], Awaitable[Resp]],
        request: object = None,
    ) -> Resp:
        started = time.perf_counter()
        code = Code.OK
        observability = self._observability
        scope: RequestScope | None = None
        if observability is not None:
            scope = observability.open(
                origin=self._origin,
                entrypoint=entrypoint,
                span_name=grpc_span_name(self._api, entrypoint),
                model_name=model_name,
                parent=lambda tracer: tracer.parent_from_grpc(context.invocation_metadata()),
            )
        token = CURRENT_SCOPE.set(scope) if scope is not None else None
        try:
            response = await work()
            if observability is not None and scope is not None and self._api == "grpc":
                observability.capture_protos(scope, request, response)
            return response
        except ServingError as error:
            code = error.code
            await context.abort(grpc.StatusCode[error.code.name], safe_message(error.message))
        except Exception as error:  # a bug answers INTERNAL, never hangs
            code = Code.INTERNAL
            log.exception("%s failed", entrypoint)
            await context.abort(
                grpc.StatusCode.INTERNAL, safe_message(f"{type(error).__name__}: {error}")
            )
        finally:
            if token is not None:
                CURRENT_SCOPE.reset(token)
                if scope is not None and scope.trace is not None:
                    scope.trace.end(status_code=code.name)
            if self._observer is not None and (model_name or self._count_unnamed):
                self._observer.observe(
                    model_name=model_name,
                    api=self._api,
                    entrypoint=entrypoint,
                    code=code,
                    seconds=time.perf_counter() - started,
                    details=lambda: (grpc_version(request), context.peer()),
                )
        raise AssertionError("unreachable: context.abort raises")
