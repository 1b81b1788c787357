"""TF Serving's REST ``:predict`` JSON <-> numpy arrays, translation only.

Request bodies (https://www.tensorflow.org/tfx/serving/api_rest#predict_api)::

    {"signature_name": "...", "instances": [...]}          row format
    {"signature_name": "...", "inputs": value | {name: value, ...}}   columnar format

Contract
--------
* ``parse_predict_body`` decodes with orjson and, when orjson refuses the body, with the
  standard library, which also accepts the ``NaN``, ``Infinity`` and ``-Infinity`` tokens
  that TF Serving reads and writes (and integers beyond 64 bits). Bytes after the first
  complete JSON document are not read (rapidjson's ``kParseStopWhenDoneFlag``, as TF
  Serving parses). It checks only the envelope, in ``json_tensor.cc``'s order and words:
  an optional string ``signature_name`` (default ``serving_default``) first, then exactly
  one of ``inputs`` and ``instances`` (a non-empty list).
* ``request_to_tensors`` checks the names against the signature and converts each input in
  bulk with ``np.asarray``. Row format: with one signature input an instance is its value
  (or an object with that one key); otherwise every instance is an object holding every
  input, and instance ``i`` becomes row ``i`` of each input. Columnar format: ``inputs`` is
  the lone input's value, or an object mapping names to values; a key the signature does
  not name is ignored there, as TF Serving looks up only the signature's names. A
  ``{"b64": "..."}`` object is a value, never a name mapping (as in TF Serving).
* Value rules: numbers for numeric inputs (integers for integer inputs, in range),
  ``true``/``false`` for bool inputs, JSON strings (UTF-8 encoded) or ``{"b64": ...}`` for
  string inputs, at any nesting depth, with every list at one depth the same length.
  Complex inputs, which TF Serving's REST API does not define, are ``[real, imag]`` pairs
  in the innermost list, mirroring how complex outputs are written.
* ``encode_predict_response`` writes ``{"predictions": ...}`` (row format: one entry per
  row of dimension 0, a bare value for a single output, else an object per row) or
  ``{"outputs": ...}`` (columnar: the value for a single output, else an object by name).
  Numeric arrays go to orjson in their canonical dtype (any numpy scalar type: C
  ``long long`` as int64, long double as float64). Half and bfloat16 are written as float32;
  complex values as ``[real, imag]`` pairs. String outputs whose name ends in ``_bytes``
  are ``{"b64": ...}`` objects, others UTF-8 text (invalid bytes become U+FFFD: TF Serving
  would emit invalid JSON there). An output holding NaN or +-infinity takes a slower
  standard-library path that writes those tokens, as TF Serving does, where orjson would
  write ``null``.
* Every client mistake is a ``ServingError`` INVALID_ARGUMENT naming what is wrong, in TF
  Serving's words where it has them (``json_tensor.cc``), after "input 'x': " where a value
  of one input is at fault; so is a row-format response whose outputs do not share
  dimension 0 or include a scalar ("has inconsistent batch size", "has no shape
  information", as TF Serving refuses them). An output
  JSON cannot hold (a string tensor holding numbers, a datetime dtype) is a model bug:
  INTERNAL.
"""

from __future__ import annotations

import base64
import enum
import itertools
import json
from array import array as typed_array
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import ml_dtypes
import numpy as np
import orjson

from protocol.deep_json import split_deep_members
from protocol.status import internal, invalid_argument

DEFAULT_SIGNATURE: Final = "serving_default"
BYTES_OUTPUT_SUFFIX: Final = "_bytes"
"""String outputs with this name suffix are written base64-encoded (TF Serving's rule)."""

_BFLOAT16: Final = np.dtype(ml_dtypes.bfloat16)
_SNIPPET_CHARS: Final = 120
_SNIPPET_ITEMS: Final = 3
_SNIPPET_DEPTH: Final = 3

Array: TypeAlias = "np.ndarray[Any, Any]"


@dataclass(frozen=True, slots=True, kw_only=True)
class RestPredictRequest:
    """A ``:predict`` body whose envelope is valid; the values are not yet converted."""

    signature_name: str
    row_format: bool
    """True for ``instances`` (row format), False for ``inputs`` (columnar format)."""
    inputs: list[Any] | dict[str | None, Any]
    """Row format: the ``instances`` list as decoded. Columnar format: the named values;
    a lone unnamed value (a list, a scalar or a ``{"b64": ...}`` object) is keyed ``None``.
    ``request_to_tensors`` tells the two apart by this type."""


