"""``TensorProto`` <-> numpy translation for the gRPC hot path, in bulk only.

Contract
--------
* Element types are ``protocol.dtypes``' (TF's ``DataType`` numbers); a tensor of a
  type with no array form (or an unknown number) is INVALID_ARGUMENT.
* ``tensor_proto_to_ndarray`` follows ``Tensor::FromProto`` in TF (which TF Serving uses):
  ``tensor_content`` must hold exactly the bytes the shape needs; a typed ``*_val`` field
  may hold every element, fewer (the last value repeats to fill the shape, so one value
  broadcasts) or none (zeros, or ``b""`` for strings). Where TF would silently drop extra
  ``*_val`` values we answer INVALID_ARGUMENT, as ``tf.make_ndarray`` refuses them too.
  An unknown rank or a negative dimension is INVALID_ARGUMENT, and so is a rank above
  ``MAX_RANK`` (numpy's limit, 64; TF allows 254) or an element count beyond int64.
  Arrays decoded from
  ``tensor_content`` are read-only (they wrap its bytes): copy before writing in place.
* ``ndarray_to_tensor_proto`` writes the typed ``*_val`` fields, as TF Serving's
  ``Tensor::AsProtoField`` does, so clients reading ``outputs["y"].float_val`` keep
  working; only integer, bool and half-precision tensors above
  ``VARINT_FIELD_MAX_ELEMENTS`` elements go to ``tensor_content`` (see below).
  ``tf.make_ndarray`` reads both. Round trips are exact for every dtype.
* ``decode_inputs`` bounds a whole request: before any input is allocated, the sizes its
  shapes imply (elements x item size, summed over the inputs) are checked against
  ``max_bytes``. A string element counts ``STRING_ELEMENT_BYTES`` (what holding it costs
  whatever its length: the array's pointer and the runtime's own string header) plus the
  bytes of the values given. Over it, the answer is INVALID_ARGUMENT naming the input, its
  shape and the cap: a 38-byte request naming ``[67108864]`` strings and no values would
  otherwise be filled to its shape (seconds, and gigabytes once a model runs it), as TF
  does. ``check_request_bytes`` applies the same count to arrays decoded from JSON.
* The host is little-endian (x86-64, aarch64), like the protobuf wire format.

Encoding path, and why
----------------------
Measured with protobuf 7 (upb), numpy 2.4 on a shared 2-vCPU dev VM (best of 7; runs
vary up to 2x at 64K+ elements, where page faults dominate). Microseconds per float32
tensor:

=========================  =====  =====  =====  =======  ========
elements                       1     64   4096      64K        1M
=========================  =====  =====  =====  =======  ========
float_val.extend(ndarray)    2.5     12    600    10300    169000
float_val.extend(tolist())   1.6    3.1    105     1710     41900
tensor_content               1.2    1.2    2.0       24       204
packed record (chosen)       3.7    3.8    4.7   26-100       206
tf.make_tensor_proto          16     12     13       44       246
=========================  =====  =====  =====  =======  ========

Chosen for float, double and complex above ``PACKED_MIN_ELEMENTS`` (below it, real floats
take ``extend(tolist())``, cheaper there): protobuf packs a repeated fixed-width field as one
length-delimited record whose payload is the little-endian values back to back, i.e. the
array's buffer, so ``MergeFromString`` of that record fills ``float_val`` in C at
``tensor_content`` speed for large tensors (~2 us fixed cost for small ones) while keeping
TF Serving's output layout. The varint fields (``int_val``, ``int64_val``, ``bool_val``,
``half_val``, ``uint32_val``, ``uint64_val``) have no such shortcut: a vectorised numpy
varint encoder measured no faster than ``extend(tolist())``, so those use
``extend(tolist())`` up to ``VARINT_FIELD_MAX_ELEMENTS`` (~30 us at the limit; scalars
and class ids fit) and ``tensor_content`` above it.

Decoding needs no such care: upb's repeated fields export ``__array__``, so
``np.asarray(proto.float_val)`` is one C copy (1M floats: 0.1 ms, where
``tf.make_ndarray`` iterates for 34 ms), and ``tensor_content`` is wrapped by
``np.frombuffer`` without a further copy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from tensorflow.core.framework import tensor_pb2

from protocol.dtypes import NUMPY_DTYPES, STRING, DType, dtype_name, numpy_to_dtype
from protocol.status import invalid_argument

MAX_RANK: Final = 64
"""Most dimensions a tensor may have here: numpy's ``NPY_MAXDIMS`` (TF allows 254)."""
_MAX_ELEMENTS: Final = 2**63 - 1
"""TF's ``TensorShape`` refuses element counts beyond int64 (numpy, byte counts beyond it)."""

