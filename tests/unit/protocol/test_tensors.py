"""protocol.tensors: exact round trips for every dtype, checked against TensorFlow itself."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from protocol.dtypes import dtype_to_numpy, numpy_to_dtype
from protocol.status import Code, ServingError, safe_message
from protocol.tensors import (
    VARINT_FIELD_MAX_ELEMENTS,
    decode_inputs,
    ndarray_to_tensor_proto,
    tensor_proto_to_ndarray,
)

NUMERIC_DTYPES: dict[int, Any] = {
    types_pb2.DT_HALF: np.float16,
    types_pb2.DT_BFLOAT16: ml_dtypes.bfloat16,
    types_pb2.DT_FLOAT: np.float32,
    types_pb2.DT_DOUBLE: np.float64,
    types_pb2.DT_INT8: np.int8,
    types_pb2.DT_INT16: np.int16,
    types_pb2.DT_INT32: np.int32,
    types_pb2.DT_INT64: np.int64,
    types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_UINT16: np.uint16,
    types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_UINT64: np.uint64,
    types_pb2.DT_BOOL: np.bool_,
    types_pb2.DT_COMPLEX64: np.complex64,
    types_pb2.DT_COMPLEX128: np.complex128,
}
ALL_DTYPES = [*NUMERIC_DTYPES, types_pb2.DT_STRING]


def sample(dtype_enum: int, size: int, seed: int = 0) -> np.ndarray[Any, Any]:
    """``size`` values of the dtype including its extremes, specials and signed zeros."""
    rng = np.random.default_rng(seed)
    if dtype_enum == types_pb2.DT_STRING:
        pool = [b"", b"a", b"\x00nul\x00", b"\xff\xfe not utf-8", "é".encode(), b"x" * 300]
        values = np.empty(size, dtype=object)
        values[:] = [pool[i % len(pool)] for i in range(size)]
        return values
    dtype = np.dtype(NUMERIC_DTYPES[dtype_enum])
    if dtype.kind == "b":
        return rng.integers(0, 2, size).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size, dtype=dtype, endpoint=True)
        values[: min(size, 3)] = [info.min, info.max, 0][: min(size, 3)]
        return values
    if dtype.kind == "c":
        real = rng.standard_normal(size) * 1e3
        return (real + 1j * rng.standard_normal(size)).astype(dtype)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], dtype=np.float64)
    values = (rng.standard_normal(size) * 1e3).astype(dtype)
    values[: min(size, 5)] = specials[: min(size, 5)].astype(dtype)
    return values


def assert_identical(actual: np.ndarray[Any, Any], expected: np.ndarray[Any, Any]) -> None:
    """Same dtype, shape and bits (so NaN == NaN and -0.0 != 0.0)."""
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if expected.dtype == object:
        assert actual.tolist() == expected.tolist()
    else:
        assert actual.tobytes() == expected.tobytes()


def proto_with(dtype_enum: int, shape: list[int], **fields: Any) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype_enum, **fields)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def assert_invalid(proto: tensor_pb2.TensorProto, *fragments: str) -> None:
    with pytest.raises(ServingError) as caught:
        tensor_proto_to_ndarray(proto)
    assert caught.value.code is Code.INVALID_ARGUMENT
    for fragment in fragments:
        assert fragment in caught.value.message


# -- dtype mapping ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype_enum", ALL_DTYPES, ids=types_pb2.DataType.Name)
def test_dtype_maps_both_ways(dtype_enum: int) -> None:
    assert numpy_to_dtype(dtype_to_numpy(dtype_enum)) == dtype_enum


@pytest.mark.parametrize("dtype_enum", NUMERIC_DTYPES, ids=types_pb2.DataType.Name)
def test_dtype_matches_tensorflow(dtype_enum: int) -> None:
    assert dtype_to_numpy(dtype_enum) == tf.dtypes.as_dtype(dtype_enum).as_numpy_dtype


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.dtype(np.longlong), types_pb2.DT_INT64),
        (np.dtype(np.intc), types_pb2.DT_INT32),
        (np.dtype(">f4"), types_pb2.DT_FLOAT),
        (np.dtype("S5"), types_pb2.DT_STRING),
        (np.dtype("U5"), types_pb2.DT_STRING),
        (np.dtype(object), types_pb2.DT_STRING),
        (np.dtype(ml_dtypes.bfloat16), types_pb2.DT_BFLOAT16),
    ],
)
def test_numpy_aliases_and_byte_orders_share_an_enum(dtype: np.dtype[Any], expected: int) -> None:
    assert numpy_to_dtype(dtype) == expected


@pytest.mark.parametrize(
    ("dtype_enum", "name"),
    [
        (types_pb2.DT_INVALID, "DT_INVALID"),
        (types_pb2.DT_RESOURCE, "DT_RESOURCE"),
        (types_pb2.DT_VARIANT, "DT_VARIANT"),
        (types_pb2.DT_FLOAT_REF, "DT_FLOAT_REF"),
        (999, "DataType(999)"),
    ],
)
def test_unsupported_dtype_enum_is_invalid_argument(dtype_enum: int, name: str) -> None:
    with pytest.raises(ServingError) as caught:
        dtype_to_numpy(dtype_enum)
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert name in caught.value.message
    assert_invalid(proto_with(dtype_enum, [1], float_val=[1.0]), name)


@pytest.mark.parametrize(
    "dtype", [np.dtype("datetime64[s]"), np.dtype(np.longdouble), np.dtype("V4")]
)
def test_unsupported_numpy_dtype_is_invalid_argument(dtype: np.dtype[Any]) -> None:
    with pytest.raises(ServingError) as caught:
        numpy_to_dtype(dtype)
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert str(dtype) in caught.value.message


# -- round trips ------------------------------------------------------------------------

SIZES = [1, 6, VARINT_FIELD_MAX_ELEMENTS, VARINT_FIELD_MAX_ELEMENTS + 1, 5000]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype_enum", ALL_DTYPES, ids=types_pb2.DataType.Name)
def test_our_encoding_decodes_exactly_in_tensorflow_and_here(dtype_enum: int, size: int) -> None:
    array = sample(dtype_enum, size).reshape(size, 1)
    proto = ndarray_to_tensor_proto(array)
    assert proto.dtype == dtype_enum
    assert_identical(tf.make_ndarray(proto), array)
    assert_identical(tensor_proto_to_ndarray(proto), array)
    # The wire form parses back to the same tensor (what a gRPC client really receives).
    reparsed = tensor_pb2.TensorProto.FromString(proto.SerializeToString())
    assert_identical(tensor_proto_to_ndarray(reparsed), array)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype_enum", ALL_DTYPES, ids=types_pb2.DataType.Name)
def test_tensorflow_encoding_decodes_exactly(dtype_enum: int, size: int) -> None:
    array = sample(dtype_enum, size, seed=1).reshape(1, size)
    assert_identical(tensor_proto_to_ndarray(tf.make_tensor_proto(array)), array)


@pytest.mark.parametrize("dtype_enum", ALL_DTYPES, ids=types_pb2.DataType.Name)
@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (1, 1, 1, 1)])
def test_scalars_and_empty_tensors_round_trip(dtype_enum: int, shape: tuple[int, ...]) -> None:
    count = int(np.prod(shape))
    array = sample(dtype_enum, max(count, 1))[:count].reshape(shape)
    proto = ndarray_to_tensor_proto(array)
    assert [dim.size for dim in proto.tensor_shape.dim] == list(shape)
    assert_identical(tensor_proto_to_ndarray(proto), array)
    assert_identical(tf.make_ndarray(proto), array)


@pytest.mark.parametrize(
    ("dtype_enum", "field"),
    [
        (types_pb2.DT_FLOAT, "float_val"),
        (types_pb2.DT_DOUBLE, "double_val"),
        (types_pb2.DT_COMPLEX64, "scomplex_val"),
        (types_pb2.DT_COMPLEX128, "dcomplex_val"),
    ],
)
def test_floats_always_use_the_typed_field_like_tf_serving(dtype_enum: int, field: str) -> None:
    array = sample(dtype_enum, 5000)
    proto = ndarray_to_tensor_proto(array)
    assert not proto.tensor_content
    per_element = 2 if array.dtype.kind == "c" else 1
    assert len(getattr(proto, field)) == array.size * per_element


@pytest.mark.parametrize(
    ("dtype_enum", "field"),
    [
        (types_pb2.DT_HALF, "half_val"),
        (types_pb2.DT_BFLOAT16, "half_val"),
        (types_pb2.DT_INT8, "int_val"),
        (types_pb2.DT_UINT16, "int_val"),
        (types_pb2.DT_INT64, "int64_val"),
        (types_pb2.DT_UINT32, "uint32_val"),
        (types_pb2.DT_UINT64, "uint64_val"),
        (types_pb2.DT_BOOL, "bool_val"),
    ],
)
def test_varint_dtypes_use_the_typed_field_up_to_the_limit(dtype_enum: int, field: str) -> None:
    small = ndarray_to_tensor_proto(sample(dtype_enum, VARINT_FIELD_MAX_ELEMENTS))
    assert len(getattr(small, field)) == VARINT_FIELD_MAX_ELEMENTS
    assert not small.tensor_content
    large = ndarray_to_tensor_proto(sample(dtype_enum, VARINT_FIELD_MAX_ELEMENTS + 1))
    assert len(getattr(large, field)) == 0
    assert len(large.tensor_content) == large_nbytes(dtype_enum)


def large_nbytes(dtype_enum: int) -> int:
    return (VARINT_FIELD_MAX_ELEMENTS + 1) * dtype_to_numpy(dtype_enum).itemsize


def test_half_val_holds_bit_patterns() -> None:
    proto = ndarray_to_tensor_proto(np.array([1.0, -2.0], dtype=np.float16))
    assert list(proto.half_val) == [0x3C00, 0xC000]
    proto = ndarray_to_tensor_proto(np.array([1.0], dtype=ml_dtypes.bfloat16))
    assert list(proto.half_val) == [0x3F80]


def test_non_contiguous_and_big_endian_arrays_encode_their_values() -> None:
    base = np.arange(12, dtype=">f4").reshape(3, 4)
    view = base[:, ::2].T
    assert_identical(tensor_proto_to_ndarray(ndarray_to_tensor_proto(view)), view.astype("<f4"))
    ints = np.arange(6, dtype=">i8")
    assert tf.make_ndarray(ndarray_to_tensor_proto(ints)).tolist() == list(range(6))


def test_dtype_enum_casts_the_array() -> None:
    proto = ndarray_to_tensor_proto(np.array([[0.5, 2.0]]), dtype_enum=types_pb2.DT_FLOAT)
    assert proto.dtype == types_pb2.DT_FLOAT
    assert_identical(tf.make_ndarray(proto), np.array([[0.5, 2.0]], dtype=np.float32))


def test_python_values_and_text_encode() -> None:
    assert list(ndarray_to_tensor_proto(3.5).double_val) == [3.5]
    proto = ndarray_to_tensor_proto(np.array(["é", "b"]))
    assert list(proto.string_val) == ["é".encode(), b"b"]
    objects = np.array(["text", b"raw"], dtype=object)
    assert list(ndarray_to_tensor_proto(objects).string_val) == [b"text", b"raw"]


def test_string_tensor_of_numbers_is_refused_not_zero_filled() -> None:
    with pytest.raises(ServingError) as caught:
        ndarray_to_tensor_proto(np.array([3], dtype=object))
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert "int" in caught.value.message


def test_uncastable_array_is_invalid_argument() -> None:
    with pytest.raises(ServingError) as caught:
        ndarray_to_tensor_proto(np.array([b"x"], dtype=object), dtype_enum=types_pb2.DT_FLOAT)
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert "DT_FLOAT" in caught.value.message


def test_out_fills_a_response_entry_in_place() -> None:
    response = predict_pb2.PredictResponse()
    response.outputs["stale"].float_val.append(9.0)
    target = response.outputs["y"]
    target.int64_val.append(7)
    returned = ndarray_to_tensor_proto(np.array([1.5, 2.5], dtype=np.float32), out=target)
    assert returned is target
    parsed = predict_pb2.PredictResponse.FromString(response.SerializeToString())
    assert list(parsed.outputs["y"].int64_val) == []
    assert_identical(tf.make_ndarray(parsed.outputs["y"]), np.array([1.5, 2.5], np.float32))


# -- typed-field element counts (Tensor::FromProto semantics) ---------------------------


@pytest.mark.parametrize(
    ("dtype_enum", "fields", "expected"),
    [
        (types_pb2.DT_FLOAT, {"float_val": [2.5]}, np.full((2, 3), 2.5, np.float32)),
        (types_pb2.DT_INT8, {"int_val": [-3]}, np.full((2, 3), -3, np.int8)),
        (types_pb2.DT_HALF, {"half_val": [0x3C00]}, np.ones((2, 3), np.float16)),
        (types_pb2.DT_COMPLEX64, {"scomplex_val": [1, 2]}, np.full((2, 3), 1 + 2j, np.complex64)),
        (types_pb2.DT_STRING, {"string_val": [b"s"]}, np.full((2, 3), b"s", dtype=object)),
        (types_pb2.DT_BOOL, {"bool_val": [True]}, np.ones((2, 3), bool)),
    ],
)
def test_one_value_broadcasts_to_the_shape(
    dtype_enum: int, fields: dict[str, Any], expected: np.ndarray[Any, Any]
) -> None:
    proto = proto_with(dtype_enum, [2, 3], **fields)
    assert_identical(tensor_proto_to_ndarray(proto), expected)
    assert_identical(tf.make_ndarray(proto), expected)


def test_fewer_values_repeat_the_last_like_tensorflow() -> None:
    proto = proto_with(types_pb2.DT_FLOAT, [4], float_val=[1.0, 2.0])
    assert_identical(tensor_proto_to_ndarray(proto), np.array([1, 2, 2, 2], np.float32))
    assert_identical(tf.make_ndarray(proto), np.array([1, 2, 2, 2], np.float32))


@pytest.mark.parametrize("dtype_enum", ALL_DTYPES, ids=types_pb2.DataType.Name)
def test_no_values_means_zeros_like_tensorflow(dtype_enum: int) -> None:
    proto = proto_with(dtype_enum, [2, 2])
    expected = tf.make_ndarray(proto)
    if dtype_enum == types_pb2.DT_STRING:
        expected = np.full((2, 2), b"", dtype=object)
    assert_identical(tensor_proto_to_ndarray(proto), expected)


def test_more_values_than_the_shape_holds_is_invalid_argument() -> None:
    proto = proto_with(types_pb2.DT_INT32, [2], int_val=[1, 2, 3])
    assert_invalid(proto, "size mismatch", "3 values", "2 elements", "DT_INT32")


def test_tensor_content_size_mismatch_is_invalid_argument() -> None:
    proto = proto_with(types_pb2.DT_FLOAT, [3], tensor_content=b"\x00" * 8)
    assert_invalid(proto, "size mismatch", "8 bytes", "12 bytes", "[3]", "DT_FLOAT")


def test_odd_complex_float_count_is_invalid_argument() -> None:
    assert_invalid(proto_with(types_pb2.DT_COMPLEX64, [1], scomplex_val=[1.0]), "pairs")


def test_string_tensor_content_is_invalid_argument() -> None:
    assert_invalid(proto_with(types_pb2.DT_STRING, [1], tensor_content=b"abc"), "string_val")


def test_unknown_rank_is_invalid_argument() -> None:
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0])
    proto.tensor_shape.unknown_rank = True
    assert_invalid(proto, "unknown rank")


def test_negative_dimension_is_invalid_argument() -> None:
    assert_invalid(proto_with(types_pb2.DT_FLOAT, [2, -1], float_val=[1.0]), "negative", "[2, -1]")


def test_narrow_integers_arrive_widened_in_int_val() -> None:
    proto = proto_with(types_pb2.DT_UINT8, [3], int_val=[0, 128, 255])
    assert_identical(tensor_proto_to_ndarray(proto), np.array([0, 128, 255], np.uint8))
    proto = proto_with(types_pb2.DT_INT16, [2], int_val=[-32768, 32767])
    assert_identical(tensor_proto_to_ndarray(proto), np.array([-32768, 32767], np.int16))


def test_tensor_content_decodes_without_copying() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    proto = tf.make_tensor_proto(array)
    decoded = tensor_proto_to_ndarray(proto)
    assert_identical(decoded, array)
    assert not decoded.flags.writeable  # a view of the request bytes: callers copy to mutate


def _float_tensor(*dims: int) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=1)
    for size in dims:
        proto.tensor_shape.dim.add(size=size)
    proto.float_val.append(1.0)
    return proto


def test_decode_inputs_refuses_a_request_over_the_cap_before_allocating() -> None:
    inputs = {"a": _float_tensor(100), "b": _float_tensor(2**28, 1)}
    with pytest.raises(ServingError) as raised:
        decode_inputs(inputs, max_bytes=1024**2)
    message = raised.value.message
    assert raised.value.code is Code.INVALID_ARGUMENT
    assert "'b'" in message and "[268435456, 1]" in message and str(1024**2) in message
    decoded = decode_inputs({"a": _float_tensor(100)}, max_bytes=400)  # exactly at the cap
    assert decoded["a"].shape == (100,)


@pytest.mark.parametrize(
    "dims",
    [(1,) * 65, (1,) * 255, (2**40, 2**40, 2**40), (0, 1518494220, 1518506280)],
)
def test_shapes_numpy_cannot_hold_are_invalid_argument(dims: tuple[int, ...]) -> None:
    with pytest.raises(ServingError) as raised:
        decode_inputs({"x": _float_tensor(*dims)}, max_bytes=None)
    assert raised.value.code is Code.INVALID_ARGUMENT


def test_safe_message_replaces_lone_surrogates_and_truncates() -> None:
    assert safe_message("bad \ud800 text") == "bad ? text"
    long = safe_message("y" * 10_000)
    assert long.startswith("y" * 4096) and long.endswith("[truncated: 5904 more characters]")