# -- request ----------------------------------------------------------------------------


def parse_predict_body(body: bytes) -> RestPredictRequest:
    """Decode and check the envelope of a ``:predict`` body (contract in the module doc)."""
    document = load_json_body(
        body, read_keys=("instances", "inputs", "signature_name"), string_keys=("signature_name",)
    )
    if not isinstance(document, dict):
        raise invalid_argument(f"JSON Value: {_snippet(document)} Is not object")
    # The order and words of json_tensor.cc: FillSignature first, then the two keys.
    signature_name = document.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(signature_name, str):
        raise invalid_argument(
            f"JSON Value: {_snippet(document)} not formatted correctly. 'signature_name' key "
            "must be a string value."
        )
    has_instances, has_inputs = "instances" in document, "inputs" in document
    if has_instances and has_inputs:
        raise invalid_argument(
            f"JSON Value: {_snippet(document)} Not formatted correctly expecting only one of "
            "'inputs' or 'instances' keys to exist "
        )
    if not (has_instances or has_inputs):
        raise invalid_argument("Missing 'inputs' or 'instances' key")
    if has_instances:
        instances = document["instances"]
        if not isinstance(instances, list):
            # TF Serving's own words, its grammar included ("an list/array").
            raise invalid_argument(
                f"JSON Value: {_snippet(document)} Expecting 'instances' to be an list/array"
            )
        if not instances:
            raise invalid_argument(
                f"JSON Value: {_snippet(document)} No values in 'instances' array"
            )
        return RestPredictRequest(signature_name=signature_name, row_format=True, inputs=instances)
    return RestPredictRequest(
        signature_name=signature_name, row_format=False, inputs=_columns(document["inputs"])
    )


MAX_JSON_DEPTH: Final = 1000
"""Members of the top-level object nested deeper than this are read without recursion
(``protocol.deep_json``); orjson itself stops at 1024 levels."""


def load_json_body(
    body: bytes,
    *,
    read_keys: Collection[str] | None = None,
    string_keys: Collection[str] = (),
) -> Any:
    """Parse a request body: orjson first, the stdlib for NaN/Infinity tokens or big ints.

    A body nested deeper than orjson's limit is validated without recursion, as TF
    Serving's rapidjson does: an over-deep member of the top-level object whose key is not
    in ``read_keys`` is dropped (None: every key is read); one in ``string_keys`` is
    "'key' key must be a string value"; any other is INVALID_ARGUMENT naming the key.
    """
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error):
            return _load_deep(body, read_keys, string_keys)
        # maybe NaN/Infinity tokens or a huge integer, which only the stdlib reads
    return _load_with_stdlib(body)


def _load_deep(body: bytes, read_keys: Collection[str] | None, string_keys: Collection[str]) -> Any:
    members = split_deep_members(body)
    if members is None:
        raise invalid_argument(
            f"JSON Parse error: the document is nested deeper than {MAX_JSON_DEPTH} levels"
        )
    kept: list[bytes] = []
    for member in members:
        if member.depth < MAX_JSON_DEPTH:
            kept.append(body[member.start : member.end])
        elif member.key in string_keys:
            raise invalid_argument(
                f"'{member.key}' key must be a string value, got a value nested "
                f"{member.depth} levels deep"
            )
        elif read_keys is None or member.key in read_keys:
            raise invalid_argument(
                f"JSON Parse error: the value of '{member.key}' is nested deeper than "
                f"{MAX_JSON_DEPTH} levels"
            )
    shallow = b"{" + b",".join(kept) + b"}"
    try:
        return orjson.loads(shallow)
    except orjson.JSONDecodeError:
        return _load_with_stdlib(shallow)


def _load_with_stdlib(body: bytes | str) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":
            # rapidjson's kParseStopWhenDoneFlag (json_tensor.cc ParseJson): what follows
            # the first complete document is not read.
            return _load_with_stdlib(error.doc[: error.pos])
        reason = _PARSE_ERRORS.get(error.msg, error.msg)
        if error.msg == "Expecting ',' delimiter":
            reason = _missing_comma(error.doc, error.pos)
        raise invalid_argument(f"JSON Parse error: {reason} at offset: {error.pos}") from error
    except (ValueError, RecursionError) as error:
        raise invalid_argument(f"JSON Parse error: {error}") from error


