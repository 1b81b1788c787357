"""TF Serving's ``/v1`` REST API: the handlers, served by ``frontends.rest_server``.

URLs, bodies, status codes and error bodies follow TF Serving's REST API document:
- ``POST /v1/models/NAME[/versions/N|/labels/L]:(predict|classify|regress)``
- ``GET  /v1/models/NAME[/versions/N|/labels/L]``            model status
- ``GET  /v1/models/NAME[/versions/N|/labels/L]/metadata``   signature metadata
As in TF Serving's ``http_rest_api_util.cc`` and ``http_rest_api_handler.cc``: the
URL patterns are ``(?i)`` (``/V1/MODELS/...``), but the handler then compares the verb
and the subresource case-sensitively: ``:PREDICT`` is a "Malformed request", and
``/METADATA`` answers the model status, as TF Serving does; the raw, still percent-encoded path is matched first, then the model
name and label are percent-decoded (``a%2Fb%3Ac`` names the model ``a/b:c``); a version
that does not fit int64 is a 400 "Failed to convert version: N to numeric.". A ``/v1``
URL that matches neither pattern (a non-numeric version, say), or any method but GET and
POST, is a 400 "Malformed request". Our own conveniences (``GET .../gen_json``,
``.../gen_client``, multipart and b64-image ``:predict``) live in
``frontends.rest_extras``. ``GET`` status ignores a label and reports every version, as
TF Serving's GetModelStatus does. An unknown signature is worded as TF Serving's REST
API words it (``Reason.UNKNOWN_SIGNATURE``): 400 'Serving signature name: "X" not found
in signature def'.

Each handler decodes (``protocol.rest_codec``, ``protocol.example_json``), awaits the data
plane (``dataplane.dataplane``, ``dataplane.examples``) and encodes (status and metadata:
``protocol.tf_serving``), inside ``RestCalls`` (``frontends.rest_calls``): errors are
``{"error": "..."}`` with the status ``protocol.status.http_status`` maps, a bug is a
JSON 500, every request is observed under API ``rest``, and with ``cors`` every answer
carries the CORS headers (``frontends.rest_calls.CORS_HEADERS``, TF Serving's
``AddCORSHeaders``). An ``OPTIONS`` request under ``/v1`` is a CORS preflight, with or
without ``cors``, as in TF Serving's ``http_server.cc``: 200 with an empty body when its
``Origin`` header holds ``http://`` or ``https://``, else 400 "Origin header is missing
in CORS preflight" (TF Serving's FAILED_PRECONDITION). ``routes()`` must be added
after every other route: ``/v1/...`` is a catch-all.

Per request:
- a ``:predict`` body of ``_THREAD_DECODE_BYTES`` or more is decoded in worker threads
  (the JSON parse, then the conversion to arrays and the tensor-size check once the
  signature's dtypes are known), and answers of ``_THREAD_ENCODE_BYTES`` of output arrays
  or more are encoded in one, so one large request does not stall the other requests on
  the event loop (gRPC's too);
- the decoded input tensors of one request are capped at ``max_request_tensor_bytes``;
- after a ``:predict``, ``:classify`` or ``:regress`` body at or above the ``trimmer``'s
  threshold, freed memory is handed back to the OS (``frontends.memory_trim``).

MEASURED FAST PATH (``bench/profiles/rest.md``; keep each when changing this module):
``:predict`` is answered straight from the POST route (no dispatch coroutine); its URL is
parsed once per raw path and a signature's input dtypes once per signature
(``_PerRequestCaches``); the b64 image look-up runs only when ``has_b64`` finds one; the
decoded JSON is dropped as soon as it became arrays, before the model runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import urllib.parse
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from dataplane.dataplane import DataPlane
from dataplane.examples import ExampleAPIs
from frontends.memory_trim import MemoryTrimmer
from frontends.observer import RequestObserver
from frontends.rest_calls import CORS_HEADERS, RestCalls, Route, json_response
from frontends.rest_extras import RestExtras
from protocol.dtypes import dtype_to_numpy
from protocol.example_json import (
    encode_classification_result,
    encode_regression_result,
    parse_example_body,
)
from protocol.images import has_b64
from protocol.model_ref import ModelRef
from protocol.rest_codec import (
    FloatFormat,
    encode_error,
    encode_predict_response,
    parse_predict_body,
    request_to_tensors,
)
from protocol.signatures import DEFAULT_SIGNATURE, Signature
from protocol.status import Code, Reason, ServingError, invalid_argument
from protocol.tensors import check_request_bytes
from protocol.tf_serving import model_metadata_json, model_status_json

_THREAD_DECODE_BYTES = 1024**2
"""Bodies at least this large are parsed off the event loop (a thread hop costs ~50 us)."""
_THREAD_ENCODE_BYTES = 256 * 1024
"""Outputs at least this large (array bytes; JSON takes 3-5x) are encoded off the loop."""

# The same shapes as TF Serving's http_rest_api_handler.
_PREDICTION_URL = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS_URL = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)


_VERBS = frozenset({"predict", "classify", "regress"})
_ORIGIN = re.compile("https?://")
"""TF Serving's preflight test of the Origin header (``RE2::PartialMatch``)."""

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
    return ref, last or ""  # compared case-sensitively, as TF Serving's handler does


