"""protocol.rest_codec: TF Serving's REST :predict bodies in both formats, and their errors."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from protocol.rest_codec import (
    FloatFormat,
    RestPredictRequest,
    encode_error,
    encode_predict_response,
    parse_predict_body,
    request_to_tensors,
)
from protocol.status import Code, ServingError

F32 = np.dtype(np.float32)
STRING = np.dtype(object)


def tensors(body: Any, specs: dict[str, Any]) -> dict[str, np.ndarray[Any, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request_to_tensors(parse_predict_body(raw), {k: np.dtype(v) for k, v in specs.items()})


def invalid(call: Any, *fragments: str, code: Code = Code.INVALID_ARGUMENT) -> str:
    with pytest.raises(ServingError) as caught:
        call()
    assert caught.value.code is code
    for fragment in fragments:
        assert fragment in caught.value.message, caught.value.message
    return caught.value.message


def assert_identical(actual: np.ndarray[Any, Any], expected: np.ndarray[Any, Any]) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if expected.dtype == object:
        assert actual.tolist() == expected.tolist()
    else:
        assert actual.tobytes() == expected.tobytes()


def b64(data: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(data).decode()}


# -- parse_predict_body -----------------------------------------------------------------


def test_row_format_with_default_signature() -> None:
    request = parse_predict_body(b'{"instances": [1, 2]}')
    assert request == RestPredictRequest(
        signature_name="serving_default", row_format=True, inputs=[1, 2]
    )


def test_columnar_format_with_a_named_signature() -> None:
    request = parse_predict_body(b'{"signature_name": "classify", "inputs": {"x": [1]}}')
    assert request == RestPredictRequest(
        signature_name="classify", row_format=False, inputs={"x": [1]}
    )


@pytest.mark.parametrize("value", [[[1, 2]], 3.5, "text", {"b64": "aGk="}])
def test_columnar_unnamed_value_is_keyed_none(value: Any) -> None:
    request = parse_predict_body(json.dumps({"inputs": value}).encode())
    assert request.inputs == {None: value}


def test_nan_and_infinity_tokens_are_accepted() -> None:
    request = parse_predict_body(b'{"instances": [NaN, Infinity, -Infinity, 1.5]}')
    assert isinstance(request.inputs, list)
    assert math.isnan(request.inputs[0])
    assert request.inputs[1:] == [math.inf, -math.inf, 1.5]


def test_integers_beyond_64_bits_parse_then_fail_conversion() -> None:
    request = parse_predict_body(b'{"inputs": [18446744073709551616]}')
    assert request.inputs == {None: [2**64]}
    invalid(
        lambda: request_to_tensors(request, {"x": np.dtype(np.uint64)}),
        "'x'",
        "Type: Number is not of expected type: uint64",
    )


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (b"", ["JSON Parse error"]),
        (b'{"instances": [1,', ["JSON Parse error: Invalid value. at offset: 17"]),
        (b"{not json", ["JSON Parse error: Missing a name for object member. at offset: 1"]),
        (
            b'{"a": [1 2]}',
            ["JSON Parse error: Missing a comma or ']' after an array element. at offset: 9"],
        ),
        (
            b'{"a": 1 "b": 2}',
            ["JSON Parse error: Missing a comma or '}' after an object member. at offset: 8"],
        ),
        # json_tensor.cc parses with kParseStopWhenDoneFlag: what follows is not read.
        (b'{"a": 1} x', ["Missing 'inputs' or 'instances' key"]),
        (b"\xff\xfe{}", ["JSON Parse error"]),
        (b"[1, 2]", ["JSON Value: [1, 2] Is not object"]),
        (b'"text"', ['JSON Value: "text" Is not object']),
        (
            b'{"instances": [1], "inputs": [1]}',
            ["only one of 'inputs' or 'instances' keys to exist "],
        ),
        (b'{"signature_name": "x"}', ["Missing 'inputs' or 'instances' key"]),
        (
            b'{"instances": [1], "signature_name": 7}',
            ["not formatted correctly. 'signature_name' key must be a string value."],
        ),
        # json_tensor.cc FillSignature runs before any check of the keys.
        (b'{"signature_name": 100}', ["'signature_name' key must be a string value."]),
        (
            b'{"instances": [1], "inputs": [1], "signature_name": []}',
            ["'signature_name' key must be a string value."],
        ),
        # json_tensor.cc's words, its typo included.
        (b'{"instances": {"x": 1}}', ["Expecting 'instances' to be an list/array", '{"x": 1}']),
        (b'{"instances": []}', ["No values in 'instances' array"]),
    ],
)
def test_envelope_errors_are_invalid_argument(body: bytes, fragments: list[str]) -> None:
    invalid(lambda: parse_predict_body(body), *fragments)


def test_error_messages_quote_huge_bodies_briefly() -> None:
    body = json.dumps([[["x" * 100] * 100]] * 100).encode()
    assert len(body) > 1_000_000  # huge enough that quoting it whole would be absurd
    message = invalid(lambda: parse_predict_body(body), "Is not object")
    assert len(message) < 200
    assert message.endswith("... Is not object")
    short = invalid(lambda: parse_predict_body(b"[1, 2, 3, 4, 5]"), "Is not object")
    assert short == "JSON Value: [1, 2, 3, ...] Is not object"


# -- request_to_tensors: row format -----------------------------------------------------


def test_row_format_single_input_stacks_instances() -> None:
    result = tensors({"instances": [[1, 2], [3, 4.5]]}, {"x": F32})
    assert_identical(result["x"], np.array([[1, 2], [3, 4.5]], np.float32))


def test_row_format_single_input_may_name_it() -> None:
    result = tensors({"instances": [{"x": [1, 2]}, {"x": [3, 4]}]}, {"x": np.int32})
    assert_identical(result["x"], np.array([[1, 2], [3, 4]], np.int32))


def test_row_format_multiple_inputs_become_one_array_each() -> None:
    body = {
        "instances": [
            {"ids": [1, 2], "text": "a", "mask": True},
            {"ids": [3, 4], "text": b64(b"\x00\xff"), "mask": False},
        ]
    }
    result = tensors(body, {"ids": np.int64, "text": STRING, "mask": np.bool_})
    assert_identical(result["ids"], np.array([[1, 2], [3, 4]], np.int64))
    assert_identical(result["text"], np.array([b"a", b"\x00\xff"], dtype=object))
    assert_identical(result["mask"], np.array([True, False]))


def test_row_format_b64_instance_is_a_value_not_a_name() -> None:
    result = tensors({"instances": [b64(b"img1"), b64(b"img2")]}, {"image_bytes": STRING})
    assert_identical(result["image_bytes"], np.array([b"img1", b"img2"], dtype=object))


def test_row_format_missing_input_is_named() -> None:
    """json_tensor.cc FillTensorMapFromInstancesList: "... keys must be equal to: a,b"."""
    body = {"instances": [{"a": 1, "b": 2}, {"a": 3}]}
    invalid(
        lambda: tensors(body, {"a": F32, "b": F32}),
        "Failed to process element: 1 of 'instances' list. JSON object: {\"a\": 3} "
        "keys must be equal to: a,b",
    )


def test_row_format_unknown_input_is_named() -> None:
    body = {"instances": [{"a": 1, "b": 2, "typo": 3}]}
    invalid(
        lambda: tensors(body, {"a": F32, "b": F32}),
        "Failed to process element: 0 key: typo of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON object: does not have named input: typo",
    )


def test_row_format_values_need_names_with_several_inputs() -> None:
    invalid(
        lambda: tensors({"instances": [[1], [2]]}, {"a": F32, "b": F32}),
        "instances is a plain list, but expecting list of objects as multiple input tensors "
        "required as per tensorinfo_map",
    )


def test_row_format_instances_must_all_be_objects() -> None:
    body = {"instances": [{"a": 1, "b": 2}, [1, 2]]}
    invalid(
        lambda: tensors(body, {"a": F32, "b": F32}),
        "Expecting object but got list at item 1 of input list",
    )


def test_row_format_instances_with_different_shapes_are_ragged() -> None:
    """TF Serving's json_tensor_test.cc wording: "Expecting tensor size", "Expecting shape"."""
    body = {"instances": [{"a": [1, 2], "b": 1}, {"a": [1], "b": 2}]}
    invalid(
        lambda: tensors(body, {"a": F32, "b": F32}),
        "Failed to process element: 1 key: a of 'instances' list.",
        "Expecting tensor size: 2 but got: 1",
    )
    invalid(
        lambda: tensors({"instances": [[1, 2], [3, 4], [5, 6, 7]]}, {"x": F32}),
        "Failed to process element: 2 of 'instances' list.",
        "Expecting tensor size: 2 but got: 3",
    )
    invalid(
        lambda: tensors({"instances": [[1, 2], [3, 4], [[5, 6]]]}, {"x": F32}),
        "Expecting shape [2] but got: [1,2]",
    )
    invalid(
        lambda: tensors({"instances": [[1, 2], {"x": [3, 4]}]}, {"x": F32}),
        "Expecting value/list but got object at item 1 of input list",
    )


