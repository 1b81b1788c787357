"""REST ``:classify``/``:regress`` JSON <-> tf.Example and results (TF Serving's json_tensor.cc)."""

from __future__ import annotations

import json

import pytest
from tensorflow_serving.apis import classification_pb2, regression_pb2

from protocol.example_json import (
    encode_classification_result,
    encode_regression_result,
    parse_example_body,
)
from protocol.status import Code, ServingError


def parse(document: object, method: str = "classify"):  # type: ignore[no-untyped-def]
    body = document.encode() if isinstance(document, str) else json.dumps(document).encode()
    return parse_example_body(body, method)


def test_examples_become_an_example_list_with_typed_features() -> None:
    parsed = parse(
        {
            "signature_name": "classify_x_to_y",
            "examples": [
                {"x": 2.0, "n": 3, "flag": True, "s": "héllo", "b": {"b64": "AAE="}},
                {"x": [1.0, 2.5], "n": [1, -2], "s": ["a", {"b64": "YQ"}], "empty": []},
            ],
        }
    )
    assert parsed.signature_name == "classify_x_to_y"
    assert parsed.input.WhichOneof("kind") == "example_list"
    first, second = parsed.input.example_list.examples
    features = first.features.feature
    assert list(features["x"].float_list.value) == [2.0]
    assert list(features["n"].int64_list.value) == [3]
    assert list(features["flag"].int64_list.value) == [1]
    assert list(features["s"].bytes_list.value) == ["héllo".encode()]
    assert list(features["b"].bytes_list.value) == [b"\x00\x01"]
    features = second.features.feature
    assert list(features["x"].float_list.value) == [1.0, 2.5]
    assert list(features["n"].int64_list.value) == [1, -2]
    assert list(features["s"].bytes_list.value) == [b"a", b"a"]  # unpadded base64 accepted
    assert "empty" in features and features["empty"].WhichOneof("kind") is None


def test_context_makes_an_example_list_with_context() -> None:
    parsed = parse({"context": {"q": "pizza"}, "examples": [{"x": 1.0}, {"x": 2.0}]}, "regress")
    assert parsed.signature_name == ""
    with_context = parsed.input.example_list_with_context
    assert list(with_context.context.features.feature["q"].bytes_list.value) == [b"pizza"]
    assert [list(e.features.feature["x"].float_list.value) for e in with_context.examples] == [
        [1.0],
        [2.0],
    ]


def test_an_empty_context_still_selects_the_context_form() -> None:
    assert (
        parse({"context": {}, "examples": [{}]}).input.WhichOneof("kind")
        == "example_list_with_context"
    )


def test_nan_and_infinity_tokens_are_floats() -> None:
    parsed = parse('{"examples": [{"x": [NaN, Infinity]}]}')
    values = list(parsed.input.example_list.examples[0].features.feature["x"].float_list.value)
    assert values[0] != values[0] and values[1] == float("inf")


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("", "The document is empty"),
        ("{nope", "JSON Parse error"),
        ("[1]", "Is not object"),
        ({"signature_name": 3, "examples": [{}]}, "'signature_name' key must be a string value"),
        ({"instances": [[1.0]]}, "key 'examples' is expected and was not found"),
        ({"examples": {"x": 1.0}}, "Expecting 'examples' value to be an list/array"),
        ({"examples": []}, "'examples' value is an empty array"),
        ({"examples": [[1.0]]}, "Example must be JSON object but got JSON Array"),
        ({"context": [1], "examples": [{}]}, "Example must be JSON object but got JSON Array"),
        (
            {"examples": [{"x": [1.0, 2]}]},
            "Unexpected element type in feature: x expecting type: float",
        ),
        (
            {"examples": [{"x": ["a", 2.0]}]},
            "Unexpected element type in feature: x expecting type: bytes",
        ),
        ({"examples": [{"x": None}]}, "Feature: x has element with unexpected JSON type: Null"),
        ({"examples": [{"x": [[1.0]]}]}, "Feature: x has element with unexpected JSON type: Array"),
        (
            {"examples": [{"x": {"a": 1}}]},
            "Feature: x has element with unexpected JSON type: Object",
        ),
        ({"examples": [{"x": 2**63}]}, "Feature: x has uint64 element. Only int64_t is supported."),
        ({"examples": [{"x": 1e39}]}, "to float without loss of precision"),
        ({"examples": [{"x": {"b64": "!!"}}]}, "Unable to base64 decode"),
    ],
)
def test_malformed_bodies_are_invalid_argument(document: object, fragment: str) -> None:
    with pytest.raises(ServingError) as raised:
        parse(document)
    assert raised.value.code is Code.INVALID_ARGUMENT
    assert fragment in raised.value.message


def test_the_missing_examples_message_names_the_method() -> None:
    with pytest.raises(ServingError, match="When method is regress"):
        parse({"context": {}}, "regress")


def test_classification_results_use_shortest_float32_text() -> None:
    result = classification_pb2.ClassificationResult()
    first = result.classifications.add()
    first.classes.add(label="cat", score=0.2)
    first.classes.add(label="dog", score=0.8)
    result.classifications.add().classes.add(score=3.0)
    assert (
        encode_classification_result(result)
        == b'{"results":[[["cat",0.2],["dog",0.8]],[["",3.0]]]}'
    )


def test_non_finite_results_use_tf_serving_tokens() -> None:
    result = classification_pb2.ClassificationResult()
    result.classifications.add().classes.add(label="a", score=float("nan"))
    result.classifications.add().classes.add(label="b", score=0.1)
    assert encode_classification_result(result) == b'{"results":[[["a",NaN]],[["b",0.1]]]}'
    regression = regression_pb2.RegressionResult()
    for value in (float("inf"), 0.1, -float("inf")):
        regression.regressions.add(value=value)
    assert encode_regression_result(regression) == b'{"results":[Infinity,0.1,-Infinity]}'


def test_regression_results() -> None:
    regression = regression_pb2.RegressionResult()
    for value in (3.0, 7.5):
        regression.regressions.add(value=value)
    assert encode_regression_result(regression) == b'{"results":[3.0,7.5]}'
