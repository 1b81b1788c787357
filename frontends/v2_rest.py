"""V2 (Open Inference Protocol) REST routes, served on the REST port beside ``/v1``.

- ``GET /v2``: server metadata.
- ``GET /v2/health/live``, ``/v2/health/ready``: 200 ``{"live"|"ready": true}``, 503 with
  ``false`` (readiness as ``dataplane.readiness`` defines it; a not-ready answer adds
  ``"reasons"``: which model and why, or that the server drains).
- ``GET /v2/models/M[/versions/V]``: model metadata; ``.../ready``: 200 ``{"ready": true}``,
  503 ``{"ready": false}``, 404 for an unknown model.
- ``POST /v2/models/M[/versions/V]/infer``: JSON tensors and the binary tensor extension
  (``protocol.v2_codec``). ``V`` is a version number or a version label.
Bodies are read whatever their ``Content-Type`` (or none). Errors are ``{"error": "..."}``
with ``protocol.status.http_status`` of the code (400, 404, 503, ...). Each request is
observed for metrics with API ``v2`` and the gRPC method's name as the entrypoint.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from frontends.observer import RequestObserver
from frontends.v2_service import EXTENSIONS, SERVER_NAME, SERVER_VERSION, ModelMetadata, V2Service
from protocol.status import Code, ServingError, http_status
from protocol.v2_codec import (
    INFERENCE_HEADER,
    decode_rest_request,
    encode_error,
    encode_rest_response,
    parse_version,
    split_rest_body,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(document: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(document), status=status, content_type="application/json")


def metadata_document(metadata: ModelMetadata) -> dict[str, Any]:
    def tensors(items: Any) -> list[dict[str, Any]]:
        return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in items]

    return {
        "name": metadata.name,
        "versions": list(metadata.versions),
        "platform": metadata.platform,
        "inputs": tensors(metadata.inputs),
        "outputs": tensors(metadata.outputs),
    }


class V2Rest:
    """The V2 REST handlers; ``routes()`` gives them to the REST frontend."""

    def __init__(
        self,
        service: V2Service,
        *,
        timeout_seconds: float | None = None,
        observer: RequestObserver | None = None,
    ) -> None:
        self._service = service
        self._timeout_seconds = timeout_seconds
        self._observer = observer

    def routes(self) -> list[tuple[str, str, Handler]]:
        model = "/v2/models/{model}"
        versioned = model + "/versions/{version}"
        return [
            ("GET", "/v2", self._server_metadata),
            ("GET", "/v2/health/live", self._live),
            ("GET", "/v2/health/ready", self._ready),
            ("GET", model, self._model_metadata),
            ("GET", versioned, self._model_metadata),
            ("GET", model + "/ready", self._model_ready),
            ("GET", versioned + "/ready", self._model_ready),
            ("POST", model + "/infer", self._infer),
            ("POST", versioned + "/infer", self._infer),
        ]

    async def _answer(
        self, entrypoint: str, model_name: str, work: Callable[[], Awaitable[web.Response]]
    ) -> web.Response:
        started = time.perf_counter()
        code = Code.OK
        try:
            response = await work()
        except ServingError as error:
            code = error.code
            response = web.Response(
                body=encode_error(error.message),
                status=http_status(error.code),
                content_type="application/json",
            )
        if self._observer is not None:
            self._observer.observe(
                model_name=model_name,
                api="v2",
                entrypoint=entrypoint,
                code=code,
                seconds=time.perf_counter() - started,
            )
        return response

    async def _server_metadata(self, request: web.Request) -> web.Response:
        return _json(
            {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": list(EXTENSIONS)}
        )

    async def _live(self, request: web.Request) -> web.Response:
        live = self._service.health.live()
        return _json({"live": live}, 200 if live else 503)

    async def _ready(self, request: web.Request) -> web.Response:
        readiness = self._service.health.readiness()
        if readiness.ready:
            return _json({"ready": True}, 200)
        # Which model is not ready and why (or that the server drains), for operators.
        return _json({"ready": False, "reasons": list(readiness.reasons)}, 503)

    async def _model_metadata(self, request: web.Request) -> web.Response:
        ref = parse_version(request.match_info["model"], request.match_info.get("version"))

        async def work() -> web.Response:
            return _json(metadata_document(self._service.model_metadata(ref)))

        return await self._answer("ModelMetadata", ref.name, work)

    async def _model_ready(self, request: web.Request) -> web.Response:
        ref = parse_version(request.match_info["model"], request.match_info.get("version"))

        async def work() -> web.Response:
            ready = self._service.model_ready(ref)
            return _json({"name": ref.name, "ready": ready}, 200 if ready else 503)

        return await self._answer("ModelReady", ref.name, work)

    async def _infer(self, request: web.Request) -> web.Response:
        ref = parse_version(request.match_info["model"], request.match_info.get("version"))
        body = await request.read()
        header_length = request.headers.get(INFERENCE_HEADER)

        async def work() -> web.Response:
            document, binary = split_rest_body(body, header_length)
            parsed = decode_rest_request(document, binary)
            result = await self._service.infer(ref, parsed, self._timeout_seconds)
            binary_of = {o.name: o.binary for o in parsed.outputs}
            outputs = [
                (
                    name,
                    array,
                    dtype,
                    parsed.binary_output if binary_of.get(name) is None else bool(binary_of[name]),
                )
                for name, array, dtype in result.outputs
            ]
            payload, json_length = encode_rest_response(
                model_name=result.model_name,
                model_version=result.model_version,
                request_id=parsed.id,
                outputs=outputs,
            )
            if json_length is None:
                return web.Response(body=payload, content_type="application/json")
            return web.Response(
                body=payload,
                content_type="application/octet-stream",
                headers={INFERENCE_HEADER: str(json_length)},
            )

        return await self._answer("ModelInfer", ref.name, work)