STRING_ELEMENT_BYTES: Final = 32
"""What one string element costs before its bytes: numpy's 8-byte object pointer plus
TensorFlow's 24-byte ``tstring`` when a model runs it (so ``[67108864]`` strings count
2 GiB, over the default cap, where 8 bytes each let it through)."""

PACKED_MIN_ELEMENTS: Final = 64
"""Float and double tensors up to this many elements are written with ``extend(tolist())``
(1.6 us for one value, 3.1 for 64, against ~3.7 for the packed record); larger ones as
one packed record (module doc)."""

VARINT_FIELD_MAX_ELEMENTS: Final = 1024
"""Largest integer/bool/half tensor written to its typed ``*_val`` field; larger ones
go to ``tensor_content`` because per-element ``extend`` grows linearly (~30 us here)."""

_FIELDS: Final = tensor_pb2.TensorProto.DESCRIPTOR.fields_by_name
_LENGTH_DELIMITED: Final = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class _Layout:
    """Where one dtype lives in a ``TensorProto`` and how its values are stored there."""

    dtype: np.dtype[Any]
    """The array dtype callers see (little-endian for multi-byte numbers)."""
    field: str
    """The typed repeated field TF uses for this dtype."""
    packed: bool = False
    """True for fixed-width float fields, written as one packed record of raw bytes."""
    bit_pattern: bool = False
    """True for half/bfloat16: ``half_val`` holds the uint16 bit patterns, not values."""


_FIELD_OF: Final[dict[DType, tuple[str, bool, bool]]] = {
    # dtype: (field, packed, bit_pattern)
    DType.DT_HALF: ("half_val", False, True),
    DType.DT_BFLOAT16: ("half_val", False, True),
    DType.DT_FLOAT: ("float_val", True, False),
    DType.DT_DOUBLE: ("double_val", True, False),
    DType.DT_INT8: ("int_val", False, False),
    DType.DT_INT16: ("int_val", False, False),
    DType.DT_INT32: ("int_val", False, False),
    DType.DT_INT64: ("int64_val", False, False),
    DType.DT_UINT8: ("int_val", False, False),
    DType.DT_UINT16: ("int_val", False, False),
    DType.DT_UINT32: ("uint32_val", False, False),
    DType.DT_UINT64: ("uint64_val", False, False),
    DType.DT_BOOL: ("bool_val", False, False),
    DType.DT_STRING: ("string_val", False, False),
    DType.DT_COMPLEX64: ("scomplex_val", True, False),
    DType.DT_COMPLEX128: ("dcomplex_val", True, False),
}
_LAYOUTS: Final[dict[int, _Layout]] = {
    int(dtype): _Layout(dtype=NUMPY_DTYPES[dtype], field=field, packed=packed, bit_pattern=bits)
    for dtype, (field, packed, bits) in _FIELD_OF.items()
}


def _layout(dtype_enum: int) -> _Layout:
    layout = _LAYOUTS.get(dtype_enum)
    if layout is None:
        raise invalid_argument(f"unsupported tensor dtype {dtype_name(dtype_enum)}")
    return layout


# -- TensorProto -> ndarray -------------------------------------------------------------


def decode_inputs(
    inputs: Mapping[str, tensor_pb2.TensorProto], *, max_bytes: int | None
) -> dict[str, np.ndarray[Any, Any]]:
    """Decode every input, after checking that together they fit in ``max_bytes``."""
    if max_bytes is None:
        return {alias: tensor_proto_to_ndarray(proto) for alias, proto in inputs.items()}
    total = 0
    checked = []
    for alias, proto in inputs.items():  # every size first: nothing is allocated over the cap
        layout = _layout(proto.dtype)
        shape = _shape(proto)
        total += _nbytes(proto, layout, shape)
        if total > max_bytes:
            raise invalid_argument(
                f"input '{alias}' with shape {_shape_text(proto)} of "
                f"{dtype_name(proto.dtype)} takes the request to {total} bytes, over the "
                f"limit of {max_bytes} bytes per request (--max_request_tensor_bytes)"
            )
        checked.append((alias, proto, layout, shape))
    return {alias: _to_ndarray(proto, layout, shape) for alias, proto, layout, shape in checked}


def tensor_nbytes(proto: tensor_pb2.TensorProto) -> int:
    """Bytes the array decoded from ``proto`` will take, from its shape (and, for strings,
    the values' lengths: ``STRING_ELEMENT_BYTES`` per element plus the bytes given)."""
    return _nbytes(proto, _layout(proto.dtype), _shape(proto))


