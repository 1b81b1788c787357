"""protocol.images: layouts, decoding, scaling, b64 replacement."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from protocol.dtypes import DType
from protocol.images import (
    PixelRange,
    decode_b64_images,
    has_b64,
    image_layout,
    images_to_tensor,
)
from protocol.rest_codec import parse_predict_body
from protocol.signatures import Signature, TensorSpec
from protocol.status import ServingError


def spec(
    shape: tuple[int, ...] | None, dtype: DType = DType.DT_FLOAT, alias: str = "x"
) -> TensorSpec:
    return TensorSpec(alias=alias, tensor_name="x:0", dtype=dtype, shape=shape)


def png(width: int, height: int, color: int | tuple[int, int, int] = 255, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((-1, 784), (28, 28, 1)),
        ((-1, 12), (2, 2, 3)),
        ((-1, 32, 32, 3), (32, 32, 3)),
        ((-1, -1, -1, 1), (None, None, 1)),
        ((8, 8), (8, 8, 1)),
    ],
)
def test_layouts(shape: tuple[int, ...], expected: tuple[int | None, int | None, int]) -> None:
    layout = image_layout(spec(shape))
    assert (layout.height, layout.width, layout.channels) == expected


@pytest.mark.parametrize(
    ("input_spec", "why"),
    [
        (spec((-1, 1)), "neither a square"),
        (spec((-1, 10)), "neither a square"),
        (spec(None), "rank is unknown"),
        (spec((-1, 4, 4, 2)), "channels"),
        (spec((-1, 4), DType.DT_BOOL), "DT_BOOL"),
    ],
)
def test_inputs_that_cannot_take_an_image_are_named(input_spec: TensorSpec, why: str) -> None:
    with pytest.raises(ServingError, match=f"input 'x'.*cannot take an image.*{why}"):
        image_layout(input_spec)


def test_resize_channels_and_pixel_ranges() -> None:
    rgb = spec((-1, 4, 4, 3))
    blob = png(8, 2, (255, 0, 0), "RGB")
    unit = images_to_tensor(rgb, [blob, blob], pixel_range=PixelRange.UNIT, max_pixels=100)
    assert unit.shape == (2, 4, 4, 3) and unit.dtype == np.float32
    assert unit[0, 0, 0].tolist() == [1.0, 0.0, 0.0]
    signed = images_to_tensor(rgb, [blob], pixel_range=PixelRange.SIGNED, max_pixels=100)
    assert signed[0, 0, 0].tolist() == [1.0, -1.0, -1.0]
    raw = images_to_tensor(
        spec((-1, 16), DType.DT_UINT8),
        [png(4, 4, 200)],
        pixel_range=PixelRange.UNIT,
        max_pixels=100,
    )
    assert raw.tolist() == [[200] * 16]


def test_string_inputs_take_the_bytes_and_bad_images_are_refused() -> None:
    blob = png(2, 2)
    strings = images_to_tensor(
        spec((-1,), DType.DT_STRING), [blob], pixel_range=PixelRange.UNIT, max_pixels=1
    )
    assert strings.tolist() == [blob]
    with pytest.raises(ServingError, match="not an image"):
        images_to_tensor(spec((-1, 4)), [b"text"], pixel_range=PixelRange.UNIT, max_pixels=100)
    with pytest.raises(ServingError, match=r"--max_image_pixels=10"):
        images_to_tensor(spec((-1, 4)), [png(4, 4)], pixel_range=PixelRange.UNIT, max_pixels=10)


def test_b64_values_for_numeric_inputs_become_pixels() -> None:
    sig = Signature(name="s", method_name="m", inputs={"x": spec((-1, 4))}, outputs={})
    text = base64.b64encode(png(2, 2, 255)).decode()
    for body, expected in [
        (f'{{"instances": [{{"b64": "{text}"}}]}}', [[1.0] * 4]),
        (f'{{"inputs": {{"b64": "{text}"}}}}', {None: [[1.0] * 4]}),
        (f'{{"inputs": {{"x": [{{"b64": "{text}"}}]}}}}', {"x": [[1.0] * 4]}),
    ]:
        decoded = decode_b64_images(
            parse_predict_body(body.encode()), sig, pixel_range=PixelRange.UNIT, max_pixels=100
        )
        assert decoded.inputs == expected
    with pytest.raises(ServingError, match=r"pixel_range"):
        PixelRange.parse("0_9")


def test_has_b64_finds_a_b64_object_and_passes_over_bodies_without_one() -> None:
    assert has_b64(b'{"instances": [{"b64": "aGk="}]}')
    assert not has_b64(b'{"instances": [[0.5, 1.0, 2e-3]]}')  # no "b" at all
    assert not has_b64(b'{"instances": [{"bytes": "b6"}]}')  # a "b", but no "b64" key