def test_row_format_needs_an_instance() -> None:
    invalid(lambda: tensors({"instances": []}, {"x": F32}), "No values in 'instances' array")


# -- request_to_tensors: columnar format ------------------------------------------------


def test_columnar_named_inputs_keep_their_own_shapes() -> None:
    result = tensors({"inputs": {"a": [[1, 2, 3]], "b": 7}}, {"a": F32, "b": np.int32})
    assert_identical(result["a"], np.array([[1, 2, 3]], np.float32))
    assert_identical(result["b"], np.array(7, np.int32))


def test_columnar_unnamed_value_goes_to_the_only_input() -> None:
    assert_identical(tensors({"inputs": [1, 2]}, {"x": np.uint8})["x"], np.array([1, 2], np.uint8))


def test_columnar_unnamed_value_needs_a_single_input() -> None:
    invalid(
        lambda: tensors({"inputs": [1, 2]}, {"a": F32, "b": F32}),
        "inputs is a plain value/list, but expecting an object as multiple input tensors "
        "required as per tensorinfo_map",
    )


def test_columnar_missing_input_is_named_and_an_extra_key_is_ignored() -> None:
    """json_tensor.cc FillTensorMapFromInputsMap looks up the signature's names only:
    "Missing named input: b in 'inputs' object."; a key it never looks up is not read."""
    specs = {"a": F32, "b": F32}
    invalid(
        lambda: tensors({"inputs": {"a": 1}}, specs), "Missing named input: b in 'inputs' object."
    )
    result = tensors({"inputs": {"a": 1, "b": 2, "c": "ignored"}}, specs)
    assert sorted(result) == ["a", "b"]


