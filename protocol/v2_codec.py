"""The Open Inference Protocol (KServe V2) tensors: JSON and binary <-> numpy. Translation only.

Where the KServe and Triton documents differ this follows Triton, because ``tritonclient``
speaks Triton's dialect.

Datatypes (``DATATYPES``): BOOL, INT8..INT64, UINT8..UINT64, FP16, BF16, FP32, FP64 and
BYTES, each mapped to one ``protocol.dtypes.DType``. Any other name is INVALID_ARGUMENT.

Binary form (Triton's binary tensor extension, also gRPC's ``raw_input_contents``): the
little-endian elements in row-major order; BOOL one byte each; BYTES each element a
4-byte little-endian length followed by its bytes. Numeric binary data becomes an array
with ``np.frombuffer`` (no per-element Python); its byte count must equal
``prod(shape) * itemsize``, or the error names the input, both sizes and the shape.

REST request (``split_rest_body`` then ``decode_rest_request``): with an
``Inference-Header-Content-Length`` header, the body is that many bytes of JSON followed
by the inputs' binary data in input order, each input taking its
``parameters.binary_data_size`` bytes; the sizes must add up to exactly the rest of the
body. Without the header the body is all JSON; an empty body is ``{}``. JSON ``data`` may be
flat or nested (row-major); its element count must match ``shape``, and its values the
datatype (no floats for integer types, only booleans for BOOL, strings for BYTES).

REST response (``encode_rest_response``): each output is ``data`` (a flat row-major
list) or binary (``parameters.binary_data_size``, bytes appended after the JSON, whose
length ``encode_rest_response`` returns for the ``Inference-Header-Content-Length``
header). An output is binary when its request says ``binary_data: true``, or when it says
nothing and the request's ``binary_data_output`` parameter is true. BF16 has no JSON form
in Triton; here it is written as its float value. BYTES that are not UTF-8 cannot be JSON:
INVALID_ARGUMENT asking for ``binary_data``.

Shared memory (Triton's shared memory extensions): an input whose ``parameters`` hold
``shared_memory_region`` carries no data (``InputTensor.array`` is None; data beside it
is INVALID_ARGUMENT with Triton's message) and a requested output's parameters are kept
as sent, for the data plane to read and write the regions (with ``binary_data: true``
too is INVALID_ARGUMENT, as in Triton). An output written into shared memory goes back
with its name, datatype and shape only. JSON ``data`` of any nesting depth is
flattened without recursion.

Versions (``parse_version``): a version string of digits is a version number; anything
else is a version label (how V2 clients reach TF Serving's labels); empty is the latest.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Mapping, Sequence, Set
from typing import Any, Final

import numpy as np
import orjson

from protocol.dtypes import BFLOAT16, NUMPY_DTYPES, DType, dtype_name
from protocol.model_ref import ModelRef
from protocol.status import invalid_argument

DATATYPES: Final[dict[str, DType]] = {
    "BOOL": DType.DT_BOOL,
    "INT8": DType.DT_INT8,
    "INT16": DType.DT_INT16,
    "INT32": DType.DT_INT32,
    "INT64": DType.DT_INT64,
    "UINT8": DType.DT_UINT8,
    "UINT16": DType.DT_UINT16,
    "UINT32": DType.DT_UINT32,
    "UINT64": DType.DT_UINT64,
    "FP16": DType.DT_HALF,
    "BF16": DType.DT_BFLOAT16,
    "FP32": DType.DT_FLOAT,
    "FP64": DType.DT_DOUBLE,
    "BYTES": DType.DT_STRING,
}
_NAMES: Final[dict[int, str]] = {int(dtype): name for name, dtype in DATATYPES.items()}

# gRPC ``InferTensorContents`` field per datatype (FP16 and BF16 travel only raw).
CONTENTS_FIELD: Final[dict[str, str]] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}

INFERENCE_HEADER: Final = "Inference-Header-Content-Length"
_LENGTH: Final = struct.Struct("<I")


def datatype_name(dtype: int) -> str:
    """The V2 name of a ``DType`` (``FP32``); the TF name for a type V2 cannot carry."""
    return _NAMES.get(dtype) or dtype_name(dtype)


def datatype_dtype(datatype: str) -> DType:
    """The ``DType`` of a V2 datatype name; INVALID_ARGUMENT for an unknown name."""
    found = DATATYPES.get(datatype)
    if found is None:
        raise invalid_argument(
            f"unsupported datatype '{datatype}'; expected one of {', '.join(DATATYPES)}"
        )
    return found


def parse_version(model_name: str, version: str | None) -> ModelRef:
    """Digits name a version number, anything else a label, empty the latest version."""
    if not version:
        return ModelRef(name=model_name)
    if version.isdigit():
        return ModelRef(name=model_name, version=int(version))
    return ModelRef(name=model_name, label=version)


def check_shape(name: str, shape: object) -> tuple[int, ...]:
    """A tensor's shape: a list of non-negative integers."""
    if not isinstance(shape, (list, tuple)) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise invalid_argument(
            f"input '{name}': shape must be a list of non-negative integers, got {shape!r}"
        )
    return tuple(shape)