# The standard library's parse errors in rapidjson's words (``GetParseError_En``).
_PARSE_ERRORS: Final = {
    "Expecting value": "Invalid value.",
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Extra data": "The document root must not be followed by other values.",
    "Unterminated string starting at": "Missing a closing quotation mark in string.",
    "Invalid \\escape": "Invalid escape character in string.",
    "Invalid \\uXXXX escape": "Incorrect hex digit after \\u escape in string.",
}


def _missing_comma(document: str, position: int) -> str:
    """Which bracket the missing comma belongs to: the innermost one open at ``position``."""
    open_brackets: list[str] = []
    in_string = escaped = False
    for char in document[:position]:
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            open_brackets.append(char)
        elif char in "]}" and open_brackets:
            open_brackets.pop()
    if open_brackets and open_brackets[-1] == "{":
        return "Missing a comma or '}' after an object member."
    return "Missing a comma or ']' after an array element."


def _columns(inputs: Any) -> dict[str | None, Any]:
    if _is_name_mapping(inputs):
        return dict(inputs)
    return {None: inputs}


def _is_name_mapping(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def request_to_tensors(
    request: RestPredictRequest, input_specs: Mapping[str, np.dtype[Any]]
) -> dict[str, Array]:
    """One array per signature input, in the dtype ``input_specs`` gives (object: strings)."""
    names = list(input_specs)
    if isinstance(request.inputs, list):
        values = _instance_columns(request.inputs, names)
    else:
        values = _named_columns(request.inputs, names)
    # How the values were laid out, for TF Serving's wording of errors.
    rows = "columnar"
    if isinstance(request.inputs, list):
        rows = "named" if request.inputs and _is_name_mapping(request.inputs[0]) else "plain"
    return {
        name: _to_array(name, value, np.dtype(input_specs[name]), rows)
        for name, value in values.items()
    }


def _instance_columns(instances: list[Any], names: list[str]) -> dict[str, Any]:
    if not instances:  # parse_predict_body refuses this; kept for direct callers
        raise invalid_argument("No values in 'instances' array")
    if _is_name_mapping(instances[0]):
        return _columns_of_named_instances(instances, names)
    if len(names) != 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )
    return {names[0]: instances}


def _columns_of_named_instances(instances: list[Any], names: list[str]) -> dict[str, list[Any]]:
    """json_tensor.cc FillTensorMapFromInstancesList, its checks and words, in its order."""
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for index, instance in enumerate(instances):
        if not _is_name_mapping(instance):
            raise invalid_argument(f"Expecting object but got list at item {index} of input list")
        for key in instance:
            if key not in columns:
                raise invalid_argument(
                    f"Failed to process element: {index} key: {key} of 'instances' list. "
                    f"Error: INVALID_ARGUMENT: JSON object: does not have named input: {key}"
                )
        if len(instance) != len(columns):
            raise invalid_argument(
                f"Failed to process element: {index} of 'instances' list. JSON object: "
                f"{_snippet(instance)} keys must be equal to: {','.join(sorted(names))}"
            )
        for name, column in columns.items():
            column.append(instance[name])
    return columns


def _named_columns(inputs: dict[str | None, Any], names: list[str]) -> dict[str, Any]:
    """json_tensor.cc FillTensorMapFromInputsMap: every signature input by name; a key
    the signature does not have is ignored, as TF Serving looks up only its own names."""
    if None in inputs:
        if len(names) != 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        return {names[0]: inputs[None]}
    for name in names:
        if name not in inputs:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
    return {name: inputs[name] for name in names}


# -- values -> arrays -------------------------------------------------------------------


def _to_array(name: str, value: Any, dtype: np.dtype[Any], rows: str) -> Array:
    if dtype.kind in "OSU":
        return _string_array(name, value, rows)
    array = _infer(name, value, dtype, rows)
    if dtype.kind == "c":
        return _complex_array(name, value, array, dtype)
    _check_kind(name, value, array, dtype)
    if dtype.kind in "iu":
        _check_range(name, array, dtype)
    return array.astype(dtype, copy=False)


def _infer(name: str, value: Any, dtype: np.dtype[Any], rows: str) -> Array:
    """``value`` as numpy infers it: one C pass over the nested lists.

    Only on failure is the value walked again, to word the error as TF Serving does.
    """
    try:
        array = np.asarray(value)
    except (ValueError, OverflowError) as error:
        raise invalid_argument(
            _object_among_values(value, rows) or _shape_error(name, value, rows)
        ) from error
    if array.dtype == object:
        raise invalid_argument(_object_among_values(value, rows) or _type_error(name, value, dtype))
    return array


