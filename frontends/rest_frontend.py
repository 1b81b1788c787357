"""REST frontend: TF Serving's ``/v1`` API on aiohttp.

URLs, bodies, status codes and error bodies follow TF Serving's REST API document:
- ``POST /v1/models/NAME[/versions/N|/labels/L]:(predict|classify|regress)``
- ``GET  /v1/models/NAME[/versions/N|/labels/L]``            model status
- ``GET  /v1/models/NAME[/versions/N|/labels/L]/metadata``   signature metadata
A ``/v1`` URL that matches neither pattern (a non-numeric version, say) is a 400
"Malformed request". Errors are ``{"error": "..."}`` with the status that
``protocol.status.http_status`` maps. Handlers translate only: parsing and encoding live
in ``protocol.rest_codec`` and ``protocol.example_json``, resolution and validation in the
data plane.

``RestFrontend`` opens its TCP site in ``start()``. ``stop(grace_seconds)`` closes the
listening socket, waits up to ``grace_seconds`` for the requests being handled to finish,
then closes every connection (a handler still running then is cancelled).
``reuse_port=True`` (``--workers`` > 1 only) binds with ``SO_REUSEPORT`` so that the
server's worker processes share the port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from dataplane.dataplane import DataPlane
from dataplane.examples import ExampleAPIs
from frontends.grpc_frontend import SIGNATURE_DEF_FIELD, model_metadata, model_status
from frontends.observer import RequestObserver
from protocol.dtypes import dtype_to_numpy
from protocol.example_json import encode_classification_result, encode_regression_result, parse_example_body
from protocol.model_ref import ModelRef
from protocol.rest_codec import (
    encode_error,
    encode_predict_response,
    parse_predict_body,
    request_to_tensors,
)
from protocol.signatures import Signature
from protocol.status import Code, ServingError, http_status, invalid_argument

log = logging.getLogger(__name__)

JSON = "application/json"
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


def _ref(name: str, version: str | None, label: str | None) -> ModelRef:
    return ModelRef(name=name, version=int(version) if version else None, label=label or None)


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
        extra_routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] | None = None,
        cors: bool = False,
        reuse_port: bool = False,
    ) -> None:
        self._plane = plane
        self._reuse_port = reuse_port  # --workers: the server's own workers share the port
        self._host = host
        self._requested_port = port
        self._timeout_seconds = timeout_seconds
        self._examples = examples
        self._observer = observer
        self._cors = cors
        self.app = web.Application(client_max_size=1024**3, middlewares=[self._count_in_flight])
        for method, path, handler in extra_routes or []:
            self.app.router.add_route(method, path, handler)
        if cors:
            self.app.router.add_route("OPTIONS", "/v1/{tail:.*}", self._preflight)
        self.app.router.add_route("POST", "/v1/{tail:.*}", self._post)
        self.app.router.add_route("GET", "/v1/{tail:.*}", self._get)
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
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self._host, self._requested_port, backlog=1024, reuse_port=self._reuse_port)
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
            log.warning("REST: %d requests still running after %ss; closing", self._in_flight, grace_seconds)
        await self._runner.cleanup()

    @web.middleware
    async def _count_in_flight(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self._in_flight += 1
        self._idle.clear()
        try:
            return await handler(request)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    # --- handlers ------------------------------------------------------------------------

    async def _preflight(self, request: web.Request) -> web.Response:
        """CORS preflight (``--rest_api_enable_cors_support``)."""
        return web.Response(status=204, headers=_CORS_HEADERS)

    async def _answer(
        self, request: web.Request, entrypoint: str, model_name: str, work: Callable[[], Awaitable[bytes]]
    ) -> web.Response:
        started = time.perf_counter()
        code = Code.OK
        try:
            response = _json_response(await work())
        except ServingError as error:
            code = error.code
            response = _json_response(encode_error(error.message), http_status(error.code))
        except Exception as error:  # a bug answers 500, never hangs
            code = Code.INTERNAL
            log.exception("%s %s failed", request.method, request.path)
            response = _json_response(encode_error(f"{type(error).__name__}: {error}"), 500)
        if self._observer is not None:
            self._observer.observe(
                model_name=model_name, api="rest", entrypoint=entrypoint, code=code,
                seconds=time.perf_counter() - started,
            )
        if self._cors:
            response.headers.update(_CORS_HEADERS)
        return response

    async def _post(self, request: web.Request) -> web.Response:
        match = _PREDICTION_URL.fullmatch(request.path)
        if match is None:
            return await self._malformed(request)
        name, version, label, method = match.groups()
        ref = _ref(name, version, label)
        method = method.lower()
        body = await request.read()
        if method == "predict":
            return await self._answer(request, "Predict", name, lambda: self._predict(ref, body))
        examples = self._examples
        if examples is None:
            return await self._answer(request, method, name, _unimplemented(method))
        entrypoint = "Classify" if method == "classify" else "Regress"
        return await self._answer(
            request, entrypoint, name, lambda: self._classify_or_regress(examples, method, ref, body)
        )

    async def _predict(self, ref: ModelRef, body: bytes) -> bytes:
        parsed = parse_predict_body(body)

        def decode(signature: Signature) -> dict[str, Any]:
            specs = {alias: dtype_to_numpy(info.dtype) for alias, info in signature.inputs.items()}
            return request_to_tensors(parsed, specs)

        result = await self._plane.predict(
            ref, parsed.signature_name, decode, (), self._timeout_seconds, decoded_for_signature=True
        )
        return encode_predict_response(result.outputs, parsed.row_format)

    async def _classify_or_regress(self, examples: ExampleAPIs, method: str, ref: ModelRef, body: bytes) -> bytes:
        """The body is parsed before the model is resolved, as in TF Serving."""
        parsed = parse_example_body(body, method)
        if method == "classify":
            classified = await examples.classify(ref, parsed.signature_name, parsed.input, self._timeout_seconds)
            return encode_classification_result(classified.result)
        regressed = await examples.regress(ref, parsed.signature_name, parsed.input, self._timeout_seconds)
        return encode_regression_result(regressed.result)

    async def _get(self, request: web.Request) -> web.Response:
        match = _STATUS_URL.fullmatch(request.path)
        if match is None or not match.group(1):
            return await self._malformed(request)
        name, version, label, metadata = match.groups()
        if metadata:
            return await self._answer(request, "GetModelMetadata", name, lambda: self._metadata(name, version, label))
        return await self._answer(request, "GetModelStatus", name, lambda: self._status(name, version, label))

    async def _status(self, name: str, version: str | None, label: str | None) -> bytes:
        spec = model_pb2.ModelSpec()
        _fill_spec(spec, name, version, label)
        text: str = json_format.MessageToJson(
            model_status(self._plane, spec),
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
            indent=1,
        )
        return text.encode()

    async def _metadata(self, name: str, version: str | None, label: str | None) -> bytes:
        spec = model_pb2.ModelSpec()
        _fill_spec(spec, name, version, label)
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


def _fill_spec(spec: Any, name: str, version: str | None, label: str | None) -> None:
    spec.name = name
    if version:
        spec.version.value = int(version)
    if label:
        spec.version_label = label


def _unimplemented(method: str) -> Callable[[], Awaitable[bytes]]:
    async def fail() -> bytes:
        raise ServingError(Code.UNIMPLEMENTED, f":{method} is not available on this server")

    return fail
