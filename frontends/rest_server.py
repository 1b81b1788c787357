"""The REST server: aiohttp's application and TCP site, with the limits every route shares.

``RestServer(settings, routes, middlewares)`` serves the given routes (``/v1``:
``frontends.rest_v1``; ``/v2``: ``frontends.v2_rest``; metrics, the dashboard), in the order
given: the first route that matches answers, so ``/v1``'s catch-all comes last. It knows
no API: handlers answer through their own call wrapper (``frontends.rest_calls``).

``start()`` opens the TCP site (HTTPS when ``settings.tls`` is set, see ``frontends.tls``;
a bad key or certificate fails ``start()``; OSError when the port cannot be bound);
``port`` is then the bound port, also for port 0. Extra ``middlewares``
(authentication, ``frontends.auth``) run inside the in-flight count, before every route.
``stop(grace_seconds)`` closes the listening socket, waits up to ``grace_seconds`` for
the requests being handled to finish, then closes every connection (a handler still
running then is cancelled). ``stop`` is safe before ``start``.

Limits, so that no client can exhaust the server (each from a flag, ``RestSettings``):
- a POST body over ``max_body_bytes`` is answered 413: at once when its Content-Length
  says so, else as soon as that many bytes arrived; a ``Content-Encoding: gzip`` or
  ``deflate`` body counts decompressed (aiohttp inflates it while reading), and one that
  does not decompress reads as an empty body, as in TF Serving (the JSON APIs then
  answer 400 "The document is empty"), on a connection closed after the answer; a
  multipart upload needs a Content-Length within the limit and no Content-Encoding
  (411 / 415), and is read part by part by its handler;
- a body must arrive in full within ``idle_timeout_seconds`` (else 408), and a connection
  with no request in progress for that long is closed (aiohttp's keep-alive timeout,
  which also covers a connection that never sends its headers in full);
- at most ``max_connections`` connections are open (0: no limit); further ones are
  closed on accept, with one log line per ``_LOG_EVERY_REFUSED``;
- aiohttp's report of malformed HTTP is one INFO line.
These refusals are ``{"error": "..."}`` bodies (with the CORS headers when ``cors``).

``reuse_port=True`` (``--workers`` > 1 only) binds with ``SO_REUSEPORT`` so that the
server's worker processes share the port.

MEASURED FAST PATH (``bench/profiles/rest.md``): one middleware counts the request in
flight and reads the body (three when extra middlewares are given), and no timer is set
when the body has already arrived. Keep both when changing the middlewares.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestPayloadError

from config.ssl_config import SslSettings
from frontends.rest_calls import CORS_HEADERS, Handler, Route, json_response
from frontends.tls import rest_ssl_context
from protocol.rest_codec import encode_error
from protocol.status import safe_message

log = logging.getLogger(__name__)

_CLOSE_AFTER_ANSWER: Final = "aioserving.close_after_answer"
"""Request key: the connection's stream is unusable (a body that did not inflate)."""


def _closed_after_if_asked(
    request: web.Request, response: web.StreamResponse
) -> web.StreamResponse:
    if request.get(_CLOSE_AFTER_ANSWER):
        response.force_close()
    return response


_LOG_EVERY_REFUSED = 1000


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RestSettings:
    """Where the REST server listens and the limits it applies to every request."""

    host: str = "0.0.0.0"
    port: int = 8501
    """0 binds an ephemeral port (read it back from ``RestServer.port``)."""
    max_body_bytes: int = 64 * 1024**2
    """``--rest_max_body_bytes``: larger bodies are answered 413."""
    idle_timeout_seconds: float = 60.0
    """``--rest_idle_timeout_seconds``: body arrival (408) and idle keep-alive limit."""
    max_connections: int = 0
    """``--rest_max_connections``: connections beyond are closed on accept; 0, no cap."""
    tls: SslSettings | None = None
    """HTTPS when set (``--ssl_config_file``'s REST part)."""
    reuse_port: bool = False
    """``SO_REUSEPORT``, for the server's own worker processes (``--workers``)."""
    cors: bool = False
    """``--rest_api_enable_cors_support``: the server's own refusals carry CORS headers too."""