# --- binary (REST binary extension and gRPC raw contents) ---------------------------------


def array_from_binary(
    name: str, datatype: str, shape: Sequence[int], data: bytes | memoryview
) -> np.ndarray:
    """One tensor from its binary form (see the module docstring)."""
    dtype = datatype_dtype(datatype)
    count = math.prod(shape)
    if dtype is DType.DT_STRING:
        return _bytes_elements(name, data, count).reshape(shape)
    numpy_dtype = NUMPY_DTYPES[dtype]
    expected = count * numpy_dtype.itemsize
    if len(data) != expected:
        raise invalid_argument(
            f"input '{name}': {len(data)} bytes of binary data, but shape {list(shape)} of {datatype} "
            f"needs {expected} bytes"
        )
    return np.frombuffer(data, dtype=numpy_dtype).reshape(shape)


def _bytes_elements(name: str, data: bytes | memoryview, count: int) -> np.ndarray:
    view = memoryview(data)
    out = np.empty(count, dtype=object)
    offset = 0
    for index in range(count):
        if offset + 4 > len(view):
            raise invalid_argument(
                f"input '{name}': BYTES data ends after {index} of {count} elements"
            )
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise invalid_argument(
                f"input '{name}': BYTES element {index} claims {length} bytes past the end"
            )
        out[index] = bytes(view[offset : offset + length])
        offset += length
    if offset != len(view):
        raise invalid_argument(
            f"input '{name}': {len(view)} bytes of BYTES data, but its {count} elements take {offset}"
        )
    return out


def array_to_binary(array: np.ndarray) -> bytes:
    """An output's binary form (BYTES length-prefixed, everything else little-endian)."""
    if array.dtype.kind in "OSU":
        parts: list[bytes] = []
        for element in array.ravel():
            item = element.encode() if isinstance(element, str) else bytes(element)
            parts.append(_LENGTH.pack(len(item)))
            parts.append(item)
        return b"".join(parts)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array).tobytes()


def array_from_contents(
    name: str, datatype: str, shape: Sequence[int], values: Sequence[Any]
) -> np.ndarray:
    """One tensor from gRPC's typed ``contents`` (the field ``CONTENTS_FIELD`` names)."""
    dtype = datatype_dtype(datatype)
    count = math.prod(shape)
    if len(values) != count:
        raise invalid_argument(
            f"input '{name}': shape {list(shape)} needs {count} elements, but contents has {len(values)}"
        )
    if dtype is DType.DT_STRING:
        array = np.empty(count, dtype=object)
        array[:] = list(values)
    else:
        array = np.asarray(values).astype(NUMPY_DTYPES[dtype], copy=False)
    return array.reshape(shape)


# --- JSON ----------------------------------------------------------------------------------