def _object_among_values(value: Any, rows: str) -> str | None:
    """TF Serving's message for plain instances with a named (object) one among them."""
    if rows == "plain" and isinstance(value, list):
        for index, instance in enumerate(value):
            if _is_name_mapping(instance):
                return f"Expecting value/list but got object at item {index} of input list"
    return None


def _dense_shape(value: Any) -> list[int]:
    """TF Serving's ``GetDenseTensorShape``: the shape read along the first elements."""
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill_check(value: Any, shape: list[int]) -> int:
    """TF Serving's ``FillTensorProto`` checks: the leaf count, or ValueError worded as it words it."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if not isinstance(item, list):
            if level != len(shape):
                raise ValueError(
                    f"JSON Value: {_snippet(item)} found at incorrect level: {level + 1} "
                    f"in the JSON DOM. Expected at level: {len(shape)}"
                )
            count += 1
            continue
        if level >= len(shape):
            raise ValueError(
                f"Encountered list at unexpected level: {level} expected < {len(shape)}"
            )
        if len(item) != shape[level]:
            raise ValueError(
                f"Encountered list at unexpected size: {len(item)} at level: {level} "
                f"expected size: {shape[level]}"
            )
        stack.extend((child, level + 1) for child in reversed(item))
    return count


def _shape_text(shape: list[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _shape_error(name: str, value: Any, rows: str) -> str:
    """Why ``value`` is not a dense tensor, in TF Serving's words (``json_tensor.cc``)."""
    if rows == "columnar" or not isinstance(value, list):
        try:
            _fill_check(value, _dense_shape(value))
        except ValueError as error:
            return f"input '{name}': {error}"
        return f"input '{name}' is not a dense tensor"
    first_shape: list[int] | None = None
    first_size = 0
    for index, instance in enumerate(value):
        key = f" key: {name}" if rows == "named" else ""
        where = f"Failed to process element: {index}{key} of 'instances' list. Error: "
        shape = _dense_shape(instance)
        try:
            size = _fill_check(instance, shape)
        except ValueError as error:
            return f"{where}INVALID_ARGUMENT: {error}"
        if first_shape is None:
            first_shape, first_size = shape, size
        elif size != first_size:
            return f"{where}INVALID_ARGUMENT: Expecting tensor size: {first_size} but got: {size}"
        elif shape != first_shape:
            return (
                f"{where}INVALID_ARGUMENT: Expecting shape {_shape_text(first_shape)} "
                f"but got: {_shape_text(shape)}"
            )
    return f"input '{name}' is not a dense tensor"


_TF_TYPE_NAMES: Final = {
    "float32": "float",
    "float64": "double",
    "float16": "half",
    "bool": "bool",
}


def _tf_type_name(dtype: np.dtype[Any]) -> str:
    """TF's ``DataTypeString`` for a numpy dtype (float32 is "float")."""
    if dtype == _BFLOAT16:
        return "bfloat16"
    if dtype.kind in "OSU":
        return "string"
    return _TF_TYPE_NAMES.get(dtype.name, dtype.name)


def json_type(value: Any) -> str:
    """rapidjson's type name, as TF Serving's ``JsonTypeString`` prints it in its errors."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _fits(value: Any, target: str) -> bool:
    """Whether a JSON leaf is of the kind TF Serving's ``AddValueToTensor`` takes."""
    if target == "b":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if target in "fc":
        return True
    # rapidjson reads an integer past 64 bits as a double, which no integer type takes.
    return isinstance(value, int) and -(2**63) <= value < 2**64


def _type_error(name: str, value: Any, dtype: np.dtype[Any]) -> str:
    """TF Serving's ``TypeError`` for the first leaf of ``value`` that ``dtype`` cannot take."""
    target = "f" if dtype == _BFLOAT16 else dtype.kind
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif not _fits(item, target):
            return (
                f"input '{name}': JSON Value: {_snippet(item)} Type: {json_type(item)} "
                f"is not of expected type: {_tf_type_name(dtype)}"
            )
    return f"input '{name}' holds values that are not of expected type: {_tf_type_name(dtype)}"


