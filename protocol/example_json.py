"""TF Serving's REST ``:classify`` / ``:regress`` JSON <-> tf.Example and result protos.

Translation only, following ``json_tensor.cc`` (``FillClassifyRegressRequestFromJson``,
``MakeJsonFromClassificationResult``, ``MakeJsonFromRegressionResult``).

Request body::

    {"signature_name": "...", "context": {feature: value, ...}, "examples": [{...}, ...]}

* The body must be a JSON object; ``signature_name`` is optional (empty: the server's
  default) and must be a string; ``examples`` must be a non-empty list of objects. A
  ``context`` object (even ``{}``) makes the input an ``example_list_with_context``.
* A feature value is one element or a list of elements, all of one kind: a JSON string
  (UTF-8 bytes) or ``{"b64": "..."}`` -> ``bytes_list``; a number written with a fraction
  or exponent -> ``float_list`` (an error past float32's range); an integer or
  ``true``/``false`` -> ``int64_list`` (integers beyond int64 are an error, and beyond
  uint64 become floats, as rapidjson reads them). ``null``, nested lists and other objects
  are errors; so is mixing kinds in one feature. ``[]`` is a feature with no kind set.
* Every mistake is INVALID_ARGUMENT worded like TF Serving's message. The NaN/Infinity
  tokens TF Serving reads are accepted (the standard library decodes what orjson refuses).

Responses: ``{"results": [[[label, score], ...], ...]}`` for classify (labels are ""
when the model has no ``classes`` output) and ``{"results": [value, ...]}`` for regress.
Scores and values are float32 and are written in their shortest float32 form, as TF
Serving does (0.2, not 0.20000000298023224); NaN and infinities as TF Serving's tokens.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
from typing import Any, Final

import numpy as np
import orjson
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

from protocol.rest_codec import json_type, load_json_body
from protocol.status import invalid_argument

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1
_FLOAT32_MAX: Final = float(np.finfo(np.float32).max)
_KIND_NAMES: Final = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RestExampleRequest:
    """A decoded ``:classify``/``:regress`` body."""

    signature_name: str
    input: input_pb2.Input


# --- request ---------------------------------------------------------------------------


def parse_example_body(body: bytes, method: str) -> RestExampleRequest:
    """Decode a ``:classify`` or ``:regress`` body (contract in the module doc)."""
    document = load_json_body(
        body, read_keys=("examples", "context", "signature_name"), string_keys=("signature_name",)
    )
    if not isinstance(document, dict):
        raise invalid_argument(f"JSON Value: {_short(document)} Is not object")
    signature_name = document.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise invalid_argument(
            f"JSON Value: {_short(document)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    input_proto = input_pb2.Input()
    has_context = "context" in document
    if has_context:
        fill_example(document["context"], input_proto.example_list_with_context.context)
    if "examples" not in document:
        raise invalid_argument(
            f"JSON Value: {_short(document)} When method is {method}, key 'examples' is "
            "expected and was not found"
        )
    examples = document["examples"]
    if not isinstance(examples, list):
        raise invalid_argument(
            f"JSON Value: {_short(document)} Expecting 'examples' value to be an list/array"
        )
    if not examples:
        raise invalid_argument(f"JSON Value: {_short(document)} 'examples' value is an empty array")
    target = (
        input_proto.example_list_with_context.examples
        if has_context
        else input_proto.example_list.examples
    )
    for value in examples:
        fill_example(value, target.add())
    return RestExampleRequest(signature_name=signature_name, input=input_proto)


def fill_example(value: Any, example: example_pb2.Example) -> None:
    """Fill ``example`` from one JSON object of features (``MakeExampleFromJsonObject``)."""
    if not isinstance(value, dict):
        raise invalid_argument(f"Example must be JSON object but got JSON {json_type(value)}")
    features = example.features.feature
    for name, content in value.items():
        _fill_feature(name, content if isinstance(content, list) else [content], features[name])


def _fill_feature(name: str, elements: list[Any], feature: feature_pb2.Feature) -> None:
    kind: str | None = None
    values: list[Any] = []
    for element in elements:
        element_kind, converted = _element(name, element)
        if kind is None:
            kind = element_kind
        elif element_kind != kind:
            raise invalid_argument(
                f"Unexpected element type in feature: {name} expecting type: {_KIND_NAMES[kind]}"
            )
        values.append(converted)
    if kind is not None:
        getattr(feature, kind).value.extend(values)


def _element(name: str, element: Any) -> tuple[str, Any]:
    """The feature kind and value of one JSON element (``AddValueToFeature``)."""
    if isinstance(element, bool):
        return "int64_list", int(element)
    if isinstance(element, int):
        if _INT64_MIN <= element <= _INT64_MAX:
            return "int64_list", element
        if 0 <= element <= _UINT64_MAX:
            raise invalid_argument(
                f"Feature: {name} has uint64 element. Only int64_t is supported."
            )
        element = float(element)  # rapidjson reads integers past 64 bits as doubles
    if isinstance(element, float):
        if math.isfinite(element) and abs(element) > _FLOAT32_MAX:
            raise invalid_argument(
                f"Cannot convert JSON value: {element!r} to float without loss of precision."
            )
        return "float_list", element
    if isinstance(element, str):
        return "bytes_list", element.encode()
    if isinstance(element, dict) and len(element) == 1 and isinstance(element.get("b64"), str):
        return "bytes_list", _b64decode(element["b64"])
    raise invalid_argument(
        f"Feature: {name} has element with unexpected JSON type: {json_type(element)}"
    )


def _b64decode(text: str) -> bytes:
    try:
        # absl::Base64Unescape, which TF Serving uses, accepts unpadded base64.
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as error:
        raise invalid_argument("Unable to base64 decode") from error


def _short(value: Any, limit: int = 120) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --- response --------------------------------------------------------------------------


def encode_classification_result(result: classification_pb2.ClassificationResult) -> bytes:
    """``{"results": [[[label, score], ...], ...]}``, one list per example."""
    rows = [
        [[entry.label, np.float32(entry.score)] for entry in classifications.classes]
        for classifications in result.classifications
    ]
    finite = all(math.isfinite(pair[1]) for row in rows for pair in row)
    return _dumps({"results": rows}, finite)


def encode_regression_result(result: regression_pb2.RegressionResult) -> bytes:
    """``{"results": [value, ...]}``, one value per example."""
    values = np.array([regression.value for regression in result.regressions], dtype=np.float32)
    return _dumps({"results": values}, bool(np.isfinite(values).all()))


def _dumps(document: dict[str, Any], finite: bool) -> bytes:
    if finite:
        # orjson writes numpy float32 in its shortest float32 form.
        return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    # orjson would write null for NaN/Infinity; the standard library writes the tokens.
    return json.dumps(document, default=_float32_to_python, separators=(",", ":")).encode()


def _float32_to_python(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_float32_to_python(item) for item in value]
    if isinstance(value, np.floating):
        # str() is the shortest float32 text; float() of it prints back the same digits.
        return float(str(value))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
