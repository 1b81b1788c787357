"""V2 codec: every datatype through the binary and JSON forms, and the errors that name the problem."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from protocol.dtypes import NUMPY_DTYPES
from protocol.model_ref import ModelRef
from protocol.status import Code, ServingError
from protocol.v2_codec import (
    DATATYPES,
    array_from_binary,
    array_from_contents,
    array_from_json,
    array_to_binary,
    array_to_json,
    decode_rest_request,
    encode_rest_response,
    parse_version,
    split_rest_body,
)

NUMERIC = [name for name in DATATYPES if name != "BYTES"]


def sample(datatype: str) -> np.ndarray:
    dtype = NUMPY_DTYPES[DATATYPES[datatype]]
    if datatype == "BOOL":
        return np.array([[True, False, True], [False, False, True]])
    return np.array([[0, 1, 2], [3, 100, 7]]).astype(dtype)


@pytest.mark.parametrize("datatype", NUMERIC)
def test_binary_round_trip_keeps_dtype_and_bits(datatype: str) -> None:
    array = sample(datatype)
    decoded = array_from_binary("t", datatype, [2, 3], array_to_binary(array))
    assert decoded.dtype == array.dtype and decoded.tobytes() == array.tobytes()


@pytest.mark.parametrize("datatype", NUMERIC)
def test_json_round_trip(datatype: str) -> None:
    array = sample(datatype)
    data = json.loads(json.dumps(array_to_json("t", array)))
    decoded = array_from_json("t", datatype, [2, 3], data)
    assert decoded.dtype == array.dtype and decoded.tobytes() == array.tobytes()


def test_bytes_in_both_forms() -> None:
    array = np.array([b"a", b"", "\u00e9".encode()], dtype=object)
    assert array_to_binary(array) == b"\x01\0\0\0a\0\0\0\0\x02\0\0\0\xc3\xa9"
    assert array_from_binary("s", "BYTES", [3], array_to_binary(array)).tolist() == array.tolist()
    assert array_from_json("s", "BYTES", [3], ["a", "", "\u00e9"]).tolist() == array.tolist()
    assert array_to_json("s", array) == ["a", "", "\u00e9"]


def test_typed_contents_narrow_to_the_datatype() -> None:
    decoded = array_from_contents("c", "INT8", [2], [1, -2])
    assert decoded.dtype == np.int8 and decoded.tolist() == [1, -2]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: array_from_binary("x", "FP32", [4], b"\0" * 12),
            "12 bytes of binary data, but shape [4] of FP32 needs 16",
        ),
        (
            lambda: array_from_json("x", "FP32", [2, 2], [1, 2, 3]),
            "shape [2, 2] needs 4 elements, but data has 3",
        ),
        (
            lambda: array_from_json("x", "INT32", [2], [1.5, 2]),
            "data of INT32 holds values of another type",
        ),
        (
            lambda: array_from_json("x", "BOOL", [1], [1]),
            "data of BOOL holds values of another type",
        ),
        (lambda: array_from_json("x", "FP8", [1], [1]), "unsupported datatype 'FP8'"),
        (
            lambda: array_from_binary("s", "BYTES", [2], b"\x01\0\0\0a"),
            "BYTES data ends after 1 of 2 elements",
        ),
        (
            lambda: array_to_json("o", np.array([b"\xff"], dtype=object)),
            "request it with binary_data",
        ),
    ],
)
def test_errors_name_the_problem(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ServingError) as caught:
        call()
    assert caught.value.code is Code.INVALID_ARGUMENT and message in caught.value.message


def test_rest_request_with_binary_and_json_inputs() -> None:
    header = json.dumps(
        {
            "id": "r1",
            "parameters": {"binary_data_output": True},
            "inputs": [
                {
                    "name": "a",
                    "shape": [2],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 8},
                },
                {"name": "b", "shape": [1], "datatype": "INT64", "data": [3]},
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": False}}, {"name": "z"}],
        }
    ).encode()
    body = header + np.array([1, 2], "<f4").tobytes()
    request = decode_rest_request(*split_rest_body(body, str(len(header))))
    assert request.id == "r1" and request.binary_output
    assert [t.name for t in request.inputs] == ["a", "b"]
    first = request.inputs[0].array
    assert first is not None and first.tolist() == [1.0, 2.0]
    assert [(o.name, o.binary) for o in request.outputs] == [("y", False), ("z", None)]


def test_rest_body_sizes_must_add_up() -> None:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "a",
                    "shape": [1],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 4},
                }
            ]
        }
    ).encode()
    with pytest.raises(ServingError, match="take 4 bytes of binary data but the body has 8"):
        decode_rest_request(*split_rest_body(header + b"\0" * 8, str(len(header))))
    with pytest.raises(ServingError, match="Inference-Header-Content-Length is 999"):
        split_rest_body(header, "999")
    assert split_rest_body(b"", None)[0] == {}


def test_response_puts_binary_outputs_after_the_json() -> None:
    y = np.array([1.5], "<f4")
    body, length = encode_rest_response(
        model_name="m",
        model_version="1",
        request_id="i",
        outputs=[("y", y, 1, True), ("z", y, 1, False)],
    )
    assert length is not None
    document = json.loads(body[:length])
    assert document["id"] == "i"
    assert document["outputs"][0] == {
        "name": "y",
        "datatype": "FP32",
        "shape": [1],
        "parameters": {"binary_data_size": 4},
    }
    assert document["outputs"][1]["data"] == [1.5]
    assert body[length:] == y.tobytes()


def test_version_strings() -> None:
    assert parse_version("m", "") == ModelRef(name="m")
    assert parse_version("m", "12") == ModelRef(name="m", version=12)
    assert parse_version("m", "stable") == ModelRef(name="m", label="stable")