def _nbytes(proto: tensor_pb2.TensorProto, layout: _Layout, shape: tuple[int, ...]) -> int:
    count = math.prod(shape)
    if layout.dtype == STRING:
        return count * STRING_ELEMENT_BYTES + sum(map(len, proto.string_val))
    return count * layout.dtype.itemsize


def array_nbytes(array: np.ndarray[Any, Any]) -> int:
    """Bytes ``array`` counts toward the request cap (strings as in ``tensor_nbytes``)."""
    if array.dtype == STRING or array.dtype.kind in "SU":
        payload: int = sum(len(item) for item in array.flat if isinstance(item, (bytes, str)))
        return int(array.size) * STRING_ELEMENT_BYTES + payload
    itemsize: int = array.dtype.itemsize
    return int(array.size) * itemsize


def check_request_bytes(arrays: Mapping[str, np.ndarray[Any, Any]], max_bytes: int | None) -> None:
    """INVALID_ARGUMENT if decoded ``arrays`` together exceed ``max_bytes`` (REST's check)."""
    if max_bytes is None:
        return
    total = 0
    for alias, array in arrays.items():
        total += array_nbytes(array)
        if total > max_bytes:
            raise invalid_argument(
                f"input '{alias}' with shape {list(array.shape)} of {array.dtype} takes the "
                f"request to {total} bytes, over the limit of {max_bytes} bytes per request "
                "(--max_request_tensor_bytes)"
            )


def tensor_proto_to_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray[Any, Any]:
    """Decode ``proto`` into an array of its dtype and shape (contract in the module doc)."""
    return _to_ndarray(proto, _layout(proto.dtype), _shape(proto))


def _to_ndarray(
    proto: tensor_pb2.TensorProto, layout: _Layout, shape: tuple[int, ...]
) -> np.ndarray[Any, Any]:
    count = math.prod(shape)
    # upb copies a bytes field on every access, so tensor_content is read exactly once.
    content = proto.tensor_content
    if content:
        flat = _from_content(content, proto, layout, count)
    else:
        flat = _fill(_from_field(proto, layout), layout, count, proto.dtype)
    return flat.reshape(shape)


def _shape(proto: tensor_pb2.TensorProto) -> tuple[int, ...]:
    shape_proto = proto.tensor_shape
    if shape_proto.unknown_rank:
        raise invalid_argument("tensor shape has unknown rank; a request tensor needs a full shape")
    dims = shape_proto.dim
    if len(dims) > MAX_RANK:
        raise invalid_argument(
            f"tensor has {len(dims)} dimensions; this server supports at most {MAX_RANK}"
        )
    shape = tuple([dim.size for dim in dims])
    if shape and min(shape) < 0:
        raise invalid_argument(f"tensor shape {list(shape)} has a negative (unknown) dimension")
    # numpy refuses a shape whose non-zero dimensions multiply past int64 bytes, even when
    # another dimension is 0; 16 is the largest item size (complex128).
    if math.prod(filter(None, shape)) * 16 > _MAX_ELEMENTS:
        raise invalid_argument(f"tensor shape {list(shape)} has more elements than fit in int64")
    return shape


def _from_content(
    content: bytes, proto: tensor_pb2.TensorProto, layout: _Layout, count: int
) -> np.ndarray[Any, Any]:
    if layout.dtype == STRING:
        raise invalid_argument("DT_STRING tensors must use string_val, not tensor_content")
    expected = count * layout.dtype.itemsize
    if len(content) != expected:
        raise invalid_argument(
            f"tensor_content size mismatch: {len(content)} bytes, but shape "
            f"{_shape_text(proto)} of {dtype_name(proto.dtype)} needs {expected} bytes"
        )
    return np.frombuffer(content, dtype=layout.dtype)


def _from_field(proto: tensor_pb2.TensorProto, layout: _Layout) -> np.ndarray[Any, Any]:
    """The typed field's values as a flat array of ``layout.dtype`` (copied in bulk)."""
    field = getattr(proto, layout.field)
    if layout.dtype == STRING:
        values = np.empty(len(field), dtype=object)
        values[:] = list(field)
        return values
    # np.asarray uses upb's __array__: one C copy, no Python object per element.
    raw = np.asarray(field)
    if layout.bit_pattern:
        return raw.astype(np.uint16).view(layout.dtype)
    if layout.dtype.kind == "c":
        if raw.size % 2:
            raise invalid_argument(
                f"{layout.field} holds {raw.size} floats; complex values need (real, imag) pairs"
            )
        # scomplex_val/dcomplex_val hold (real, imag) pairs: the complex memory layout.
        return raw.view(layout.dtype)
    # int8/int16/uint8/uint16 arrive widened to int32 in int_val; narrowing matches TF's cast.
    return raw.astype(layout.dtype, copy=False)