# For each target kind, the kinds np.asarray infers from JSON values that it accepts:
# a JSON float (even 2.0) is not an integer, and neither is a bool a number, as in TF Serving.
_ACCEPTED_KINDS: Final = {"f": "fiu", "c": "fiu", "i": "iu", "u": "iu", "b": "b"}


def _check_kind(name: str, value: Any, array: Array, dtype: np.dtype[Any]) -> None:
    target = "f" if dtype == _BFLOAT16 else dtype.kind
    if array.size and array.dtype.kind not in _ACCEPTED_KINDS.get(target, ""):
        raise invalid_argument(_type_error(name, value, dtype))


def _check_range(name: str, array: Array, dtype: np.dtype[Any]) -> None:
    if array.size == 0 or np.can_cast(array.dtype, dtype, casting="safe"):
        return
    info = np.iinfo(dtype)
    low, high = int(array.min()), int(array.max())
    if low < info.min or high > info.max:
        bad = low if low < info.min else high
        raise invalid_argument(f"input '{name}' value {bad} is out of range for {dtype}")


def _complex_array(name: str, value: Any, array: Array, dtype: np.dtype[Any]) -> Array:
    _check_kind(name, value, array, dtype)
    if array.ndim == 0 or array.shape[-1] != 2:
        raise invalid_argument(f"input '{name}' is {dtype}: give each value as a [real, imag] pair")
    parts = np.ascontiguousarray(array, dtype=f"f{dtype.itemsize // 2}")
    return parts.view(dtype)[..., 0]


class _RaggedError(Exception):
    """A string input whose lists are not dense (worded by ``_shape_error``)."""


def _string_array(name: str, value: Any, rows: str) -> Array:
    flat: list[bytes] = []
    try:
        shape = _collect_strings(name, value, flat)
    except _RaggedError:
        raise invalid_argument(_shape_error(name, value, rows)) from None
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(shape)


MAX_STRING_NESTING: Final = 64
"""Deepest list nesting of a string input (numpy's dimension limit, as for numbers)."""


def _collect_strings(name: str, value: Any, flat: list[bytes], depth: int = 0) -> tuple[int, ...]:
    """Append the strings of a nested list to ``flat`` in order; return the list's shape."""
    if depth > MAX_STRING_NESTING:
        raise invalid_argument(
            f"input '{name}' nests lists deeper than {MAX_STRING_NESTING} levels"
        )
    if isinstance(value, str):
        flat.append(value.encode())
        return ()
    if isinstance(value, dict):
        flat.append(_b64decode(name, value))
        return ()
    if isinstance(value, list):
        shapes = [_collect_strings(name, item, flat, depth + 1) for item in value]
        if any(shape != shapes[0] for shape in shapes):
            raise _RaggedError
        return (len(value), *(shapes[0] if shapes else ()))
    raise invalid_argument(
        f"input '{name}': JSON Value: {_snippet(value)} Type: {json_type(value)} "
        "is not of expected type: string"
    )


def _b64decode(name: str, value: dict[str, Any]) -> bytes:
    """The bytes of a ``{"b64": "..."}`` object, in json_tensor.cc's words (after the
    input's name) when it is not one ("not formatted correctly for base64 data") or does
    not decode ("Unable to base64 decode")."""
    text = value.get("b64") if len(value) == 1 else None
    if not isinstance(text, str):
        raise invalid_argument(
            f"input '{name}': JSON Value: {_snippet(value)} not formatted correctly for base64 data"
        )
    try:
        # TF Serving (absl::Base64Unescape) accepts unpadded base64, so padding is restored.
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        raise invalid_argument(f"input '{name}': Unable to base64 decode") from None


# -- response ---------------------------------------------------------------------------


class FloatFormat(enum.StrEnum):
    """How float outputs are written (``--rest_float_format``)."""

    TF_SERVING = "tf_serving"
    """TF Serving's ``json_tensor.cc`` ``WriteDecimal``: six significant digits (``%g``)
    when they read back as the same value, else ``max_digits10`` (9 for float32, 17 for
    float64); ``.0`` appended to a whole number not in exponent notation: ``2.5``,
    ``3.0``, ``9e+06``, ``717887168.0``, ``2.00000024``."""
    SHORTEST = "shortest"
    """orjson's shortest text that reads back as the same float32/float64 value
    (``9000000.0``, ``717887170.0``, ``2.0000002``): the same numbers, written faster."""