# MEASURED FAST PATH (bench/profiles/rest.md): parse a :predict URL and a signature's
# dtypes once, not per request.
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


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class V1Settings:
    """How the ``/v1`` handlers answer (each from a flag)."""

    timeout_seconds: float | None = None
    """``--rest_api_timeout_in_ms``: each request's deadline in the data plane; None, none."""
    cors: bool = False
    """``--rest_api_enable_cors_support``: CORS headers on every answer (preflights too)."""
    max_image_pixels: int = 16_777_216
    """``--max_image_pixels``: the largest image a ``:predict`` may decode."""
    float_format: FloatFormat = FloatFormat.TF_SERVING
    """``--rest_float_format``: how floats are printed in ``:predict`` answers."""
    max_request_tensor_bytes: int | None = None
    """``--max_request_tensor_bytes``: the cap on one request's decoded inputs."""


class V1Rest:
    """TF Serving's ``/v1`` handlers; ``routes()`` gives them to the REST server."""

    def __init__(
        self,
        plane: DataPlane,
        settings: V1Settings = V1Settings(),
        *,
        examples: ExampleAPIs | None = None,
        observer: RequestObserver | None = None,
        trimmer: MemoryTrimmer | None = None,
    ) -> None:
        self._plane = plane
        self._settings = settings
        self._timeout_seconds = settings.timeout_seconds
        self._float_format = settings.float_format
        self._max_request_tensor_bytes = settings.max_request_tensor_bytes
        self._examples = examples
        self._trimmer = trimmer
        self._calls = RestCalls(observer, api="rest", encode_error=encode_error, cors=settings.cors)
        self._caches = _PerRequestCaches()
        # gen_json, gen_client, image inputs: frontends.rest_extras.
        self._extras = RestExtras(plane, max_image_pixels=settings.max_image_pixels)

    def routes(self) -> list[Route]:
        """The ``/v1`` routes; the last ones match every ``/v1`` path, so add them last."""
        routes: list[Route] = [
            ("GET", r"/v1/models/{path:[^:]+}/{tool:gen_json|gen_client}", self._extras.generated)
        ]
        # TF Serving's handler takes "(?i)/v1/.*" for every method: others are "Malformed request".
        v1 = "/{v1:(?i:v1)}/{tail:.*}"
        routes.append(("OPTIONS", v1, self._preflight))
        routes.append(("POST", v1, self._post))  # straight there: no _dispatch
        routes.append(("*", v1, self._dispatch))
        return routes

    async def _preflight(self, request: web.Request) -> web.Response:
        """A CORS preflight (module doc): 200 for an http(s) ``Origin``, else 400."""
        if _ORIGIN.search(request.headers.get("Origin", "")) is None:
            missing = ServingError(
                Code.FAILED_PRECONDITION, "Origin header is missing in CORS preflight"
            )
            return await self._calls.fail(request, "preflight", "", missing)
        return web.Response(status=200, headers=CORS_HEADERS if self._settings.cors else None)

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
            return await self._calls.fail(request, "malformed", "", error)
        if parsed is None:
            return await self._malformed(request)
        ref, method = parsed
        if method not in _VERBS:  # ":PREDICT": TF Serving compares the verb exactly
            return await self._malformed(request)
        name = ref.name
        if method == "predict" and request.content_type == "multipart/form-data":
            return await self._calls.call(
                request, "Predict", name, lambda: self._predict_images(ref, request)
            )
        body = await request.read()
        try:
            if method == "predict":  # here, not in _post_body: one coroutine fewer per call
                return await self._calls.call(
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
            unimplemented = ServingError(
                Code.UNIMPLEMENTED, f":{method} is not available on this server"
            )
            return await self._calls.fail(request, method, name, unimplemented)
        entrypoint = "Classify" if method == "classify" else "Regress"
        return await self._calls.call(
            request,
            entrypoint,
            name,
            lambda: self._classify_or_regress(examples, method, ref, body),
        )

    async def _predict(self, ref: ModelRef, body: bytes, request: web.Request) -> web.Response:
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
            if error.reason is Reason.UNKNOWN_SIGNATURE:
                # REST looks the signature up while parsing (GetInfoMap), with its own words.
                raise invalid_argument(
                    f'Serving signature name: "{signature_name}" not found in signature def',
                    error.reason,
                ) from error
            raise
        if sum(array.nbytes for array in result.outputs.values()) >= _THREAD_ENCODE_BYTES:
            encoded = await asyncio.to_thread(
                encode_predict_response, result.outputs, row_format, self._float_format
            )
        else:
            encoded = encode_predict_response(result.outputs, row_format, self._float_format)
        return json_response(encoded)

    async def _predict_images(self, ref: ModelRef, request: web.Request) -> web.Response:
        """A multipart ``:predict``: image files become the inputs (``frontends.rest_extras``)."""
        fields, files = await self._extras.read_form(request)
        result = await self._plane.predict(
            ref,
            fields.get("signature_name") or DEFAULT_SIGNATURE,
            lambda signature: self._extras.form_tensors(signature, fields, files, request.query),
            (),
            self._timeout_seconds,
        )
        return json_response(encode_predict_response(result.outputs, True, self._float_format))

    async def _classify_or_regress(
        self, examples: ExampleAPIs, method: str, ref: ModelRef, body: bytes
    ) -> web.Response:
        """The body is parsed before the model is resolved, as in TF Serving."""
        parsed = parse_example_body(body, method)
        if method == "classify":
            classified = await examples.classify(
                ref, parsed.signature_name, parsed.input, self._timeout_seconds
            )
            return json_response(encode_classification_result(classified.result))
        regressed = await examples.regress(
            ref, parsed.signature_name, parsed.input, self._timeout_seconds
        )
        return json_response(encode_regression_result(regressed.result))

    async def _get(self, request: web.Request) -> web.Response:
        try:
            parsed = _parse(_STATUS_URL, request)
        except ServingError as error:
            return await self._calls.fail(request, "malformed", "", error)
        if parsed is None:
            return await self._malformed(request)
        ref, subresource = parsed
        if not ref.name:  # GET /v1/models: TF Serving lists no models
            missing = invalid_argument("Missing model name in request.")
            return await self._calls.fail(request, "GetModelStatus", "", missing)
        if subresource == "metadata":  # "/METADATA" answers the status, as in TF Serving
            return await self._calls.call(
                request, "GetModelMetadata", ref.name, lambda: self._metadata(ref)
            )
        return await self._calls.call(
            request, "GetModelStatus", ref.name, lambda: self._status(ref)
        )

    async def _status(self, ref: ModelRef) -> web.Response:
        # GetModelStatus ignores a label: every version is reported.
        statuses = self._plane.model_status(dataclasses.replace(ref, label=None))
        return json_response(model_status_json(statuses))

    async def _metadata(self, ref: ModelRef) -> web.Response:
        metadata = self._plane.model_metadata(ref)
        return json_response(
            model_metadata_json(metadata.model_name, metadata.version, metadata.signatures)
        )

    async def _malformed(self, request: web.Request) -> web.Response:
        malformed = invalid_argument(f"Malformed request: {request.method} {request.path_qs}")
        return await self._calls.fail(request, "malformed", "", malformed)
