"""Images as model inputs: decode, resize and lay out pixels to fit a ``TensorSpec``.

Translation only (Pillow and numpy); the REST frontend calls it for multipart uploads and
for ``{"b64": ...}`` values that a JSON ``:predict`` body feeds to a numeric input.

Which inputs take an image, by the shape of one element (the shape without its batch
dimension, when dimension 0 is -1):
- ``[H, W, C]`` with C in 1, 3, 4 (-1 is taken as 3): grayscale, RGB or RGBA;
- ``[H, W]``: grayscale;
- ``[D]`` (flat): grayscale when D is a square (the digits model's ``[None, 784]`` is
  28x28), else RGB when D/3 is a square, of a side of at least 2; the image is flattened row-major, channels last.
A -1 height or width keeps the image's own size on that axis. Any other shape, a
non-numeric input or an unknown rank cannot take an image: INVALID_ARGUMENT naming the
input and its shape. String inputs (models that decode their own images) take the raw
file bytes, unchanged.

Pixels: integer inputs get the 0..255 values; float inputs get them scaled by
``PixelRange`` (default ``[0, 1]``; ``0_255`` keeps them; ``-1_1`` maps to [-1, 1]).
Resizing is bilinear, to exactly H x W (the aspect ratio is not kept).

Failures are INVALID_ARGUMENT naming the problem: bytes Pillow cannot read as an image,
an image with more than ``max_pixels`` pixels (checked from the header, before the pixels
are decoded), a truncated file.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from protocol.dtypes import DType, dtype_name, dtype_to_numpy
from protocol.rest_codec import RestPredictRequest
from protocol.signatures import Signature, TensorSpec
from protocol.status import ServingError, invalid_argument

_NUMERIC_KINDS = "fiu"


class PixelRange(enum.Enum):
    """How 0..255 pixel values are scaled for a float input."""

    UNIT = "0_1"
    BYTE = "0_255"
    SIGNED = "-1_1"

    @classmethod
    def parse(cls, text: str | None) -> PixelRange:
        if not text:
            return cls.UNIT
        for member in cls:
            if member.value == text:
                return member
        choices = ", ".join(member.value for member in cls)
        raise invalid_argument(f"pixel_range must be one of {choices}, got {text!r}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ImageLayout:
    """Where an image goes in one element of an input."""

    height: int | None
    width: int | None
    channels: int
    element_shape: tuple[int, ...]
    """The shape of one decoded image as the input holds it: [H, W, C], [H, W] or [D]."""


def is_string_input(spec: TensorSpec) -> bool:
    return spec.dtype == DType.DT_STRING


def batched(spec: TensorSpec) -> bool:
    return spec.shape is not None and len(spec.shape) > 0 and spec.shape[0] < 0


def image_layout(spec: TensorSpec, element_dims: Sequence[int] | None = None) -> ImageLayout:
    """How an image fills one element of ``spec`` (see the module doc), or INVALID_ARGUMENT."""
    if spec.shape is None:
        raise _cannot(spec, "its rank is unknown")
    if spec.dtype == DType.DT_STRING or dtype_to_numpy(spec.dtype).kind not in _NUMERIC_KINDS:
        raise _cannot(spec, f"its dtype is {dtype_name(spec.dtype)}")
    dims = (
        tuple(element_dims)
        if element_dims is not None
        else (spec.shape[1:] if batched(spec) else spec.shape)
    )
    if len(dims) == 3:
        height, width, channels = dims
        channels = 3 if channels < 0 else channels
        if channels not in (1, 3, 4):
            raise _cannot(spec, f"its last dimension ({channels}) is not 1, 3 or 4 channels")
        return ImageLayout(
            height=_known(height), width=_known(width), channels=channels, element_shape=dims
        )
    if len(dims) == 2 and all(dim < 0 or dim >= 2 for dim in dims):
        return ImageLayout(
            height=_known(dims[0]), width=_known(dims[1]), channels=1, element_shape=dims
        )
    if len(dims) == 1 and dims[0] > 0:
        size = dims[0]
        for channels in (1, 3):
            side = math.isqrt(size // channels)
            if size % channels == 0 and side >= 2 and side * side * channels == size:
                return ImageLayout(height=side, width=side, channels=channels, element_shape=dims)
        raise _cannot(spec, f"{size} values are neither a square grayscale nor a square RGB image")
    raise _cannot(spec, "an image needs [H, W, C], [H, W] or a flat [H*W*C] per element")


def _known(dim: int) -> int | None:
    return dim if dim > 0 else None


def _cannot(spec: TensorSpec, why: str) -> Exception:
    shape = "unknown" if spec.shape is None else list(spec.shape)
    return invalid_argument(f"input '{spec.alias}' (shape {shape}) cannot take an image: {why}")


def decode_image(
    data: bytes,
    layout: ImageLayout,
    *,
    dtype: np.dtype[Any],
    pixel_range: PixelRange,
    max_pixels: int,
    what: str,
) -> np.ndarray:
    """One image as ``layout.element_shape`` (-1 height/width: the image's own) in ``dtype``."""
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise invalid_argument(
            f"{what} is not an image Pillow can read ({len(data)} bytes)"
        ) from None
    except (Image.DecompressionBombError, OSError, ValueError) as error:
        raise invalid_argument(
            f"{what} is not an image Pillow can read ({len(data)} bytes): {error}"
        ) from None
    width, height = image.size
    if width * height > max_pixels:
        raise invalid_argument(
            f"{what} is {width}x{height} = {width * height} pixels, more than --max_image_pixels={max_pixels}"
        )
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[layout.channels]
    try:
        image = image.convert(mode)
        target = (layout.width or width, layout.height or height)
        if image.size != target:
            image = image.resize(target, Image.Resampling.BILINEAR)
        pixels = np.asarray(image)
    except (OSError, ValueError) as error:
        raise invalid_argument(f"{what} could not be decoded: {error}") from None
    shape = tuple(d if d > 0 else pixels.shape[axis] for axis, d in enumerate(layout.element_shape))
    if len(layout.element_shape) == 1:
        shape = (pixels.size,)
    values = pixels.reshape(shape)
    if dtype.kind == "f":
        scaled = values.astype(np.float32)
        if pixel_range is PixelRange.UNIT:
            scaled /= 255.0
        elif pixel_range is PixelRange.SIGNED:
            scaled = scaled / 127.5 - 1.0
        return scaled.astype(dtype)
    return values.astype(dtype)


def images_to_tensor(
    spec: TensorSpec, blobs: Sequence[bytes], *, pixel_range: PixelRange, max_pixels: int
) -> np.ndarray:
    """The tensor for ``spec`` from uploaded files: one row per file (string inputs: the bytes)."""
    if is_string_input(spec):
        if spec.shape is not None and len(spec.shape) == 0:
            if len(blobs) != 1:
                raise invalid_argument(
                    f"input '{spec.alias}' is a scalar string and takes one file, got {len(blobs)}"
                )
            return np.array(blobs[0], dtype=object)
        array = np.empty(len(blobs), dtype=object)
        array[:] = list(blobs)
        return array
    layout = image_layout(spec)
    dtype = dtype_to_numpy(spec.dtype)
    rows = [
        decode_image(
            blob,
            layout,
            dtype=dtype,
            pixel_range=pixel_range,
            max_pixels=max_pixels,
            what=f"file {index} for input '{spec.alias}'",
        )
        for index, blob in enumerate(blobs)
    ]
    if not batched(spec):
        if len(rows) != 1:
            raise invalid_argument(
                f"input '{spec.alias}' has no batch dimension and takes one image, got {len(rows)}"
            )
        return rows[0]
    try:
        return np.stack(rows)
    except ValueError:
        raise invalid_argument(
            f"the images for input '{spec.alias}' have different sizes and it has no fixed height and width"
        ) from None


def image_input_for_field(signature: Signature, field: str) -> TensorSpec:
    """The input a file field feeds: the input of that name, or for ``image``/``images`` the
    one input of the signature that takes an image."""
    if field in signature.inputs:
        return signature.inputs[field]
    if field not in ("image", "images"):
        raise invalid_argument(
            f"file field '{field}' is neither 'image', 'images' nor an input of signature "
            f"'{signature.name}' (inputs: {', '.join(sorted(signature.inputs))})"
        )
    if len(signature.inputs) == 1:
        return next(iter(signature.inputs.values()))
    candidates = [spec for spec in signature.inputs.values() if _takes_image(spec)]
    if len(candidates) != 1:
        raise invalid_argument(
            f"signature '{signature.name}' has inputs {', '.join(sorted(signature.inputs))}; "
            "name the file field after the input it feeds"
        )
    return candidates[0]


def _takes_image(spec: TensorSpec) -> bool:
    try:
        image_layout(spec)
    except ServingError:
        return False
    return True


# --- {"b64": ...} values in JSON bodies --------------------------------------------------


def has_b64(body: bytes) -> bool:
    """A cheap pre-check so bodies without any ``b64`` object skip the walk.

    A lone ``b`` is found with memchr, ~50x faster than the substring search over a body
    of numbers (~7 us for 10 KB), so only a body holding a ``b`` pays for that search.
    """
    return body.find(b"b") >= 0 and b'"b64"' in body


def decode_b64_images(
    request: RestPredictRequest, signature: Signature, *, pixel_range: PixelRange, max_pixels: int
) -> RestPredictRequest:
    """``request`` with each ``{"b64": ...}`` fed to a numeric input replaced by its image.

    A ``b64`` value at the depth of one element (an instance, or a row of a columnar value)
    becomes that element; as the whole columnar value of a batched input, a batch of one.
    String inputs are left alone (their ``b64`` values are bytes).
    """
    numeric = {alias: spec for alias, spec in signature.inputs.items() if not is_string_input(spec)}
    if not numeric:
        return request
    convert = _B64Converter(pixel_range=pixel_range, max_pixels=max_pixels)
    if request.row_format:
        assert isinstance(request.inputs, list)
        lone = next(iter(signature.inputs)) if len(signature.inputs) == 1 else None
        instances = []
        for instance in request.inputs:
            if lone is not None and lone in numeric and not _is_named(instance, lone):
                instances.append(convert.value(numeric[lone], instance, depth=1))
            elif isinstance(instance, dict) and not _is_b64(instance):
                instances.append(
                    {
                        name: convert.value(numeric[name], value, depth=1)
                        if name in numeric
                        else value
                        for name, value in instance.items()
                    }
                )
            else:
                instances.append(instance)
        return dataclasses.replace(request, inputs=instances)
    assert isinstance(request.inputs, dict)
    columns: dict[str | None, Any] = {}
    for name, value in request.inputs.items():
        key = (
            name
            if name is not None
            else (next(iter(signature.inputs)) if len(signature.inputs) == 1 else None)
        )
        spec = numeric.get(key) if key is not None else None
        columns[name] = convert.value(spec, value, depth=0) if spec is not None else value
    return dataclasses.replace(request, inputs=columns)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _is_named(instance: Any, name: str) -> bool:
    return isinstance(instance, dict) and not _is_b64(instance) and set(instance) == {name}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _B64Converter:
    pixel_range: PixelRange
    max_pixels: int

    def value(self, spec: TensorSpec, value: Any, *, depth: int) -> Any:
        if isinstance(value, dict) and set(value) == {spec.alias}:
            return {spec.alias: self.value(spec, value[spec.alias], depth=depth)}
        if _is_b64(value):
            return self._image(spec, value["b64"], depth)
        if isinstance(value, list) and _contains_b64(value):
            return [self.value(spec, item, depth=depth + 1) for item in value]
        return value

    def _image(self, spec: TensorSpec, text: Any, depth: int) -> Any:
        if spec.shape is None:
            raise _cannot(spec, "its rank is unknown")
        wrap = depth == 0 and batched(spec)
        dims = spec.shape[1:] if wrap else spec.shape[depth:]
        layout = image_layout(spec, dims)
        if not isinstance(text, str):
            raise invalid_argument(f"input '{spec.alias}': the 'b64' value must be a string")
        try:
            data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise invalid_argument(
                f"input '{spec.alias}': the 'b64' value is not valid base64"
            ) from None
        pixels = decode_image(
            data,
            layout,
            dtype=dtype_to_numpy(spec.dtype),
            pixel_range=self.pixel_range,
            max_pixels=self.max_pixels,
            what=f"the b64 image for input '{spec.alias}'",
        ).tolist()
        return [pixels] if wrap else pixels


def _contains_b64(value: list[Any]) -> bool:
    return any(
        _is_b64(item) or (isinstance(item, list) and _contains_b64(item)) for item in value[:1]
    )
