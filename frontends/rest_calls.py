"""The one wrapper every REST handler runs in, for ``/v1`` and ``/v2`` alike.

``RestCalls(observer, api=..., encode_error=...).call(request, entrypoint, model_name,
work)`` awaits ``work`` (a handler's decode, data plane call and encode) and answers:
- its response, as it is;
- for a ``ServingError``, the HTTP status ``protocol.status.http_status`` maps its code
  to, with the API's JSON error body (``encode_error``; ``{"error": "..."}`` for both APIs);
- for any other exception, a bug: it is logged with its traceback and answered 500 with
  the same JSON body naming the exception, never aiohttp's plain-text 500.
Every message is made safe to encode and cut to a few KiB (``safe_message``). Each call
is reported once to the observer under ``api`` (``rest`` for TF Serving's, ``v2`` for the
Open Inference Protocol, whose entrypoints are the gRPC method names), except calls that
name no model when ``count_unnamed`` is off (V2's repository index and server calls
belong to no model). With ``cors`` on (``--rest_api_enable_cors_support``, ``/v1``
only), every answer carries ``CORS_HEADERS``.

When the observer is an ``ObservedRequests`` (``frontends.observed_requests``), each call
also runs in a ``RequestScope`` (``dataplane.observing``): its SERVER span continues the
request's ``traceparent`` header and ends with the call's status; a sampled call is
request-logged by the data plane (``:predict``, V2 inference) or ``ExampleAPIs``
(``:classify``, ``:regress``), from its decoded parts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from dataplane.observing import CURRENT_SCOPE, RequestScope
from frontends.observed_requests import observability_of, observer_of
from frontends.observer import RequestObserver, rest_version
from protocol.status import Code, ServingError, http_status, safe_message

log = logging.getLogger(__name__)

JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]
"""(method, path pattern, handler), as ``aiohttp.web.UrlDispatcher.add_route`` takes them."""
# TF Serving's AddCORSHeaders (http_rest_api_util.cc), word for word.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}


def json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON)


class RestCalls:
    """Error mapping, metrics and CORS shared by every REST handler of one API."""

    def __init__(
        self,
        observer: RequestObserver | None,
        *,
        api: str,
        encode_error: Callable[[str], bytes],
        cors: bool = False,
        count_unnamed: bool = True,
    ) -> None:
        self._observer = observer_of(observer)  # observe() straight, as grpc_calls does
        self._api = api
        self._encode_error = encode_error
        self._cors = cors
        self._count_unnamed = count_unnamed
        self._observability = observability_of(observer)
        self._origin = "rest" if api == "rest" else f"{api}-rest"

    async def call(
        self,
        request: web.Request,
        entrypoint: str,
        model_name: str,
        work: Callable[[], Awaitable[web.Response]],
    ) -> web.Response:
        started = time.perf_counter()
        code = Code.OK
        observability = self._observability
        scope: RequestScope | None = None
        if observability is not None:
            scope = observability.open(
                origin=self._origin,
                entrypoint=entrypoint,
                span_name=f"{request.method} {self._api} {entrypoint}",
                model_name=model_name,
                parent=lambda tracer: tracer.parent_from_http(request.headers),
            )
        token = CURRENT_SCOPE.set(scope) if scope is not None else None
        try:
            response = await work()
        except ServingError as error:
            code = error.code
            response = json_response(
                self._encode_error(safe_message(error.message)), http_status(error.code)
            )
        except Exception as error:  # a bug answers 500, never hangs
            code = Code.INTERNAL
            log.exception("%s %s failed", request.method, safe_message(request.path, 200))
            response = json_response(
                self._encode_error(safe_message(f"{type(error).__name__}: {error}")), 500
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
                details=lambda: (rest_version(request.path), request.remote or ""),
            )
        if self._cors:
            response.headers.update(CORS_HEADERS)
        return response

    async def fail(
        self, request: web.Request, entrypoint: str, model_name: str, error: ServingError
    ) -> web.Response:
        """Answer ``error`` for a request that failed before reaching the data plane."""

        async def work() -> web.Response:
            raise error

        return await self.call(request, entrypoint, model_name, work)
