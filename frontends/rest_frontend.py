"""REST frontend: TF Serving's ``/v1`` API on aiohttp.

URLs, bodies, status codes and error bodies follow TF Serving's REST API document:
- ``POST /v1/models/NAME[/versions/N|/labels/L]:(predict|classify|regress)``
- ``GET  /v1/models/NAME[/versions/N|/labels/L]``            model status
- ``GET  /v1/models/NAME[/versions/N|/labels/L]/metadata``   signature metadata
As in TF Serving's ``http_rest_api_util.cc``: the prefix matches case-insensitively
(``/V1/MODELS/...``); the raw, still percent-encoded path is matched first, then the model
name and label are percent-decoded (``a%2Fb%3Ac`` names the model ``a/b:c``); a version
that does not fit int64 is a 400 "Failed to convert version: N to numeric.". A ``/v1``
URL that matches neither pattern (a non-numeric version, say), or any method but GET and
POST, is a 400 "Malformed request". Our own conveniences (``GET .../gen_json``,
``.../gen_client``, multipart and b64-image ``:predict``) live in ``frontends.rest_extras``. ``GET`` status ignores a label and reports every
version, as TF Serving's GetModelStatus does. Errors are ``{"error": "..."}`` with the status that
``protocol.status.http_status`` maps. Handlers translate only: parsing and encoding live
in ``protocol.rest_codec`` and ``protocol.example_json``, resolution and validation in the
data plane.

``RestFrontend`` opens its TCP site in ``start()`` (HTTPS when given ``tls`` settings,
see ``frontends.tls``; a bad key or certificate fails ``start()``); extra ``middlewares`` (authentication, ``frontends.auth``) run
inside the in-flight count, before every route. ``stop(grace_seconds)`` closes the
listening socket, waits up to ``grace_seconds`` for the requests being handled to finish,
then closes every connection (a handler still running then is cancelled).

Limits, so that no client can exhaust the server (each from a flag):
- a POST body over ``max_body_bytes`` is answered 413: at once when its Content-Length
  says so, else as soon as that many bytes arrived; a ``Content-Encoding: gzip`` or
  ``deflate`` body counts decompressed (aiohttp inflates it while reading), and one that
  does not decompress is answered 400; a multipart upload needs a Content-Length within
  the limit and no Content-Encoding (411 / 415), and is read part by part by its handler;
- a body must arrive in full within ``idle_timeout_seconds`` (else 408), and a connection
  with no request in progress for that long is closed (aiohttp's keep-alive timeout,
  which also covers a connection that never sends its headers in full);
- at most ``max_connections`` connections are open (0: no limit); further ones are
  closed on accept, with one log line per ``_LOG_EVERY_REFUSED``;
- a ``:predict`` body of ``_THREAD_DECODE_BYTES`` or more is decoded in worker threads
  (the JSON parse, then the conversion to arrays and the tensor-size check once the
  signature's dtypes are known), and answers of ``_THREAD_ENCODE_BYTES`` of output arrays
  or more are encoded in one, so one large request does not stall the other requests on
  the event loop (gRPC's too);
- the decoded input tensors of one request are capped at ``max_request_tensor_bytes``;
- after a ``:predict``, ``:classify`` or ``:regress`` body at or above the ``trimmer``'s
  threshold, freed memory is handed back to the OS (``frontends.memory_trim``);
- error messages are made safe to encode and cut to a few KiB (``safe_message``), and
  aiohttp's report of malformed HTTP is one INFO line.

Per request, as little as can be (``bench/profiles/rest.md``): one middleware counts the
request in flight and reads the body (three when extra middlewares are given), with no
timer when the body has already arrived; a ``:predict`` URL is parsed once per raw path
and a signature's input dtypes once per signature (``_PerRequestCaches``); the decoded
JSON is dropped as soon as it became arrays, before the model runs.

``reuse_port=True`` (``--workers`` > 1 only) binds with ``SO_REUSEPORT`` so that the
server's worker processes share the port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from config.ssl_config import SslSettings
from dataplane.dataplane import DataPlane
from dataplane.examples import ExampleAPIs
from frontends.grpc_frontend import SIGNATURE_DEF_FIELD, model_metadata, model_status
from frontends.memory_trim import MemoryTrimmer
from frontends.observer import RequestObserver, rest_version
from frontends.tls import rest_ssl_context
from frontends.rest_extras import RestExtras
from protocol.dtypes import dtype_to_numpy
from protocol.images import has_b64
from protocol.example_json import (
    encode_classification_result,
    encode_regression_result,
    parse_example_body,
)
from protocol.model_ref import ModelRef
from protocol.rest_codec import (
    encode_error,
    FloatFormat,
    encode_predict_response,
    parse_predict_body,
    request_to_tensors,
)
from protocol.signatures import DEFAULT_SIGNATURE, Signature
from protocol.status import Code, ServingError, http_status, invalid_argument, safe_message
from protocol.tensors import check_request_bytes

log = logging.getLogger(__name__)

_THREAD_DECODE_BYTES = 1024**2
"""Bodies at least this large are parsed off the event loop (a thread hop costs ~50 us)."""
_THREAD_ENCODE_BYTES = 256 * 1024
"""Outputs at least this large (array bytes; JSON takes 3-5x) are encoded off the loop."""
_LOG_EVERY_REFUSED = 1000

JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
}

# The same shapes as TF Serving's http_rest_api_handler.
_PREDICTION_URL = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS_URL = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)


_INT64_MAX = 2**63 - 1


def _version(text: str | None) -> int | None:
    """A URL's version digits as int64 (``absl::SimpleAtoi``), or INVALID_ARGUMENT."""
    if not text:
        return None
    version = int(text)
    if version > _INT64_MAX:
        raise invalid_argument(f"Failed to convert version: {text} to numeric.")
    return version


