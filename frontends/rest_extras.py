"""REST conveniences beside TF Serving's API: generated requests and clients, image inputs.

- ``GET /v1/models/NAME[/versions/N|/labels/L]/gen_json[?signature_name=&batch=N&format=row|columnar]``
  answers a ``:predict`` body for that signature (``dataplane.samples``); posting it back
  as it is succeeds.
- ``GET .../gen_client?language=python|bash|golang|javascript[&signature_name=&batch=&format=]``
  answers a runnable client (``frontends.client_templates``) that posts that body to the
  address the request came in on (its ``Host`` header), with ``Content-Disposition``
  naming the file.
- ``POST ...:predict`` with ``multipart/form-data``: file fields named ``image``,
  ``images`` or after an input, plus optional form fields ``signature_name`` and
  ``pixel_range``; each file is one row (``protocol.images``). The answer is row format.
- JSON ``:predict`` bodies: ``{"b64": ...}`` values fed to a numeric input are decoded as
  images (``pixel_range`` from the query string).

Errors are ``{"error": ...}`` with the mapped status: an unknown model 404, an unknown
language, a bad parameter or an image that does not fit 400. These requests are not
counted in the request metrics, except the predictions, which go through the data plane
and the frontend's own accounting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import numpy as np
from aiohttp import BodyPartReader, web

from dataplane.dataplane import DataPlane
from dataplane.samples import sample_body
from frontends.client_templates import render_client
from protocol.images import (
    PixelRange,
    decode_b64_images,
    has_b64,
    image_input_for_field,
    images_to_tensor,
)
from protocol.model_ref import ModelRef
from protocol.rest_codec import RestPredictRequest, encode_error
from protocol.signatures import DEFAULT_SIGNATURE, Signature
from protocol.status import ServingError, http_status, invalid_argument

_MODEL_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?/(gen_json|gen_client)"
)
MAX_BATCH = 1024
_MAX_FORM_FIELD_BYTES = 4096


def ref_from_match(match: re.Match[str]) -> ModelRef:
    name, version, label = match.group(1), match.group(2), match.group(3)
    return ModelRef(name=name, version=int(version) if version else None, label=label or None)


def predict_path(ref: ModelRef) -> str:
    path = f"/v1/models/{quote(ref.name, safe='')}"
    if ref.version is not None:
        path += f"/versions/{ref.version}"
    elif ref.label:
        path += f"/labels/{quote(ref.label, safe='')}"
    return path + ":predict"


def _error(error: ServingError) -> web.Response:
    return web.Response(
        body=encode_error(error.message),
        status=http_status(error.code),
        content_type="application/json",
    )


class RestExtras:
    """Handlers for the routes above; ``frontends.rest_v1.V1Rest`` registers and calls them."""

    def __init__(self, plane: DataPlane, *, max_image_pixels: int) -> None:
        self._plane = plane
        self.max_image_pixels = max_image_pixels

    # --- gen_json / gen_client -----------------------------------------------------------

    async def generated(self, request: web.Request) -> web.Response:
        match = _MODEL_PATH.fullmatch(request.path)
        try:
            if match is None:
                raise invalid_argument(f"Malformed request: GET {request.path_qs}")
            ref = ref_from_match(match)
            body = self.sample(ref, request.query)
            if match.group(4) == "gen_json":
                return web.json_response(body)
            server = f"{request.scheme}://{request.host}"
            filename, text = render_client(
                language=request.query.get("language", "python"),
                server=server,
                path=predict_path(ref),
                body=json.dumps(body),
                model=ref.name,
                signature=body["signature_name"],
            )
        except ServingError as error:
            return _error(error)
        return web.Response(
            text=text,
            content_type="text/plain",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    def sample(self, ref: ModelRef, query: Mapping[str, str]) -> dict[str, Any]:
        """The gen_json body for ``ref`` and the query's signature_name, batch and format."""
        servable = self._plane.resolve(ref)
        signature = servable.signature(query.get("signature_name") or DEFAULT_SIGNATURE)
        try:
            batch = int(query.get("batch", "1"))
        except ValueError:
            raise invalid_argument(
                f"batch must be an integer, got {query.get('batch')!r}"
            ) from None
        if not 1 <= batch <= MAX_BATCH:
            raise invalid_argument(f"batch must be between 1 and {MAX_BATCH}, got {batch}")
        layout = query.get("format")
        if layout not in (None, "", "row", "columnar"):
            raise invalid_argument(f"format must be row or columnar, got {layout!r}")
        row_format = None if not layout else layout == "row"
        return sample_body(signature, batch=batch, row_format=row_format)

    # --- images ------------------------------------------------------------------------------

    def json_images(
        self,
        parsed: RestPredictRequest,
        body: bytes,
        signature: Signature,
        query: Mapping[str, str],
    ) -> RestPredictRequest:
        """``parsed`` with b64 images decoded for numeric inputs (no-op without any b64)."""
        if not has_b64(body):
            return parsed
        return decode_b64_images(
            parsed,
            signature,
            pixel_range=PixelRange.parse(query.get("pixel_range")),
            max_pixels=self.max_image_pixels,
        )

    async def read_form(
        self, request: web.Request
    ) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
        """The multipart body: its text fields and its files, in order."""
        fields: dict[str, str] = {}
        files: list[tuple[str, bytes]] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                raise invalid_argument(
                    "every multipart part needs a name (Content-Disposition: form-data; name=...)"
                )
            data = await part.read()
            if part.filename is not None:
                files.append((part.name, bytes(data)))
            elif len(data) > _MAX_FORM_FIELD_BYTES:
                raise invalid_argument(
                    f"form field '{part.name}' is longer than {_MAX_FORM_FIELD_BYTES} bytes"
                )
            else:
                fields[part.name] = bytes(data).decode(errors="replace")
        if not files:
            raise invalid_argument(
                "the multipart body holds no file; send images as file fields named 'image'"
            )
        return fields, files

    def form_tensors(
        self,
        signature: Signature,
        fields: Mapping[str, str],
        files: list[tuple[str, bytes]],
        query: Mapping[str, str],
    ) -> dict[str, np.ndarray]:
        """The signature's inputs from uploaded files, one row per file of each input."""
        pixel_range = PixelRange.parse(fields.get("pixel_range") or query.get("pixel_range"))
        by_input: dict[str, list[bytes]] = {}
        for field, data in files:
            spec = image_input_for_field(signature, field)
            by_input.setdefault(spec.alias, []).append(data)
        return {
            alias: images_to_tensor(
                signature.inputs[alias],
                blobs,
                pixel_range=pixel_range,
                max_pixels=self.max_image_pixels,
            )
            for alias, blobs in by_input.items()
        }