def test_empty_list_takes_the_input_dtype() -> None:
    assert_identical(tensors({"inputs": [[]]}, {"x": np.int16})["x"], np.zeros((1, 0), np.int16))


# -- values -----------------------------------------------------------------------------

NUMERIC_CASES = [
    (np.float16, [0.5, -2, 65504]),
    (ml_dtypes.bfloat16, [0.5, -2, 1e30]),
    (np.float32, [0.1, -2, 3.4e38]),
    (np.float64, [0.1, -2, 1.7e308]),
    (np.int8, [-128, 0, 127]),
    (np.int16, [-32768, 0, 32767]),
    (np.int32, [-(2**31), 0, 2**31 - 1]),
    (np.int64, [-(2**63), 0, 2**63 - 1]),
    (np.uint8, [0, 1, 255]),
    (np.uint16, [0, 1, 65535]),
    (np.uint32, [0, 1, 2**32 - 1]),
    (np.uint64, [2**63, 2**63 + 1, 2**64 - 1]),
    (np.bool_, [True, False, True]),
]


@pytest.mark.parametrize(("dtype", "values"), NUMERIC_CASES, ids=lambda v: str(v))
def test_every_numeric_dtype_converts_exactly(dtype: Any, values: list[Any]) -> None:
    result = tensors({"instances": [values, values]}, {"x": dtype})["x"]
    assert_identical(result, np.array([values, values], dtype=dtype))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_inputs_are_real_imag_pairs(dtype: Any) -> None:
    result = tensors({"inputs": [[[1, 2], [3.5, -4]]]}, {"z": dtype})["z"]
    assert_identical(result, np.array([[1 + 2j, 3.5 - 4j]], dtype=dtype))
    invalid(lambda: tensors({"inputs": [1, 2, 3]}, {"z": dtype}), "[real, imag]")


