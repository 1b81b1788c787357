"""V2 (Open Inference Protocol) REST handlers, served on the REST port beside ``/v1``.

- ``GET /v2``: server metadata.
- ``GET /v2/health/live``, ``/v2/health/ready``: 200 ``{"live"|"ready": true}``, 503 with
  ``false`` (readiness as ``dataplane.readiness`` defines it; a not-ready answer adds
  ``"reasons"``: which model and why, or that the server drains).
- ``GET /v2/models/M[/versions/V]``: model metadata; ``.../ready``: 200 ``{"ready": true}``,
  503 ``{"ready": false}``, 404 for an unknown model.
- ``GET /v2/models/M[/versions/V]/config``: the model configuration.
- ``GET /v2/models/stats``, ``/v2/models/M[/versions/V]/stats``: the statistics extension.
- ``POST /v2/repository/index`` (body ``{"ready": bool}`` or empty): the repository index.
- ``POST /v2/repository/models/M/load`` and ``.../unload`` (body optional): 200 with an
  empty body once done; 404 for a model outside the config; a failed load is 400 naming
  the version errors; a ``config`` parameter overrides the model's ``config.pbtxt``, one
  that does not parse and ``file:`` parameters are 400 (``dataplane.v2``,
  ``dataplane.repository``).
- ``POST /v2/models/M[/versions/V]/infer``: JSON tensors and the binary tensor extension
  (``protocol.v2_codec``). ``V`` is a version number or a version label.
- System shared memory (Triton's extension, ``dataplane.shared_memory``):
  ``POST /v2/systemsharedmemory/region/R/register`` with ``{"key", "offset",
  "byte_size"}``, ``POST .../region/R/unregister`` and ``POST
  /v2/systemsharedmemory/unregister`` (every region), ``GET .../region/R/status`` and
  ``GET /v2/systemsharedmemory/status``: ``[{"name", "key", "offset", "byte_size"}]``.
  Inputs and outputs of an infer request name regions in their ``parameters``.
- CUDA shared memory (``/v2/cudasharedmemory/...``, the same paths): register is 503
  UNAVAILABLE saying why; unregister succeeds and status is ``[]`` (no region can exist).
- Any other ``/v2`` path, any method: 404 ``{"error": "Not Found"}``; a known path with
  another method: 405 ``{"error": "Method Not Allowed"}``, as Triton's HTTP server
  answers (tritonclient parses every error body as JSON).
Bodies are read whatever their ``Content-Type`` (or none). Each handler decodes, awaits
``dataplane.v2.V2Plane`` and encodes (``protocol.v2_json``), inside ``RestCalls``
(``frontends.rest_calls``): errors are ``{"error": "..."}`` with
``protocol.status.http_status`` of the code (400, 404, 503, ...), a bug is a JSON 500, and
each request is observed with API ``v2`` and the gRPC method's name as the entrypoint
(calls naming no model, such as the index and the server's health, are not counted).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from dataplane.v2 import V2Plane
from frontends.observer import RequestObserver
from frontends.rest_calls import RestCalls, Route, json_response
from protocol.status import invalid_argument
from protocol.v2_codec import (
    INFERENCE_HEADER,
    decode_rest_request,
    encode_error,
    encode_rest_response,
    parse_version,
    split_rest_body,
)
from protocol.v2_json import (
    config_json,
    index_json,
    live_json,
    metadata_json,
    model_ready_json,
    region_status_json,
    register_request,
    server_metadata_json,
    server_ready_json,
    stats_json,
)


async def _json_body(request: web.Request) -> dict[str, Any]:
    body = await request.read()
    if not body.strip():
        return {}
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise invalid_argument(f"the request body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise invalid_argument("the request body must be a JSON object")
    return document


class V2Rest:
    """The V2 REST handlers; ``routes()`` gives them to the REST server."""

    def __init__(
        self,
        plane: V2Plane,
        *,
        timeout_seconds: float | None = None,
        observer: RequestObserver | None = None,
    ) -> None:
        self._plane = plane
        self._timeout_seconds = timeout_seconds
        self._calls = RestCalls(observer, api="v2", encode_error=encode_error, count_unnamed=False)

    def routes(self) -> list[Route]:
        model = "/v2/models/{model}"
        versioned = model + "/versions/{version}"
        # The stats routes come first: "/v2/models/stats" would otherwise match a model named "stats".
        return [
            ("GET", "/v2/models/stats", self._stats),
            ("GET", model + "/stats", self._stats),
            ("GET", versioned + "/stats", self._stats),
            ("GET", model + "/config", self._config),
            ("GET", versioned + "/config", self._config),
            ("POST", "/v2/repository/index", self._index),
            ("POST", "/v2/repository/models/{model}/load", self._load),
            ("POST", "/v2/repository/models/{model}/unload", self._unload),
            ("GET", "/v2", self._server_metadata),
            ("GET", "/v2/health/live", self._live),
            ("GET", "/v2/health/ready", self._ready),
            ("GET", model, self._model_metadata),
            ("GET", versioned, self._model_metadata),
            ("GET", model + "/ready", self._model_ready),
            ("GET", versioned + "/ready", self._model_ready),
            ("POST", model + "/infer", self._infer),
            ("POST", versioned + "/infer", self._infer),
            ("GET", "/v2/systemsharedmemory/status", self._shm_status),
            ("GET", "/v2/systemsharedmemory/region/{region}/status", self._shm_status),
            ("POST", "/v2/systemsharedmemory/region/{region}/register", self._shm_register),
            ("POST", "/v2/systemsharedmemory/unregister", self._shm_unregister),
            ("POST", "/v2/systemsharedmemory/region/{region}/unregister", self._shm_unregister),
            ("GET", "/v2/cudasharedmemory/status", self._cuda_status),
            ("GET", "/v2/cudasharedmemory/region/{region}/status", self._cuda_status),
            ("POST", "/v2/cudasharedmemory/region/{region}/register", self._cuda_register),
            ("POST", "/v2/cudasharedmemory/unregister", self._cuda_unregister),
            ("POST", "/v2/cudasharedmemory/region/{region}/unregister", self._cuda_unregister),
            # Last: every other /v2 path and method (aiohttp's own answers are plain text).
            ("*", "/v2/{tail:.*}", self._no_route),
        ]

    async def _no_route(self, request: web.Request) -> web.Response:
        """404, or 405 when another method of this path has a route (Triton's words)."""
        for resource in request.app.router.resources():
            if resource.canonical.startswith("/v2/{tail"):
                continue
            match, allowed = await resource.resolve(request)
            if match is None and allowed:
                return json_response(encode_error("Method Not Allowed"), 405)
        return json_response(encode_error("Not Found"), 404)

    async def _server_metadata(self, request: web.Request) -> web.Response:
        async def work() -> web.Response:
            return json_response(server_metadata_json(self._plane.server_metadata()))

        return await self._calls.call(request, "ServerMetadata", "", work)

    async def _live(self, request: web.Request) -> web.Response:
        async def work() -> web.Response:
            live = self._plane.live()
            return json_response(live_json(live), 200 if live else 503)

        return await self._calls.call(request, "ServerLive", "", work)

    async def _ready(self, request: web.Request) -> web.Response:
        async def work() -> web.Response:
            readiness = self._plane.readiness()
            body = server_ready_json(readiness.ready, readiness.reasons)
            return json_response(body, 200 if readiness.ready else 503)

        return await self._calls.call(request, "ServerReady", "", work)

    async def _model_metadata(self, request: web.Request) -> web.Response:
        ref = parse_version(request.match_info["model"], request.match_info.get("version"))

        async def work() -> web.Response:
            return json_response(metadata_json(self._plane.model_metadata(ref)))

        return await self._calls.call(request, "ModelMetadata", ref.name, work)

    async def _model_ready(self, request: web.Request) -> web.Response:
        ref = parse_version(request.match_info["model"], request.match_info.get("version"))

        async def work() -> web.Response:
            ready = self._plane.model_ready(ref)
            return json_response(model_ready_json(ref.name, ready), 200 if ready else 503)

        return await self._calls.call(request, "ModelReady", ref.name, work)

    async def _config(self, request: web.Request) -> web.Response:
        ref = parse_version(request.match_info["model"], request.match_info.get("version"))

        async def work() -> web.Response:
            return json_response(config_json(self._plane.model_config(ref)))

        return await self._calls.call(request, "ModelConfig", ref.name, work)

    async def _stats(self, request: web.Request) -> web.Response:
        name = request.match_info.get("model", "")

        async def work() -> web.Response:
            return json_response(stats_json(self._plane.statistics(name)))

        return await self._calls.call(request, "ModelStatistics", name, work)

    async def _index(self, request: web.Request) -> web.Response:
        async def work() -> web.Response:
            document = await _json_body(request)
            ready = document.get("ready", False)
            if not isinstance(ready, bool):
                raise invalid_argument("'ready' must be true or false")
            return json_response(index_json(self._plane.repository_index(ready_only=ready)))

        return await self._calls.call(request, "RepositoryIndex", "", work)

    async def _load(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]

        async def work() -> web.Response:
            document = await _json_body(request)
            await self._plane.load_model(name, document.get("parameters"), self._timeout_seconds)
            return web.Response(status=200)

        return await self._calls.call(request, "RepositoryModelLoad", name, work)

    async def _unload(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]

        async def work() -> web.Response:
            await _json_body(request)  # an optional body, but it must be JSON when sent
            await self._plane.unload_model(name, self._timeout_seconds)
            return web.Response(status=200)

        return await self._calls.call(request, "RepositoryModelUnload", name, work)

    async def _infer(self, request: web.Request) -> web.Response:
        ref = parse_version(request.match_info["model"], request.match_info.get("version"))
        body = await request.read()
        header_length = request.headers.get(INFERENCE_HEADER)

        async def work() -> web.Response:
            document, binary = split_rest_body(body, header_length)
            parsed = decode_rest_request(document, binary)
            result = await self._plane.infer(ref, parsed, self._timeout_seconds)
            binary_of = {o.name: o.binary for o in parsed.outputs}
            outputs = [
                (
                    output.name,
                    output.array,
                    output.dtype,
                    parsed.binary_output
                    if binary_of.get(output.name) is None
                    else bool(binary_of[output.name]),
                )
                for output in result.outputs
            ]
            payload, json_length = encode_rest_response(
                model_name=result.model_name,
                model_version=result.model_version,
                request_id=parsed.id,
                outputs=outputs,
                in_shared_memory={o.name for o in result.outputs if o.in_shared_memory},
            )
            if json_length is None:
                return json_response(payload)
            return web.Response(
                body=payload,
                content_type="application/octet-stream",
                headers={INFERENCE_HEADER: str(json_length)},
            )

        return await self._calls.call(request, "ModelInfer", ref.name, work)

    # --- shared memory (Triton's system and CUDA shared memory extensions) ------------------

    async def _shm_status(self, request: web.Request) -> web.Response:
        region = request.match_info.get("region", "")

        async def work() -> web.Response:
            return json_response(region_status_json(self._plane.shared_memory.status(region)))

        return await self._calls.call(request, "SystemSharedMemoryStatus", "", work)

    async def _shm_register(self, request: web.Request) -> web.Response:
        region = request.match_info["region"]

        async def work() -> web.Response:
            key, offset, byte_size = register_request(await _json_body(request))
            self._plane.shared_memory.register(region, key, offset, byte_size)
            return web.Response(status=200)

        return await self._calls.call(request, "SystemSharedMemoryRegister", "", work)

    async def _shm_unregister(self, request: web.Request) -> web.Response:
        region = request.match_info.get("region", "")

        async def work() -> web.Response:
            if region:
                self._plane.shared_memory.unregister(region)
            else:
                self._plane.shared_memory.unregister_all()
            return web.Response(status=200)

        return await self._calls.call(request, "SystemSharedMemoryUnregister", "", work)

    async def _cuda_status(self, request: web.Request) -> web.Response:
        async def work() -> web.Response:
            return json_response(region_status_json(()))  # never any CUDA region

        return await self._calls.call(request, "CudaSharedMemoryStatus", "", work)

    async def _cuda_register(self, request: web.Request) -> web.Response:
        region = request.match_info["region"]

        async def work() -> web.Response:
            self._plane.shared_memory.register_cuda(region)  # UNAVAILABLE
            return web.Response(status=200)

        return await self._calls.call(request, "CudaSharedMemoryRegister", "", work)

    async def _cuda_unregister(self, request: web.Request) -> web.Response:
        async def work() -> web.Response:
            return web.Response(status=200)  # nothing registered, nothing to forget

        return await self._calls.call(request, "CudaSharedMemoryUnregister", "", work)
