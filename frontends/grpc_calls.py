"""The one wrapper every gRPC handler runs in: status mapping and metrics, for both APIs.

``GrpcCalls(observer, api).call(entrypoint, model_name, context, work)`` awaits ``work``.
A ``ServingError`` aborts the RPC with the gRPC status of the same name and its message
(made safe to encode and cut to a few KiB, ``protocol.status.safe_message``); any other
exception is a bug: it is logged with its traceback and answered INTERNAL, never left to
hang. Each call is reported once to the observer under ``api`` (``grpc`` for TF Serving's
services, ``v2`` for the Open Inference Protocol), except calls that name no model when
``count_unnamed`` is off (V2's repository index and server calls belong to no model). Passing the RPC's
``request`` lets the access log name the version it asked for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from frontends.observer import RequestObserver, grpc_version
from protocol.status import Code, ServingError, safe_message

log = logging.getLogger(__name__)

Resp = TypeVar("Resp")


class GrpcCalls:
    """Error mapping and metrics shared by every RPC of one API."""

    def __init__(
        self, observer: RequestObserver | None, *, api: str, count_unnamed: bool = True
    ) -> None:
        self._observer = observer
        self._api = api
        self._count_unnamed = count_unnamed

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
        try:
            return await work()
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