def test_nan_and_infinity_reach_float_inputs() -> None:
    result = tensors(b'{"inputs": [NaN, Infinity, -Infinity]}', {"x": np.float64})["x"]
    assert np.isnan(result[0])
    assert result[1:].tolist() == [np.inf, -np.inf]


@pytest.mark.parametrize(
    ("dtype", "value", "fragments"),
    [
        (np.int32, [1, 2.5], ["JSON Value: 2.5 Type: Number is not of expected type: int32"]),
        (np.int32, [1.0], ["JSON Value: 1.0 Type: Number is not of expected type: int32"]),
        (np.int8, [1, 128], ["128", "out of range", "int8"]),
        (np.uint32, [-1], ["-1", "out of range", "uint32"]),
        (np.float32, [True], ["JSON Value: true Type: True is not of expected type: float"]),
        (np.float32, ["1.5"], ['JSON Value: "1.5" Type: String is not of expected type: float']),
        (np.float32, [1, None], ["JSON Value: null Type: Null is not of expected type: float"]),
        (np.float32, [{"b64": "aGk="}], ["Type: Object is not of expected type: float"]),
        (np.bool_, [1, 0], ["JSON Value: 1 Type: Number is not of expected type: bool"]),
        (STRING, [1], ["JSON Value: 1 Type: Number is not of expected type: string"]),
        (STRING, [None], ["JSON Value: null Type: Null"]),
        (
            STRING,
            [["a"], ["b", "c"]],
            ["Encountered list at unexpected size: 2 at level: 1 expected size: 1"],
        ),
        (STRING, [["a"], "b"], ['JSON Value: "b" found at incorrect level: 2']),
        (STRING, [{"b64": "not base64!"}], ["Unable to base64 decode"]),
        (STRING, [{"b64": 5}], ['JSON Value: {"b64": 5} not formatted correctly for base64 data']),
        (STRING, [{"x": "aGk="}], ["not formatted correctly for base64 data"]),
        (
            np.float32,
            [[1, 2], [3]],
            ["Encountered list at unexpected size: 1 at level: 1 expected size: 2"],
        ),
        (
            np.float32,
            [[1, 2], 3],
            ["JSON Value: 3 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"],
        ),
        (np.float64, [[1], [[2]]], ["Encountered list at unexpected level: 2 expected < 2"]),
    ],
)
def test_bad_values_are_invalid_argument(dtype: Any, value: Any, fragments: list[str]) -> None:
    invalid(lambda: tensors({"inputs": {"x": value}}, {"x": dtype}), "input 'x'", *fragments)


def test_strings_are_utf8_and_b64_decodes_at_any_depth() -> None:
    body = {"inputs": [["é", b64(b"\x00\x01")], [{"b64": "aGk"}, ""]]}  # "aGk": unpadded "hi"
    result = tensors(body, {"s": STRING})["s"]
    assert_identical(result, np.array([["é".encode(), b"\x00\x01"], [b"hi", b""]], dtype=object))