def encode_predict_response(
    outputs: Mapping[str, Array],
    row_format: bool,
    float_format: FloatFormat = FloatFormat.TF_SERVING,
) -> bytes:
    """The JSON body answering a ``:predict`` call (contract in the module doc)."""
    values = {name: _jsonable(name, np.asarray(array)) for name, array in outputs.items()}
    if float_format is FloatFormat.TF_SERVING:
        values = {name: _tf_serving_floats(value) for name, value in values.items()}
    shapes = {name: np.shape(array) for name, array in outputs.items()}
    body = _row_body(values, shapes) if row_format else _columnar_body(values)
    if all(_is_finite(value) for value in values.values()):
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    # json writes NaN/Infinity/-Infinity where orjson would write null.
    return json.dumps(body, default=_numpy_to_python, separators=(",", ":")).encode()


def encode_error(message: str) -> bytes:
    """TF Serving's REST error body: ``{"error": message}``."""
    return orjson.dumps({"error": message})


def _jsonable(name: str, array: Array) -> Any:
    """What orjson can write natively: a contiguous numeric array, or lists for strings."""
    kind = array.dtype.kind
    if kind in "OSU":
        as_b64 = name.endswith(BYTES_OUTPUT_SUFFIX)
        flat = np.empty(array.size, dtype=object)
        flat[:] = [_string_json(name, item, as_b64) for item in array.reshape(-1).tolist()]
        return flat.reshape(array.shape).tolist()
    if (kind == "f" and array.dtype.itemsize == 2) or array.dtype == _BFLOAT16:
        array = array.astype(np.float32)
    elif kind == "c":
        array = np.stack((array.real, array.imag), axis=-1)
    elif kind not in "fiub":
        raise internal(f"output '{name}' has dtype {array.dtype}, which JSON cannot hold")
    # orjson needs C order, native byte order, and the canonical scalar type of each size:
    # it refuses numpy.longlong/ulonglong (the C "long long", which onnxruntime, sklearn
    # and XGBoost return for int64) and long double, as arrays and as the scalars a row
    # or a 0-d array yields. A long double is written as float64, all JSON readers keep.
    canonical = _canonical(array.dtype)
    array = array.astype(array.dtype.newbyteorder("="), order="C", copy=False)
    if array.dtype.type is not canonical.type:
        # longlong and int64 compare equal, so astype(copy=False) would keep longlong.
        same_size = array.dtype.itemsize == canonical.itemsize
        array = array.view(canonical) if same_size else array.astype(canonical)
    return array[()] if array.ndim == 0 else array


