"""Every numpy scalar type encodes in both REST formats (issue 18, item 7).

Source: KServe's Python SDK V1 ``:predict`` (``{"instances": [...]}``) on an ONNX model
with an int64 output answered 500 "TypeError: Type is not JSON serializable:
numpy.longlong": ONNX Runtime's int64 arrays are ``longlong``, a row of which is a
``numpy.longlong`` scalar that orjson refuses. The columnar form worked.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from protocol.rest_codec import FloatFormat, encode_predict_response

SCALAR_TYPES = [
    np.bool_, np.byte, np.ubyte, np.short, np.ushort, np.intc, np.uintc, np.int_, np.uint,
    np.longlong, np.ulonglong, np.half, np.single, np.double, np.longdouble,
    np.csingle, np.cdouble, np.clongdouble,
]  # fmt: skip
"""Every numeric numpy scalar type, by its C name (``longlong`` and ``int_`` are distinct
types of the same size on Linux; ``intc`` and ``int_`` on Windows)."""


@pytest.mark.parametrize("float_format", list(FloatFormat))
@pytest.mark.parametrize("row_format", [True, False])
@pytest.mark.parametrize("scalar_type", SCALAR_TYPES, ids=lambda t: t.__name__)
def test_every_numpy_scalar_type_encodes_in_both_formats(
    scalar_type: type, row_format: bool, float_format: FloatFormat
) -> None:
    outputs = {
        "y": np.array([1, 2], dtype=scalar_type),
        "z": np.array([0.5, 1.5], dtype=np.float32),
    }
    body = json.loads(encode_predict_response(outputs, row_format, float_format))
    first = body["predictions"][0]["y"] if row_format else body["outputs"]["y"][0]
    expected = [1.0, 0.0] if np.dtype(scalar_type).kind == "c" else 1
    assert first == expected


def test_a_longlong_row_from_onnx_runtime_is_a_json_integer() -> None:
    """The KServe case itself: two outputs, the row format, one of them ``longlong``."""
    outputs: dict[str, np.ndarray[Any, Any]] = {
        "label": np.array([3, 7], dtype=np.longlong),
        "score": np.array([0.25, 0.75], dtype=np.float32),
    }
    body = json.loads(encode_predict_response(outputs, row_format=True))
    assert body == {"predictions": [{"label": 3, "score": 0.25}, {"label": 7, "score": 0.75}]}