def test_string_scalar_and_empty_list() -> None:
    assert_identical(tensors({"inputs": "x"}, {"s": STRING})["s"], np.array(b"x", dtype=object))
    assert tensors({"inputs": [[], []]}, {"s": STRING})["s"].shape == (2, 0)


# -- encode_predict_response ------------------------------------------------------------


def decode(body: bytes) -> Any:
    return json.loads(body)


def test_row_format_single_output_is_a_list_of_rows() -> None:
    body = encode_predict_response({"scores": np.array([[0.1, 0.9], [0.5, 0.5]], np.float32)}, True)
    assert body == b'{"predictions":[[0.1,0.9],[0.5,0.5]]}'


def test_row_format_several_outputs_are_one_object_per_row() -> None:
    outputs = {
        "classes": np.array([[1, 2], [3, 4]], np.int64),
        "label": np.array([b"cat", b"dog"], dtype=object),
        "score": np.array([0.5, 0.25], np.float32),
    }
    assert decode(encode_predict_response(outputs, True)) == {
        "predictions": [
            {"classes": [1, 2], "label": "cat", "score": 0.5},
            {"classes": [3, 4], "label": "dog", "score": 0.25},
        ]
    }


def test_row_format_needs_a_shared_batch_dimension() -> None:
    outputs = {"a": np.zeros((2, 3)), "b": np.zeros((3,))}
    invalid(
        lambda: encode_predict_response(outputs, True),
        "Tensor name: b has inconsistent batch size: 3 expecting: 2",
    )
    invalid(
        lambda: encode_predict_response({"a": np.array(1.0)}, True),
        "Tensor name: a has no shape information",
    )


def test_columnar_single_output_is_the_bare_value() -> None:
    assert (
        encode_predict_response({"y": np.array([[1, 2]], np.int8)}, False) == b'{"outputs":[[1,2]]}'
    )
    assert encode_predict_response({"y": np.array(2.5, np.float64)}, False) == b'{"outputs":2.5}'


def test_columnar_several_outputs_are_an_object() -> None:
    outputs = {"a": np.array([1.5]), "b": np.array([[True], [False]]), "c": np.array(3)}
    assert decode(encode_predict_response(outputs, False)) == {
        "outputs": {"a": [1.5], "b": [[True], [False]], "c": 3}
    }


@pytest.mark.parametrize("row_format", [True, False])
@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
def test_non_finite_values_are_written_as_tf_serving_tokens(row_format: bool, dtype: Any) -> None:
    outputs = {"y": np.array([np.nan, np.inf, -np.inf, 1.5], dtype=dtype)}
    body = encode_predict_response(outputs, row_format)
    assert b"NaN,Infinity,-Infinity,1.5" in body
    assert b"null" not in body


def test_non_finite_path_keeps_every_other_output() -> None:
    outputs: dict[str, np.ndarray[Any, Any]] = {
        "y": np.array([[np.nan], [1.0]], np.float32),
        "k": np.array([7, 8], np.uint64),
        "s_bytes": np.array([b"\x00", b"\x01"], dtype=object),
        "z": np.array([complex(1, math.inf), 2j], np.complex64),
    }
    predictions = decode(encode_predict_response(outputs, True))["predictions"]
    assert predictions[1] == {"y": [1.0], "k": 8, "s_bytes": {"b64": "AQ=="}, "z": [0.0, 2.0]}
    assert math.isnan(predictions[0]["y"][0])
    assert predictions[0]["z"] == [1.0, math.inf]


def test_precision_is_exact() -> None:
    values = np.array([0.1, 1 / 3, 3.4028235e38, 1e-45], np.float32)
    written = decode(encode_predict_response({"y": values}, False))["outputs"]
    assert_identical(np.array(written, np.float32), values)
    extremes = np.array([2**64 - 1, 0], np.uint64)
    assert decode(encode_predict_response({"k": extremes}, False))["outputs"] == [2**64 - 1, 0]