def _fill(
    values: np.ndarray[Any, Any], layout: _Layout, count: int, dtype_enum: int
) -> np.ndarray[Any, Any]:
    """Give ``values`` exactly ``count`` elements, as ``Tensor::FromProto`` does."""
    if values.size == count:
        return values
    if values.size > count:
        raise invalid_argument(
            f"{layout.field} size mismatch: {values.size} values for a "
            f"{dtype_name(dtype_enum)} tensor of {count} elements"
        )
    if values.size == 0:
        default: object = b"" if layout.dtype == STRING else 0
        return np.full(count, default, dtype=layout.dtype)
    # One value broadcasts; more generally the last value repeats, as in TF.
    return np.pad(values, (0, count - values.size), mode="edge")


def _shape_text(proto: tensor_pb2.TensorProto) -> str:
    return str([dim.size for dim in proto.tensor_shape.dim])


# -- ndarray -> TensorProto -------------------------------------------------------------


def ndarray_to_tensor_proto(
    array: np.ndarray[Any, Any] | Any,
    *,
    dtype_enum: int | None = None,
    out: tensor_pb2.TensorProto | None = None,
) -> tensor_pb2.TensorProto:
    """Encode ``array`` as TF Serving would answer it, casting to ``dtype_enum`` if given.

    ``out`` (cleared first) is filled in place and returned: pass
    ``response.outputs[name]`` to skip a deep copy of a large tensor into the response.
    """
    array = np.asarray(array)
    if dtype_enum is None:
        dtype_enum = numpy_to_dtype(array.dtype)
    layout = _layout(dtype_enum)
    proto = tensor_pb2.TensorProto() if out is None else out
    proto.Clear()
    proto.dtype = dtype_enum
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if layout.dtype == STRING:
        proto.string_val.extend(_as_bytes_list(array))
        return proto
    values = _cast(array, layout, dtype_enum)
    if layout.packed and (values.size > PACKED_MIN_ELEMENTS or layout.dtype.kind == "c"):
        _merge_packed(proto, layout.field, values)
    elif layout.packed:  # a few floats: one extend costs less than building a record
        getattr(proto, layout.field).extend(values.tolist())
    elif values.size <= VARINT_FIELD_MAX_ELEMENTS:
        source = values.view(np.uint16) if layout.bit_pattern else values
        getattr(proto, layout.field).extend(source.tolist())
    else:
        proto.tensor_content = values.tobytes()
    return proto


def _cast(array: np.ndarray[Any, Any], layout: _Layout, dtype_enum: int) -> np.ndarray[Any, Any]:
    """``array`` flattened, contiguous and in ``layout.dtype`` (a no-op when it already is)."""
    try:
        return np.ascontiguousarray(array, dtype=layout.dtype).reshape(-1)
    except (TypeError, ValueError) as error:
        raise invalid_argument(
            f"cannot encode an array of {array.dtype} as {dtype_name(dtype_enum)}: {error}"
        ) from error


def _as_bytes_list(array: np.ndarray[Any, Any]) -> list[bytes]:
    """Elements as ``bytes``; ``str`` elements are UTF-8 encoded, as TF does for text."""
    return [_as_bytes(item) for item in array.reshape(-1).tolist()]


def _as_bytes(item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    # bytes(3) would silently become b"\0\0\0", so anything else is refused.
    raise invalid_argument(f"DT_STRING tensor holds a {type(item).__name__}, not bytes or str")


def _merge_packed(proto: tensor_pb2.TensorProto, field: str, values: np.ndarray[Any, Any]) -> None:
    """Append ``values`` to a fixed-width repeated field as one packed wire record.

    The packed encoding of a repeated float/double field is its tag, the payload length,
    then the little-endian values back to back: exactly ``values``' buffer. Parsing that
    record fills the field in C, with no Python object per element.
    """
    payload = values.view(np.uint8)
    tag = _varint(_FIELDS[field].number << 3 | _LENGTH_DELIMITED)
    # join copies the array's buffer once, straight into the record.
    proto.MergeFromString(b"".join((tag, _varint(payload.size), payload.data)))


def _varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative ``value`` (tags and lengths only)."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