def array_from_json(name: str, datatype: str, shape: Sequence[int], data: object) -> np.ndarray:
    """One tensor from JSON ``data`` (flat or nested, row-major)."""
    dtype = datatype_dtype(datatype)
    count = math.prod(shape)
    if not isinstance(data, list):
        data = [data]
    if dtype is DType.DT_STRING:
        flat = list(_flatten(data))
        if not all(isinstance(item, (str, bytes)) for item in flat):
            raise invalid_argument(f"input '{name}': BYTES data must be strings")
        array = np.empty(len(flat), dtype=object)
        array[:] = [item.encode() if isinstance(item, str) else item for item in flat]
    else:
        try:
            raw = np.array(data)
        except ValueError as error:
            raise invalid_argument(
                f"input '{name}': data is not a regular array: {error}"
            ) from None
        if raw.size and not _json_kind_fits(raw.dtype.kind, dtype):
            raise invalid_argument(
                f"input '{name}': data of {datatype} holds values of another type ({raw.dtype})"
            )
        try:
            staged = raw.astype(np.float32) if dtype is DType.DT_BFLOAT16 else raw
            array = staged.astype(NUMPY_DTYPES[dtype]).ravel()
        except (ValueError, OverflowError) as error:
            raise invalid_argument(f"input '{name}': {error}") from None
    if array.size != count:
        raise invalid_argument(
            f"input '{name}': shape {list(shape)} needs {count} elements, but data has {array.size}"
        )
    return array.reshape(shape)


def _json_kind_fits(kind: str, dtype: DType) -> bool:
    if dtype is DType.DT_BOOL:
        return kind == "b"
    if NUMPY_DTYPES[dtype].kind in "iu":
        return kind in "iu"
    return kind in "iuf"


def _flatten(data: list[Any]) -> Any:
    """The leaves of nested lists, row-major, with an explicit stack (any nesting depth)."""
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            yield item
        else:
            stack.pop()


def array_to_json(name: str, array: np.ndarray) -> list[Any]:
    """An output as a flat JSON list (BYTES as UTF-8 strings)."""
    if array.dtype.kind in "OSU":
        try:
            return [e.decode() if isinstance(e, bytes) else str(e) for e in array.ravel()]
        except UnicodeDecodeError:
            raise invalid_argument(
                f"output '{name}' holds bytes that are not UTF-8; request it with binary_data: true"
            ) from None
    if array.dtype == BFLOAT16:
        array = array.astype(np.float32)
    flat: list[Any] = array.ravel().tolist()
    return flat


# --- REST requests and responses -----------------------------------------------------------


SHARED_MEMORY_REGION: Final = "shared_memory_region"
"""The tensor parameter naming a shared memory region (Triton's shared memory extensions)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RequestedOutput:
    """An output a request names; ``binary`` is ``None`` when the request did not say.

    ``parameters``: the output's own parameters as sent (plain values), where a
    ``shared_memory_region`` asks for the output to be written into that region.
    """

    name: str
    binary: bool | None = None
    parameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InputTensor:
    """One decoded input, with the datatype and shape the client declared.

    ``array`` is None when the input's ``parameters`` name a shared memory region
    (``shared_memory_region``) instead of carrying data: the data plane reads it there.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    array: np.ndarray | None
    parameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InferRequest:
    """A decoded V2 inference request (either wire form)."""

    id: str | None
    inputs: tuple[InputTensor, ...]
    outputs: tuple[RequestedOutput, ...]
    parameters: Mapping[str, Any]
    binary_output: bool = False