def _canonical(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The native-order dtype of the same kind and size that orjson writes (see above)."""
    if dtype.kind == "b":
        return np.dtype(np.bool_)
    if dtype.kind == "f" and dtype.itemsize > 8:
        return np.dtype(np.float64)
    return np.dtype(f"{dtype.kind}{dtype.itemsize}")


def _string_json(name: str, item: Any, as_b64: bool) -> Any:
    if isinstance(item, str):
        data = item.encode()
    elif isinstance(item, bytes):
        data = item
    else:
        # A model bug, not the client's: bytes(3) would silently write "\0\0\0".
        raise internal(f"string output '{name}' holds a {type(item).__name__}")
    if as_b64:
        return {"b64": base64.b64encode(data).decode("ascii")}
    return data.decode("utf-8", errors="replace")


def _row_body(values: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """json_tensor.cc MakeRowFormatJsonFromTensors, with its checks and words."""
    batch: int | None = None
    for name, shape in shapes.items():
        if not shape:
            raise invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch is not None and shape[0] != batch:
            raise invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {shape[0]} expecting: {batch}"
            )
        batch = shape[0]
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    assert batch is not None
    return {
        "predictions": [
            {name: value[row] for name, value in values.items()} for row in range(batch)
        ]
    }


def _columnar_body(values: dict[str, Any]) -> dict[str, Any]:
    if len(values) == 1:
        return {"outputs": next(iter(values.values()))}
    return {"outputs": values}


_NON_FINITE: Final = {"nan": "NaN", "-nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


_READ_BACK_SLICE = 64 * 1024


def _tf_serving_floats(value: Any) -> Any:
    """A float array (or scalar) in TF Serving's text: a list over dimension 0 of raw JSON
    fragments (one per row, so that the row format can still pick rows), or one fragment."""
    if not isinstance(value, (np.ndarray, np.floating)) or value.dtype.kind != "f":
        return value
    array = np.asarray(value)
    if array.size == 0:
        return array.tolist()  # nested empty lists, no number to write
    numbers = array.reshape(-1).tolist()  # Python floats format faster than numpy scalars
    float32 = array.dtype == np.float32
    if len(numbers) <= _READ_BACK_SLICE:
        texts = tf_serving_float_texts(numbers, float32)
    else:
        # In slices, so that no single C call (array's conversion) holds the GIL for long
        # on a large answer (encoded in a worker thread, the event loop waits for the GIL).
        texts = []
        for start in range(0, len(numbers), _READ_BACK_SLICE):
            texts += tf_serving_float_texts(numbers[start : start + _READ_BACK_SLICE], float32)
    if array.ndim == 0:
        return orjson.Fragment(texts[0])
    # Join the innermost dimension first, then each outer one but the first.
    for size in reversed(array.shape[1:]):
        texts = ["[" + ",".join(texts[i : i + size]) + "]" for i in range(0, len(texts), size)]
    return [orjson.Fragment(text) for text in texts]


def tf_serving_float_texts(numbers: list[float], float32: bool) -> list[str]:
    """TF Serving's text of each float (``FloatFormat.TF_SERVING``); ``numbers`` are the
    values as Python floats (exactly float32 values when ``float32``).

    Six significant digits (``%g``) where they read back as the same value, else 9
    (float32) or 17 (float64); ``.0`` after a whole number without an exponent; NaN and
    +-infinity as ``NaN``, ``Infinity``, ``-Infinity``. The read-back rounds the parsed
    double to float32 for float32 values (``array('f')``, a C cast), as numpy's cast of the
    text does; where every six-digit text reads back, one comparison of whole arrays
    decides. About 0.4 us per value (the per-value numpy read-back took ~1.5 us).
    """
    texts = [f"{x:.6g}" for x in numbers]  # absl::StrCat's six digits
    backs = list(map(float, texts))
    # Where some text does not read back (or a NaN, never equal), those take more digits;
    # ``x - x != 0`` holds for NaN and +-infinity, which keep their text.
    if float32:
        rounded = typed_array("f", backs)
        if rounded != typed_array("f", numbers):
            texts = [
                text if back == x or x - x != 0 else f"{x:.9g}"
                for text, back, x in zip(texts, rounded.tolist(), numbers, strict=True)
            ]
    elif backs != numbers:
        texts = [
            text if back == x or x - x != 0 else f"{x:.17g}"
            for text, back, x in zip(texts, backs, numbers, strict=True)
        ]
    return [
        text if "." in text or "e" in text else _NON_FINITE.get(text) or text + ".0"
        for text in texts
    ]


def _is_finite(value: Any) -> bool:
    if isinstance(value, (np.ndarray, np.floating)) and value.dtype.kind == "f":
        return bool(np.isfinite(value).all())
    return True


def _numpy_to_python(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# -- messages ---------------------------------------------------------------------------


def _names(names: Iterable[str]) -> str:
    return "{" + ", ".join(sorted(names)) + "}"


def _snippet(value: Any) -> str:
    """A short JSON rendering of ``value`` for an error message, cheap on huge bodies."""
    text = _render(value, depth=0)
    return text if len(text) <= _SNIPPET_CHARS else text[:_SNIPPET_CHARS] + "..."


def _render(value: Any, *, depth: int) -> str:
    """JSON text of ``value`` that shows only the first items of the first levels."""
    if isinstance(value, dict):
        if depth >= _SNIPPET_DEPTH:
            return "{...}"
        items = itertools.islice(value.items(), _SNIPPET_ITEMS)
        parts = [f"{json.dumps(key)}: {_render(item, depth=depth + 1)}" for key, item in items]
        return "{" + ", ".join(parts) + _ellipsis(value) + "}"
    if isinstance(value, list):
        if depth >= _SNIPPET_DEPTH:
            return "[...]"
        parts = [_render(item, depth=depth + 1) for item in value[:_SNIPPET_ITEMS]]
        return "[" + ", ".join(parts) + _ellipsis(value) + "]"
    text = json.dumps(value)
    return text if len(text) <= _SNIPPET_CHARS else text[:_SNIPPET_CHARS] + "..."


def _ellipsis(container: list[Any] | dict[str, Any]) -> str:
    return ", ..." if len(container) > _SNIPPET_ITEMS else ""