def _decode(text: str | None, what: str) -> str | None:
    """Percent-decode a matched name or label (curl_easy_unescape: ``+`` stays ``+``)."""
    if not text:
        return None
    try:
        return urllib.parse.unquote_to_bytes(text).decode()
    except UnicodeDecodeError as error:
        raise invalid_argument(f"Failed to decode {what}:{text}") from error


def _parse(pattern: re.Pattern[str], request: web.Request) -> tuple[ModelRef, str] | None:
    """The ``ModelRef`` and the last group (method or subresource) of a ``/v1`` URL.

    None when the raw path does not match (the name is "" for a bare ``/v1/models``);
    INVALID_ARGUMENT for a version past int64 or a name that does not decode to UTF-8.
    """
    match = pattern.fullmatch(request.rel_url.raw_path)
    if match is None:
        return None
    name, version, label, last = match.groups()
    ref = ModelRef(
        name=_decode(name, "model name") or "",
        version=_version(version),
        label=_decode(label, "model version label"),
    )
    return ref, (last or "").lower()


class _PerRequestCaches:
    """What repeats across requests, worked out once: the parsed ``:predict`` URL of each
    raw path (only matches; a ``ModelRef`` is immutable) and the numpy dtypes of each
    signature's inputs (a ``Signature`` is immutable; kept by identity, the entry holding
    the signature so that its id is not reused meanwhile). Each holds at most ``limit``
    entries and is forgotten all at once when full (new paths, reloaded models)."""

    def __init__(self, limit: int = 1024) -> None:
        self._limit = limit
        self._urls: dict[str, tuple[ModelRef, str]] = {}
        self._dtypes: dict[int, tuple[Signature, dict[str, Any]]] = {}

    def prediction_url(self, request: web.Request) -> tuple[ModelRef, str] | None:
        """``_parse(_PREDICTION_URL, request)``, remembered per raw path."""
        path = request.rel_url.raw_path
        parsed = self._urls.get(path)
        if parsed is None:
            parsed = _parse(_PREDICTION_URL, request)
            if parsed is not None:
                if len(self._urls) >= self._limit:
                    self._urls.clear()
                self._urls[path] = parsed
        return parsed

    def input_dtypes(self, signature: Signature) -> dict[str, Any]:
        """The numpy dtype of each input of ``signature``."""
        entry = self._dtypes.get(id(signature))
        if entry is not None and entry[0] is signature:
            return entry[1]
        dtypes = {alias: dtype_to_numpy(info.dtype) for alias, info in signature.inputs.items()}
        if len(self._dtypes) >= self._limit:
            self._dtypes.clear()
        self._dtypes[id(signature)] = (signature, dtypes)
        return dtypes


def _json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON)


def _proto_json(message: Any) -> dict[str, Any]:
    document: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return document