def split_rest_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], memoryview]:
    """The JSON header and the binary rest of a REST body (see the module docstring)."""
    view = memoryview(body)
    if header_length is None:
        json_part, binary = view, view[len(view) :]
    else:
        try:
            length = int(header_length)
        except ValueError:
            raise invalid_argument(
                f"{INFERENCE_HEADER} must be an integer, got '{header_length}'"
            ) from None
        if not 0 <= length <= len(view):
            raise invalid_argument(
                f"{INFERENCE_HEADER} is {length} but the body has {len(view)} bytes"
            )
        json_part, binary = view[:length], view[length:]
    if not json_part:
        return {}, binary
    try:
        document = orjson.loads(json_part)
    except orjson.JSONDecodeError as error:
        raise invalid_argument(f"the request body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise invalid_argument("the request body must be a JSON object")
    return document, binary


def _parameters(owner: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_argument(f"{owner}: parameters must be a JSON object")
    return value


def decode_rest_request(document: Mapping[str, Any], binary: memoryview) -> InferRequest:
    """A REST inference request from its JSON header and binary data."""
    inputs_doc = document.get("inputs")
    if not isinstance(inputs_doc, list):
        raise invalid_argument("the request must have an 'inputs' list")
    offset = 0
    inputs: list[InputTensor] = []
    seen: set[str] = set()
    for entry in inputs_doc:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise invalid_argument("every input must be an object with a 'name'")
        name = entry["name"]
        if name in seen:
            raise invalid_argument(f"input '{name}' appears more than once")
        seen.add(name)
        datatype = entry.get("datatype")
        if not isinstance(datatype, str):
            raise invalid_argument(f"input '{name}': 'datatype' is missing")
        shape = check_shape(name, entry.get("shape"))
        input_parameters = _parameters(f"input '{name}'", entry.get("parameters"))
        size = input_parameters.get("binary_data_size")
        array: np.ndarray | None
        if SHARED_MEMORY_REGION in input_parameters:
            if size is not None or "data" in entry:
                # Triton's ValidateInputContentType (http_server.cc).
                also = " 'data'" if "data" in entry else ""
                also += " 'binary_data_size'" if size is not None else ""
                raise invalid_argument(
                    "Input must set only one of the following fields: 'data', "
                    "'binary_data_size' in 'parameters', 'shared_memory_region' in "
                    f"'parameters'. But set{also} 'shared_memory_region'"
                )
            array = None
        elif size is not None:
            if not isinstance(size, int) or size < 0:
                raise invalid_argument(
                    f"input '{name}': binary_data_size must be a non-negative integer"
                )
            if offset + size > len(binary):
                raise invalid_argument(
                    f"input '{name}': binary_data_size {size} runs past the {len(binary)} bytes of binary data"
                )
            array = array_from_binary(name, datatype, shape, binary[offset : offset + size])
            offset += size
        elif "data" in entry:
            array = array_from_json(name, datatype, shape, entry["data"])
        else:
            raise invalid_argument(
                f"input '{name}' has neither 'data' nor a binary_data_size parameter"
            )
        inputs.append(
            InputTensor(
                name=name, datatype=datatype, shape=shape, array=array, parameters=input_parameters
            )
        )
    if offset != len(binary):
        raise invalid_argument(
            f"the inputs take {offset} bytes of binary data but the body has {len(binary)}"
        )
    outputs: list[RequestedOutput] = []
    for entry in document.get("outputs") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise invalid_argument("every requested output must be an object with a 'name'")
        output_parameters = _parameters(f"output '{entry['name']}'", entry.get("parameters"))
        binary_flag = output_parameters.get("binary_data")
        if SHARED_MEMORY_REGION in output_parameters and binary_flag is True:
            raise invalid_argument("Output can't set both 'shared_memory_region' and 'binary_data'")
        outputs.append(
            RequestedOutput(
                name=entry["name"],
                binary=None if binary_flag is None else bool(binary_flag),
                parameters=output_parameters,
            )
        )
    parameters = _parameters("request", document.get("parameters"))
    request_id = document.get("id")
    return InferRequest(
        id=None if request_id is None else str(request_id),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        parameters=parameters,
        binary_output=bool(parameters.get("binary_data_output", False)),
    )


def encode_rest_response(
    *,
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: Sequence[tuple[str, np.ndarray, int, bool]],
    in_shared_memory: Set[str] = frozenset(),
) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header's length.

    ``outputs``: (name, array, dtype, binary) in response order. ``in_shared_memory``:
    the outputs already written into shared memory, which carry no data (Triton's answer:
    name, datatype and shape only).
    """
    documents: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, array, dtype, binary in outputs:
        document: dict[str, Any] = {
            "name": name,
            "datatype": datatype_name(dtype),
            "shape": list(array.shape),
        }
        if name in in_shared_memory:
            pass  # its data is in the region already
        elif binary:
            chunk = array_to_binary(array)
            document["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            document["data"] = array_to_json(name, array)
        documents.append(document)
    response: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "outputs": documents,
    }
    if request_id is not None:
        response["id"] = request_id
    header = orjson.dumps(response)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def encode_error(message: str) -> bytes:
    return orjson.dumps({"error": message})