def test_half_and_bfloat16_are_written_as_float32() -> None:
    outputs = {"h": np.array([0.1], np.float16), "b": np.array([0.1], ml_dtypes.bfloat16)}
    shortest = encode_predict_response(outputs, False, FloatFormat.SHORTEST)
    assert shortest == b'{"outputs":{"h":[0.099975586],"b":[0.100097656]}}'  # float32 shortest
    body = encode_predict_response(outputs, False)
    assert body == b'{"outputs":{"h":[0.0999755859],"b":[0.100097656]}}'  # TF Serving's 9 digits
    written = decode(body)["outputs"]
    assert np.float32(written["h"][0]) == np.float32(outputs["h"][0])
    assert np.float32(written["b"][0]) == np.float32(outputs["b"][0])


def test_complex_outputs_are_real_imag_pairs() -> None:
    outputs = {"z": np.array([[1 + 2j, -3.5j]], np.complex128)}
    assert decode(encode_predict_response(outputs, False)) == {"outputs": [[[1, 2], [0, -3.5]]]}


def test_string_outputs_are_text_or_b64_by_name() -> None:
    data = np.array([["é".encode(), b"\xff"]], dtype=object)
    text = decode(encode_predict_response({"label": data}, False))["outputs"]
    assert text == [["é", "\ufffd"]]
    raw = decode(encode_predict_response({"image_bytes": data}, False))["outputs"]
    assert raw == [[{"b64": base64.b64encode("é".encode()).decode()}, {"b64": "/w=="}]]


def test_fixed_width_string_arrays_are_strings_too() -> None:
    outputs = {"s": np.array([b"ab", b"c"]), "u": np.array(["é"])}
    assert decode(encode_predict_response(outputs, False)) == {
        "outputs": {"s": ["ab", "c"], "u": ["é"]}
    }


def test_string_output_holding_a_number_is_an_internal_error() -> None:
    outputs = {"s": np.array([3], dtype=object)}
    invalid(lambda: encode_predict_response(outputs, False), "'s'", "int", code=Code.INTERNAL)


def test_non_contiguous_and_big_endian_outputs() -> None:
    base = np.arange(12, dtype=">i4").reshape(3, 4)
    body = encode_predict_response({"y": base[:, ::2].T}, False)
    assert decode(body) == {"outputs": [[0, 4, 8], [2, 6, 10]]}


def test_encode_error() -> None:
    assert decode(encode_error('bad "input"')) == {"error": 'bad "input"'}


def test_a_request_round_trips_through_both_directions() -> None:
    specs = {"x": F32, "name": STRING}
    body = {"instances": [{"x": [0.5, -1], "name": "a"}, {"x": [2, 3], "name": "b"}]}
    inputs = tensors(body, specs)
    response = decode(encode_predict_response(inputs, True))
    assert response == {"predictions": [{"x": [0.5, -1], "name": "a"}, {"x": [2, 3], "name": "b"}]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [({"b64": "é"}, "Unable to base64 decode"), ("[" * 70 + '"x"' + "]" * 70, "deeper than 64")],
)
def test_non_ascii_b64_and_deep_string_nesting_are_invalid_argument(
    value: object, expected: str
) -> None:
    if isinstance(value, str):
        value = json.loads(value)
    with pytest.raises(ServingError) as raised:
        tensors({"inputs": value}, {"s": STRING})
    assert raised.value.code is Code.INVALID_ARGUMENT and expected in raised.value.message


