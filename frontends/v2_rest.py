"""V2 (Open Inference Protocol) REST routes, served on the REST port beside ``/v1``.

- ``GET /v2``: server metadata.
- ``GET /v2/health/live``, ``/v2/health/ready``: 200 ``{"live"|"ready": true}``, 503 with
  ``false`` (readiness as ``dataplane.readiness`` defines it; a not-ready answer adds
  ``"reasons"``: which model and why, or that the server drains).
- ``GET /v2/models/M[/versions/V]``: model metadata; ``.../ready``: 200 ``{"ready": true}``,
  503 ``{"ready": false}``, 404 for an unknown model.
- ``GET /v2/models/M[/versions/V]/config``: the model configuration (``v2_service``).
- ``GET /v2/models/stats``, ``/v2/models/M[/versions/V]/stats``: the statistics extension.
- ``POST /v2/repository/index`` (body ``{"ready": bool}`` or empty): the repository index.
- ``POST /v2/repository/models/M/load`` and ``.../unload`` (body optional): 200 with an
  empty body once done; 404 for a model outside the config; a failed load is 400 naming
  the version errors (``dataplane.repository``). Load parameters that would replace the
  model's configuration or files (``config``, ``file:...``) are 400: the model config
  file is the only source of models.
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

from frontends.observer import RequestObserver, rest_version
from frontends.v2_service import (
    EXTENSIONS,
    SERVER_NAME,
    SERVER_VERSION,
    ModelConfig,
    ModelMetadata,
    ModelTally,
    V2Service,
    check_load_parameters,
    config_type,
)
from protocol.status import Code, ServingError, http_status, invalid_argument
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


def config_document(config: ModelConfig) -> dict[str, Any]:
    def tensors(items: Any) -> list[dict[str, Any]]:
        return [
            {"name": t.name, "data_type": config_type(t.datatype), "dims": list(t.shape)}
            for t in items
        ]

    return {
        "name": config.name,
        "platform": config.platform,
        "max_batch_size": config.max_batch_size,
        "input": tensors(config.inputs),
        "output": tensors(config.outputs),
    }


def stats_document(tallies: dict[str, ModelTally]) -> dict[str, Any]:
    def duration(count: int, ns: int) -> dict[str, int]:
        return {"count": count, "ns": ns}

    zero = duration(0, 0)
    return {
        "model_stats": [
            {
                "name": name,
                "version": "",
                "last_inference": t.last_inference_ms,
                "inference_count": t.success_count,
                "execution_count": t.batch_count or t.success_count,
                "inference_stats": {
                    "success": duration(t.success_count, t.success_ns),
                    "fail": duration(t.fail_count, t.fail_ns),
                    "queue": zero,
                    "compute_input": zero,
                    "compute_infer": zero,
                    "compute_output": zero,
                },
                "batch_stats": [],
            }
            for name, t in tallies.items()
        ]
    }


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
        ]

    async def _answer(
        self,
        entrypoint: str,
        model_name: str,
        work: Callable[[], Awaitable[web.Response]],
        request: web.Request | None = None,
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
        if self._observer is not None and model_name:  # the index is no model's request
            self._observer.observe(
                model_name=model_name,
                api="v2",
                entrypoint=entrypoint,
                code=code,
                seconds=time.perf_counter() - started,
                details=None if request is None else _details(request),
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

        return await self._answer("ModelMetadata", ref.name, work, request)

    async def _model_ready(self, request: web.Request) -> web.Response:
        ref = parse_version(request.match_info["model"], request.match_info.get("version"))

        async def work() -> web.Response:
            ready = self._service.model_ready(ref)
            return _json({"name": ref.name, "ready": ready}, 200 if ready else 503)

        return await self._answer("ModelReady", ref.name, work, request)

    async def _config(self, request: web.Request) -> web.Response:
        ref = parse_version(request.match_info["model"], request.match_info.get("version"))

        async def work() -> web.Response:
            return _json(config_document(self._service.model_config(ref)))

        return await self._answer("ModelConfig", ref.name, work, request)

    async def _stats(self, request: web.Request) -> web.Response:
        name = request.match_info.get("model", "")

        async def work() -> web.Response:
            return _json(stats_document(self._service.statistics(name)))

        return await self._answer("ModelStatistics", name, work, request)

    async def _index(self, request: web.Request) -> web.Response:
        async def work() -> web.Response:
            document = await _json_body(request)
            ready = document.get("ready", False)
            if not isinstance(ready, bool):
                raise invalid_argument("'ready' must be true or false")
            entries = self._service.repository.index(ready_only=ready)
            return _json(
                [
                    {"name": e.name, "version": e.version, "state": e.state, "reason": e.reason}
                    for e in entries
                ]
            )

        return await self._answer("RepositoryIndex", "", work)

    async def _load(self, request: web.Request) -> web.Response:
        return await self._repository_change(request, load=True)

    async def _unload(self, request: web.Request) -> web.Response:
        return await self._repository_change(request, load=False)

    async def _repository_change(self, request: web.Request, *, load: bool) -> web.Response:
        name = request.match_info["model"]

        async def work() -> web.Response:
            document = await _json_body(request)
            repository = self._service.repository
            if load:
                check_load_parameters(document.get("parameters"))
                await repository.load(name, self._timeout_seconds)
            else:
                await repository.unload(name, self._timeout_seconds)
            return web.Response(status=200)

        entrypoint = "RepositoryModelLoad" if load else "RepositoryModelUnload"
        return await self._answer(entrypoint, name, work, request)

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

        return await self._answer("ModelInfer", ref.name, work, request)


def _details(request: web.Request) -> Callable[[], tuple[str, str]]:
    return lambda: (rest_version(request.path), request.remote or "")