class RestServer:
    """Owns the aiohttp application and its TCP site."""

    name = "rest_frontend"

    def __init__(
        self,
        settings: RestSettings,
        routes: Sequence[Route],
        *,
        middlewares: Sequence[Middleware] = (),
    ) -> None:
        self._settings = settings
        self._refused_connections = 0
        # aiohttp wraps each middleware per request (a partial and a coroutine): with no
        # extra middleware, one does both jobs; else the extra ones run between the two.
        chain = (
            [self._count_in_flight, *middlewares, self._read_body]
            if middlewares
            else [self._count_and_read]
        )
        self.app = web.Application(
            client_max_size=settings.max_body_bytes,
            middlewares=chain,
            handler_args={"logger": _MalformedRequestLogger(log, {})},
        )
        for method, path, handler in routes:
            self.app.router.add_route(method, path, handler)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.port = 0

    async def start(self) -> None:
        """Open the TCP site (OSError when the port cannot be bound)."""
        if self._runner is not None:
            raise RuntimeError("RestServer.start() was already called; create a new server")
        # The drain is ours (see stop); aiohttp's own shutdown wait only bounds the rest.
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            keepalive_timeout=self._settings.idle_timeout_seconds,
            # After an early answer (413, 408) aiohttp reads what is left of the body for up
            # to 10 s so that the client sees the answer; a slow client gets no longer.
            lingering_time=min(10.0, self._settings.idle_timeout_seconds),
        )
        await self._runner.setup()
        settings = self._settings
        if self._settings.max_connections:
            self._cap_connections(self._runner.server)
        self._site = web.TCPSite(
            self._runner,
            settings.host,
            settings.port,
            backlog=1024,
            reuse_port=settings.reuse_port,
            ssl_context=rest_ssl_context(settings.tls) if settings.tls is not None else None,
        )
        await self._site.start()
        self.port = int(self._runner.addresses[0][1])  # the bound port, even for port 0

    async def stop(self, grace_seconds: float) -> None:
        """Stop accepting, give in-flight requests ``grace_seconds``, then close. Safe before start."""
        if self._runner is None:
            return
        if self._site is not None:
            await self._site.stop()  # no new connections from here on
        try:
            async with asyncio.timeout(grace_seconds):
                await self._idle.wait()
        except TimeoutError:
            log.warning(
                "REST: %d requests still running after %ss; closing", self._in_flight, grace_seconds
            )
        await self._runner.cleanup()

    def _cap_connections(self, server: Any) -> None:
        """Close connections accepted beyond ``max_connections`` (aiohttp has no such cap)."""
        register = server.connection_made

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            if len(server.connections) >= self._settings.max_connections:
                if self._refused_connections % _LOG_EVERY_REFUSED == 0:
                    log.warning(
                        "REST: %d connections open (--rest_max_connections); closing new "
                        "ones (%d so far)",
                        self._settings.max_connections,
                        self._refused_connections + 1,
                    )
                self._refused_connections += 1
                transport.close()
                return
            register(handler, transport)

        # aiohttp's Server is told of every accepted socket through this method.
        server.connection_made = connection_made

    @web.middleware
    async def _read_body(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Read a POST body within the limits (module doc); handlers then read it cached."""
        if request.method != "POST" or not request.can_read_body:
            return await handler(request)
        refused = await self._read_within_limits(request)
        if refused is not None:
            return refused
        return _closed_after_if_asked(request, await handler(request))

    # MEASURED FAST PATH (bench/profiles/rest.md): one middleware instead of two when no
    # extra middleware is given, and no timer when the body has already arrived.
    @web.middleware
    async def _count_and_read(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """``_count_in_flight`` and ``_read_body`` in one middleware (no extra middleware)."""
        self._request_began()
        try:
            if request.method == "POST" and request.can_read_body:
                refused = await self._read_within_limits(request)
                if refused is not None:
                    return refused
                return _closed_after_if_asked(request, await handler(request))
            return await handler(request)
        finally:
            self._request_ended()

    async def _read_within_limits(self, request: web.Request) -> web.Response | None:
        """Read a POST body into aiohttp's cache, or the answer refusing it (module doc)."""
        limit = self._settings.max_body_bytes
        length = request.content_length
        if length is not None and length > limit:
            return self._refuse(
                413,
                f"request body of {length} bytes is over the limit of {limit} bytes (--rest_max_body_bytes)",
            )
        if request.content_type == "multipart/form-data":
            # Image uploads are read part by part by their handler (frontends.rest_extras),
            # so the body is bounded here by its declared length, which aiohttp enforces.
            if length is None:
                return self._refuse(411, "a multipart/form-data body needs a Content-Length")
            if request.headers.get("Content-Encoding", "identity").lower() != "identity":
                return self._refuse(415, "a multipart/form-data body cannot be Content-Encoded")
            return None
        try:
            if request.content.is_eof():
                # The whole body has arrived (the usual small request): no timer needed.
                await request.read()
            else:
                async with asyncio.timeout(self._settings.idle_timeout_seconds):
                    await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(
                413,
                f"request body, decompressed, is over the limit of {limit} bytes (--rest_max_body_bytes)",
            )
        except (ContentEncodingError, RequestPayloadError) as error:
            # TF Serving's libevent server hands its handlers an empty body when the body
            # does not inflate, so the JSON parser answers "The document is empty": the
            # body reads as empty here too (aiohttp's read() returns its cache once set),
            # and the connection closes after the answer, as its stream is now unusable.
            log.info("REST body does not decompress as its Content-Encoding says: %s", error)
            request._read_bytes = b""  # noqa: SLF001 - aiohttp's body cache; no public setter
            request[_CLOSE_AFTER_ANSWER] = True
            return None
        except TimeoutError:
            return self._refuse(
                408, f"request body did not arrive within {self._settings.idle_timeout_seconds} s"
            )
        return None

    def _refuse(self, status: int, message: str) -> web.Response:
        response = json_response(encode_error(message), status)
        # The rest of the body is not worth reading: the connection ends with this answer.
        response.force_close()
        if self._settings.cors:
            response.headers.update(CORS_HEADERS)
        return response

    def _request_began(self) -> None:
        self._in_flight += 1
        self._idle.clear()

    def _request_ended(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    @web.middleware
    async def _count_in_flight(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self._request_began()
        try:
            return await handler(request)
        finally:
            self._request_ended()


class _MalformedRequestLogger(logging.LoggerAdapter[logging.Logger]):
    """aiohttp logs malformed HTTP at ERROR with a traceback; here it is one INFO line.

    Anything else aiohttp reports (a handler bug that escaped) keeps its traceback.
    """

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError | RequestPayloadError):
            detail = " ".join(str(error).split())
            self.logger.info("REST: malformed HTTP request: %s", safe_message(detail, 200))
        else:
            self.logger.exception(msg, *args, **kwargs)
