"""Tensor element types, by TensorFlow's ``DataType`` numbers, without importing TensorFlow.

Every platform describes its tensors with these numbers (``DType``), so one signature type
serves TensorFlow, ONNX, scikit-learn and XGBoost alike, and each API translates at its
own edge: TF Serving's protos carry the number itself, the V2 protocol its name (``FP32``).

Contract:
- ``DType`` members have TensorFlow's enum values (``DType.DT_FLOAT == 1``), so a
  ``TensorProto.dtype`` can be compared with or assigned from them directly.
- ``dtype_to_numpy`` gives the array dtype a tensor of that type is held in: ``object``
  (of ``bytes``) for ``DT_STRING``, ``ml_dtypes.bfloat16`` for ``DT_BFLOAT16``,
  little-endian otherwise. A type with no array form (resources, variants) is
  INVALID_ARGUMENT naming it.
- ``numpy_to_dtype`` is its inverse; bytes, str and object arrays are ``DT_STRING``.
- ``dtype_name`` never fails: ``DataType(123)`` for a number TensorFlow does not define.
"""

from __future__ import annotations

import enum
from typing import Any, Final

import ml_dtypes
import numpy as np

from protocol.status import invalid_argument


class DType(enum.IntEnum):
    """TensorFlow's ``DataType`` values for the element types a servable can exchange."""

    DT_FLOAT = 1
    DT_DOUBLE = 2
    DT_INT32 = 3
    DT_UINT8 = 4
    DT_INT16 = 5
    DT_INT8 = 6
    DT_STRING = 7
    DT_COMPLEX64 = 8
    DT_INT64 = 9
    DT_BOOL = 10
    DT_BFLOAT16 = 14
    DT_UINT16 = 17
    DT_COMPLEX128 = 18
    DT_HALF = 19
    DT_UINT32 = 22
    DT_UINT64 = 23


# Names of the DataType values that no array carries, for messages only.
_OTHER_NAMES: Final = {
    0: "DT_INVALID",
    11: "DT_QINT8",
    12: "DT_QUINT8",
    13: "DT_QINT32",
    15: "DT_QINT16",
    16: "DT_QUINT16",
    20: "DT_RESOURCE",
    21: "DT_VARIANT",
}

_REF_OFFSET: Final = 100
_NAMES: Final = {int(member): member.name for member in DType}
BFLOAT16: Final = np.dtype(ml_dtypes.bfloat16)
STRING: Final = np.dtype(object)

NUMPY_DTYPES: Final[dict[DType, np.dtype[Any]]] = {
    DType.DT_HALF: np.dtype("<f2"),
    DType.DT_BFLOAT16: BFLOAT16,
    DType.DT_FLOAT: np.dtype("<f4"),
    DType.DT_DOUBLE: np.dtype("<f8"),
    DType.DT_INT8: np.dtype("i1"),
    DType.DT_INT16: np.dtype("<i2"),
    DType.DT_INT32: np.dtype("<i4"),
    DType.DT_INT64: np.dtype("<i8"),
    DType.DT_UINT8: np.dtype("u1"),
    DType.DT_UINT16: np.dtype("<u2"),
    DType.DT_UINT32: np.dtype("<u4"),
    DType.DT_UINT64: np.dtype("<u8"),
    DType.DT_BOOL: np.dtype("?"),
    DType.DT_STRING: STRING,
    DType.DT_COMPLEX64: np.dtype("<c8"),
    DType.DT_COMPLEX128: np.dtype("<c16"),
}

# Keyed by (kind, itemsize) rather than dtype so that byte order and numpy's aliases
# (longlong vs int64, intc vs int32) all land on the same member.
_BY_KIND_SIZE: Final[dict[tuple[str, int], DType]] = {
    (dtype.kind, dtype.itemsize): member
    for member, dtype in NUMPY_DTYPES.items()
    if dtype.kind in "fiubc"
}


def dtype_name(dtype: int) -> str:
    """``DT_FLOAT`` for 1; ``DataType(123)`` for a value TensorFlow does not define.

    No recursion and constant time for any integer (a client may send 2**31 - 1).
    """
    name = _defined_name(dtype)
    if name is None and dtype > _REF_OFFSET:  # TF encodes DT_X_REF as DT_X + 100, once
        base = _defined_name(dtype - _REF_OFFSET)
        if base is not None and dtype - _REF_OFFSET < _REF_OFFSET:
            name = base + "_REF"
    return name if name is not None else f"DataType({dtype})"


def _defined_name(dtype: int) -> str | None:
    if dtype in _NAMES:
        return _NAMES[dtype]
    return _OTHER_NAMES.get(dtype)


def tf_type_string(dtype: int) -> str:
    """TF's ``DataTypeString``: ``float`` for DT_FLOAT, ``bool`` for DT_BOOL, as in its errors."""
    name = dtype_name(dtype)
    return name[3:].lower() if name.startswith("DT_") else name


def dtype_to_numpy(dtype: int) -> np.dtype[Any]:
    """The numpy dtype a tensor of ``dtype`` is held in (``object`` for DT_STRING)."""
    try:
        return NUMPY_DTYPES[DType(dtype)]
    except ValueError:
        raise invalid_argument(f"unsupported tensor dtype {dtype_name(dtype)}") from None


def numpy_to_dtype(dtype: np.dtype[Any] | type) -> DType:
    """The ``DType`` of a numpy dtype; bytes, str and object arrays are DT_STRING."""
    dtype = np.dtype(dtype)
    found: DType | None
    if dtype == BFLOAT16:
        found = DType.DT_BFLOAT16
    elif dtype.kind in "OSU":
        found = DType.DT_STRING
    else:
        found = _BY_KIND_SIZE.get((dtype.kind, dtype.itemsize))
    if found is None:
        raise invalid_argument(f"numpy dtype {dtype} has no TensorFlow equivalent")
    return found