class RestFrontend:
    """Owns the aiohttp application and its TCP site."""

    name = "rest_frontend"

    def __init__(
        self,
        *,
        plane: DataPlane,
        host: str,
        port: int,
        timeout_seconds: float | None = None,
        examples: ExampleAPIs | None = None,
        observer: RequestObserver | None = None,
        extra_routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]]
        | None = None,
        cors: bool = False,
        middlewares: Sequence[Middleware] = (),
        tls: SslSettings | None = None,
        max_image_pixels: int = 16_777_216,
        max_body_bytes: int = 64 * 1024**2,
        float_format: FloatFormat = FloatFormat.TF_SERVING,
        max_request_tensor_bytes: int | None = None,
        idle_timeout_seconds: float = 60.0,
        max_connections: int = 0,
        reuse_port: bool = False,
        trimmer: MemoryTrimmer | None = None,
    ) -> None:
        self._trimmer = trimmer
        self._tls = tls
        self._plane = plane
        self._reuse_port = reuse_port  # --workers: the server's own workers share the port
        self._host = host
        self._requested_port = port
        self._timeout_seconds = timeout_seconds
        self._examples = examples
        self._observer = observer
        self._cors = cors
        self._max_body_bytes = max_body_bytes
        self._float_format = float_format
        self._max_request_tensor_bytes = max_request_tensor_bytes
        self._idle_timeout_seconds = idle_timeout_seconds
        self._max_connections = max_connections
        self._refused_connections = 0
        self._caches = _PerRequestCaches()
        # aiohttp wraps each middleware per request (a partial and a coroutine): with no
        # extra middleware, one does both jobs; else the extra ones run between the two.
        chain = (
            [self._count_in_flight, *middlewares, self._read_body]
            if middlewares
            else [self._count_and_read]
        )
        self.app = web.Application(
            client_max_size=max_body_bytes,
            middlewares=chain,
            handler_args={"logger": _MalformedRequestLogger(log, {})},
        )
        for method, path, handler in extra_routes or []:
            self.app.router.add_route(method, path, handler)
        # gen_json, gen_client, image inputs: frontends.rest_extras (before the /v1 catch-all).
        self._extras = RestExtras(plane, max_image_pixels=max_image_pixels)
        self.app.router.add_route(
            "GET", r"/v1/models/{path:[^:]+}/{tool:gen_json|gen_client}", self._extras.generated
        )
        # TF Serving's handler takes "(?i)/v1/.*" for every method: others are "Malformed request".
        v1 = "/{v1:(?i:v1)}/{tail:.*}"
        if cors:
            self.app.router.add_route("OPTIONS", v1, self._preflight)
        self.app.router.add_route("POST", v1, self._post)  # straight there: no _dispatch
        self.app.router.add_route("*", v1, self._dispatch)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.port = 0

    async def start(self) -> None:
        """Open the TCP site (OSError when the port cannot be bound)."""
        if self._runner is not None:
            raise RuntimeError("RestFrontend.start() was already called; create a new frontend")
        # The drain is ours (see stop); aiohttp's own shutdown wait only bounds the rest.
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            keepalive_timeout=self._idle_timeout_seconds,
            # After an early answer (413, 408) aiohttp reads what is left of the body for up
            # to 10 s so that the client sees the answer; a slow client gets no longer.
            lingering_time=min(10.0, self._idle_timeout_seconds),
        )
        await self._runner.setup()
        if self._max_connections:
            self._cap_connections(self._runner.server)
        self._site = web.TCPSite(
            self._runner,
            self._host,
            self._requested_port,
            backlog=1024,
            reuse_port=self._reuse_port,
            ssl_context=rest_ssl_context(self._tls) if self._tls is not None else None,
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
            if len(server.connections) >= self._max_connections:
                if self._refused_connections % _LOG_EVERY_REFUSED == 0:
                    log.warning(
                        "REST: %d connections open (--rest_max_connections); closing new "
                        "ones (%d so far)",
                        self._max_connections,
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
        return await handler(request)

    @web.middleware
    async def _count_and_read(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """``_count_in_flight`` and ``_read_body`` in one middleware (no extra middleware)."""
        self._request_began()
        try:
            if request.method == "POST" and request.can_read_body:
                refused = await self._read_within_limits(request)
                if refused is not None:
                    return refused
            return await handler(request)
        finally:
            self._request_ended()

    async def _read_within_limits(self, request: web.Request) -> web.Response | None:
        """Read a POST body into aiohttp's cache, or the answer refusing it (module doc)."""
        limit = self._max_body_bytes
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
                async with asyncio.timeout(self._idle_timeout_seconds):
                    await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(
                413,
                f"request body, decompressed, is over the limit of {limit} bytes (--rest_max_body_bytes)",
            )
        except (ContentEncodingError, RequestPayloadError) as error:
            message = f"request body does not decompress as its Content-Encoding says: {error}"
            return self._refuse(400, safe_message(message))
        except TimeoutError:
            return self._refuse(
                408, f"request body did not arrive within {self._idle_timeout_seconds} s"
            )
        return None

    def _refuse(self, status: int, message: str) -> web.Response:
        response = _json_response(encode_error(message), status)
        # The rest of the body is not worth reading: the connection ends with this answer.
        response.force_close()
        if self._cors:
            response.headers.update(_CORS_HEADERS)
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

    # --- handlers ------------------------------------------------------------------------

    async def _preflight(self, request: web.Request) -> web.Response:
        """CORS preflight (``--rest_api_enable_cors_support``)."""
        return web.Response(status=204, headers=_CORS_HEADERS)

    async def _answer(
        self,
        request: web.Request,
        entrypoint: str,
        model_name: str,
        work: Callable[[], Awaitable[bytes]],
    ) -> web.Response:
        started = time.perf_counter()
        code = Code.OK
        try:
            response = _json_response(await work())
        except ServingError as error:
            code = error.code
            response = _json_response(
                encode_error(safe_message(error.message)), http_status(error.code)
            )
        except Exception as error:  # a bug answers 500, never hangs
            code = Code.INTERNAL
            log.exception("%s %s failed", request.method, safe_message(request.path, 200))
            response = _json_response(
                encode_error(safe_message(f"{type(error).__name__}: {error}")), 500
            )
        if self._observer is not None:
            self._observer.observe(
                model_name=model_name,
                api="rest",
                entrypoint=entrypoint,
                code=code,
                seconds=time.perf_counter() - started,
                details=lambda: (rest_version(request.path), request.remote or ""),
            )
        if self._cors:
            response.headers.update(_CORS_HEADERS)
        return response

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            return await self._post(request)
        if request.method in ("GET", "HEAD"):
            return await self._get(request)
        return await self._malformed(request)

    async def _post(self, request: web.Request) -> web.Response:
        try:
            parsed = self._caches.prediction_url(request)
        except ServingError as error:
            return await self._answer(request, "malformed", "", _raise(error))
        if parsed is None:
            return await self._malformed(request)
        ref, method = parsed
        name = ref.name
        if method == "predict" and request.content_type == "multipart/form-data":
            return await self._answer(
                request, "Predict", name, lambda: self._predict_images(ref, request)
            )
        body = await request.read()
        try:
            if method == "predict":  # here, not in _post_body: one coroutine fewer per call
                return await self._answer(
                    request, "Predict", name, lambda: self._predict(ref, body, request)
                )
            return await self._post_body(request, ref, method, body)
        finally:
            if self._trimmer is not None:
                self._trimmer.after_request(len(body))

    async def _post_body(
        self, request: web.Request, ref: ModelRef, method: str, body: bytes
    ) -> web.Response:
        """``:classify`` or ``:regress`` (``:predict`` is answered in ``_post``)."""
        name = ref.name
        examples = self._examples
        if examples is None:
            return await self._answer(request, method, name, _unimplemented(method))
        entrypoint = "Classify" if method == "classify" else "Regress"
        return await self._answer(
            request,
            entrypoint,
            name,
            lambda: self._classify_or_regress(examples, method, ref, body),
        )

    async def _predict(self, ref: ModelRef, body: bytes, request: web.Request) -> bytes:
        large = len(body) >= _THREAD_DECODE_BYTES
        if large:
            parsed = await asyncio.to_thread(parse_predict_body, body)
        else:
            parsed = parse_predict_body(body)
        signature_name, row_format = parsed.signature_name, parsed.row_format
        # The decoded JSON (a Python object per number) is dropped once it became arrays,
        # before the model runs: only the arrays wait in the batch.
        holder = [parsed]
        del parsed

        def to_arrays(signature: Signature) -> dict[str, Any]:
            parsed = holder.pop()
            if has_b64(body):
                parsed = self._extras.json_images(parsed, body, signature, request.query)
            arrays = request_to_tensors(parsed, self._caches.input_dtypes(signature))
            check_request_bytes(arrays, self._max_request_tensor_bytes)
            return arrays

        def decode(signature: Signature) -> dict[str, Any] | Awaitable[dict[str, Any]]:
            if large:
                return asyncio.to_thread(to_arrays, signature)
            return to_arrays(signature)

        try:
            result = await self._plane.predict(
                ref,
                signature_name,
                decode,
                (),
                self._timeout_seconds,
                decoded_for_signature=True,
            )
        except ServingError as error:
            if error.code is Code.FAILED_PRECONDITION and error.message.startswith(
                "Serving signature key"
            ):
                # REST looks the signature up while parsing (GetInfoMap), with its own words.
                raise invalid_argument(
                    f'Serving signature name: "{signature_name}" not found in signature def'
                ) from error
            raise
        if sum(array.nbytes for array in result.outputs.values()) >= _THREAD_ENCODE_BYTES:
            return await asyncio.to_thread(
                encode_predict_response, result.outputs, row_format, self._float_format
            )
        return encode_predict_response(result.outputs, row_format, self._float_format)

    async def _predict_images(self, ref: ModelRef, request: web.Request) -> bytes:
        """A multipart ``:predict``: image files become the inputs (``frontends.rest_extras``)."""
        fields, files = await self._extras.read_form(request)
        result = await self._plane.predict(
            ref,
            fields.get("signature_name") or DEFAULT_SIGNATURE,
            lambda signature: self._extras.form_tensors(signature, fields, files, request.query),
            (),
            self._timeout_seconds,
        )
        return encode_predict_response(result.outputs, True, self._float_format)

    async def _classify_or_regress(
        self, examples: ExampleAPIs, method: str, ref: ModelRef, body: bytes
    ) -> bytes:
        """The body is parsed before the model is resolved, as in TF Serving."""
        parsed = parse_example_body(body, method)
        if method == "classify":
            classified = await examples.classify(
                ref, parsed.signature_name, parsed.input, self._timeout_seconds
            )
            return encode_classification_result(classified.result)
        regressed = await examples.regress(
            ref, parsed.signature_name, parsed.input, self._timeout_seconds
        )
        return encode_regression_result(regressed.result)

    async def _get(self, request: web.Request) -> web.Response:
        try:
            parsed = _parse(_STATUS_URL, request)
        except ServingError as error:
            return await self._answer(request, "malformed", "", _raise(error))
        if parsed is None:
            return await self._malformed(request)
        ref, subresource = parsed
        if not ref.name:  # GET /v1/models: TF Serving lists no models
            return await self._answer(
                request,
                "GetModelStatus",
                "",
                _raise(invalid_argument("Missing model name in request.")),
            )
        if subresource:
            return await self._answer(
                request, "GetModelMetadata", ref.name, lambda: self._metadata(ref)
            )
        return await self._answer(request, "GetModelStatus", ref.name, lambda: self._status(ref))

    async def _status(self, ref: ModelRef) -> bytes:
        spec = model_pb2.ModelSpec()
        _fill_spec(spec, dataclasses.replace(ref, label=None))  # GetModelStatus ignores labels
        text: str = json_format.MessageToJson(
            model_status(self._plane, spec),
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
            indent=1,
        )
        return text.encode()

    async def _metadata(self, ref: ModelRef) -> bytes:
        spec = model_pb2.ModelSpec()
        _fill_spec(spec, ref)
        response = model_metadata(self._plane, spec, [SIGNATURE_DEF_FIELD])
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_defs)
        # TF Serving prints the unpacked SignatureDefMap, not the Any with its @type.
        document = {
            "model_spec": _proto_json(response.model_spec),
            "metadata": {SIGNATURE_DEF_FIELD: _proto_json(signature_defs)},
        }
        return json.dumps(document, indent=1).encode()

    async def _malformed(self, request: web.Request) -> web.Response:
        async def fail() -> bytes:
            raise invalid_argument(f"Malformed request: {request.method} {request.path_qs}")

        return await self._answer(request, "malformed", "", fail)


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


def _fill_spec(spec: Any, ref: ModelRef) -> None:
    spec.name = ref.name
    if ref.version is not None:
        spec.version.value = ref.version
    if ref.label:
        spec.version_label = ref.label


def _raise(error: ServingError) -> Callable[[], Awaitable[bytes]]:
    async def fail() -> bytes:
        raise error

    return fail


def _unimplemented(method: str) -> Callable[[], Awaitable[bytes]]:
    async def fail() -> bytes:
        raise ServingError(Code.UNIMPLEMENTED, f":{method} is not available on this server")

    return fail