def test_float_text_is_tf_servings_or_the_shortest_on_request() -> None:
    """json_tensor.cc WriteDecimal (the default) and --rest_float_format=shortest."""
    values = np.array(
        [9e6, 717887168, 2.00000024, 2.5, 3.0, 1e-5, -0.0, np.nan, np.inf, -np.inf], np.float32
    )
    tf_text = b"[9e+06,717887168.0,2.00000024,2.5,3.0,1e-05,-0.0,NaN,Infinity,-Infinity]"
    assert encode_predict_response({"y": values}, False) == b'{"outputs":' + tf_text + b"}"
    as_double = encode_predict_response({"y": values.astype(np.float64)}, False)
    assert as_double.startswith(b'{"outputs":[9e+06,717887168.0,2.0000002384185791,')
    shortest = encode_predict_response({"y": values[:5]}, False, FloatFormat.SHORTEST)
    assert shortest == b'{"outputs":[9000000.0,717887170.0,2.0000002,2.5,3.0]}'
    nested = encode_predict_response({"y": np.arange(4, dtype=np.float32).reshape(2, 2)}, True)
    assert nested == b'{"predictions":[[0.0,1.0],[2.0,3.0]]}'
    assert (
        encode_predict_response({"y": np.zeros((2, 0), np.float32)}, False)
        == b'{"outputs":[[],[]]}'
    )


def _reference_float_texts(values: np.ndarray[Any, Any]) -> list[str]:
    """TF Serving's float text, the slow way the codec first wrote it: numpy reads each
    six-digit text back (a string array cast to the dtype), element by element."""
    exact = ".9g" if values.dtype == np.float32 else ".17g"
    texts = []
    for value in values.tolist():
        text = format(value, ".6g")
        back = np.array([text]).astype(values.dtype)[0]
        if math.isfinite(value) and back != np.array([value], values.dtype)[0]:
            text = format(value, exact)
        if "." not in text and "e" not in text:
            text = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(text, text + ".0")
        texts.append(text)
    return texts


def _awkward_floats(dtype: Any, count: int) -> np.ndarray[Any, Any]:
    """Random bit patterns (every exponent, subnormals, NaN, infinities), whole numbers,
    values near powers of two and ten, and the extremes of ``dtype``."""
    rng = np.random.default_rng(20261130)
    bits = np.uint32 if dtype == np.float32 else np.uint64
    info = np.finfo(dtype)
    patterns = rng.integers(0, np.iinfo(bits).max, count, dtype=bits, endpoint=True).view(dtype)
    whole = rng.integers(-(10**9), 10**9, count).astype(dtype)
    powers = np.concatenate([2.0 ** np.arange(-150, 130), 10.0 ** np.arange(-45, 39)])
    near = np.concatenate([np.nextafter(powers.astype(dtype), d) for d in (0, np.inf)])
    extremes = np.array(
        [info.max, -info.max, info.tiny, info.smallest_subnormal, -info.smallest_subnormal,
         0.0, -0.0, np.nan, np.inf, -np.inf, 0.1, 1 / 3, 2 / 3, 123456.5, 9999995.0],
        dtype,
    )  # fmt: skip
    with np.errstate(over="ignore"):
        scaled = (rng.standard_normal(count) * 10.0 ** rng.integers(-40, 39, count)).astype(dtype)
    return np.concatenate([patterns, whole, powers.astype(dtype), near, extremes, scaled])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tf_serving_float_text_matches_the_per_value_reference(dtype: Any) -> None:
    """The fast float text (one comparison of whole arrays) writes the same bytes as the
    per-value reading back, over values of every kind, in both layouts."""
    with np.errstate(over="ignore"):
        values = _awkward_floats(dtype, 20_000)
    expected = "[" + ",".join(_reference_float_texts(values)) + "]"
    columnar = encode_predict_response({"y": values}, False)
    assert columnar == b'{"outputs":' + expected.encode() + b"}"
    rows = values[: values.size // 10 * 10].reshape(-1, 10)
    texts = _reference_float_texts(rows.reshape(-1))
    by_row = ",".join("[" + ",".join(texts[i : i + 10]) + "]" for i in range(0, len(texts), 10))
    assert encode_predict_response({"y": rows}, True) == f'{{"predictions":[{by_row}]}}'.encode()
    for one in values[:200]:  # a scalar output, and every text alone (the fast path per value)
        alone = encode_predict_response({"y": np.array([one], dtype)}, False)
        assert (
            alone == f'{{"outputs":[{_reference_float_texts(np.array([one], dtype))[0]}]}}'.encode()
        )
