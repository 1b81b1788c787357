"""Every numpy scalar type encodes in a ``:predict`` answer, row and columnar formats.

Issue 18 item 7 (KServe's V1 client on an ONNX model with an int64 output): the row
format split outputs into numpy scalars, and orjson refuses ``numpy.longlong``, the type
onnxruntime, sklearn and XGBoost return for int64.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from protocol.rest_codec import FloatFormat, encode_predict_response

# Every numpy scalar type a model's output can hold, by numpy's own names (C names too,
# since ``longlong`` and ``int64`` are distinct types of the same size).
SCALAR_TYPES: list[type[Any]] = [
    np.bool_,
    np.byte,
    np.ubyte,
    np.short,
    np.ushort,
    np.intc,
    np.uintc,
    np.int_,
    np.uint,
    np.longlong,
    np.ulonglong,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.half,
    np.single,
    np.double,
    np.longdouble,
]
COMPLEX_TYPES: list[type[Any]] = [np.csingle, np.cdouble, np.clongdouble]


def _expected(values: np.ndarray) -> Any:
    if values.dtype.kind == "c":
        return np.stack((values.real, values.imag), axis=-1).astype(float).tolist()
    if values.dtype.kind == "f":
        return values.astype(float).tolist()
    return values.tolist()


@pytest.mark.parametrize("float_format", list(FloatFormat))
@pytest.mark.parametrize("scalar_type", SCALAR_TYPES + COMPLEX_TYPES, ids=lambda t: t.__name__)
def test_row_format_with_two_outputs(scalar_type: type[Any], float_format: FloatFormat) -> None:
    # Two outputs: each row is an object, so every output is split into numpy scalars.
    values = np.array([0, 1, 2]).astype(scalar_type)
    body = encode_predict_response(
        {"a": values, "b": values.reshape(3, 1)}, row_format=True, float_format=float_format
    )
    expected = _expected(values)
    assert json.loads(body) == {
        "predictions": [{"a": expected[row], "b": [expected[row]]} for row in range(3)]
    }


@pytest.mark.parametrize("float_format", list(FloatFormat))
@pytest.mark.parametrize("scalar_type", SCALAR_TYPES + COMPLEX_TYPES, ids=lambda t: t.__name__)
def test_row_format_with_one_output(scalar_type: type[Any], float_format: FloatFormat) -> None:
    values = np.array([[3], [1]]).astype(scalar_type)
    body = encode_predict_response({"a": values}, row_format=True, float_format=float_format)
    assert json.loads(body) == {"predictions": _expected(values)}


@pytest.mark.parametrize("float_format", list(FloatFormat))
@pytest.mark.parametrize("scalar_type", SCALAR_TYPES + COMPLEX_TYPES, ids=lambda t: t.__name__)
def test_columnar_format_arrays_and_scalars(
    scalar_type: type[Any], float_format: FloatFormat
) -> None:
    values = np.array([1, 0, 2]).astype(scalar_type)
    scalar = np.array(1).astype(scalar_type)  # a 0-d output is written as one value
    body = encode_predict_response(
        {"a": values, "s": scalar}, row_format=False, float_format=float_format
    )
    assert json.loads(body) == {"outputs": {"a": _expected(values), "s": _expected(scalar)}}


def test_a_byte_swapped_longlong_reads_as_its_values() -> None:
    values = np.array([1, -2], dtype=np.dtype(np.longlong).newbyteorder(">"))
    body = encode_predict_response({"a": values, "b": values}, row_format=True)
    assert json.loads(body) == {"predictions": [{"a": 1, "b": 1}, {"a": -2, "b": -2}]}
