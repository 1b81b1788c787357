"""dataplane.samples: gen_json bodies from signatures alone."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from dataplane.samples import concrete_shape, sample_body
from protocol.dtypes import DType, dtype_to_numpy
from protocol.rest_codec import parse_predict_body, request_to_tensors
from protocol.signatures import Signature, TensorSpec
from protocol.status import ServingError


def spec(alias: str, dtype: DType, shape: tuple[int, ...] | None) -> TensorSpec:
    return TensorSpec(alias=alias, tensor_name=f"{alias}:0", dtype=dtype, shape=shape)


def signature(*inputs: TensorSpec) -> Signature:
    return Signature(
        name="sig",
        method_name="tensorflow/serving/predict",
        inputs={s.alias: s for s in inputs},
        outputs={},
    )


def decode(body: dict[str, Any], sig: Signature) -> dict[str, np.ndarray]:
    import json

    parsed = parse_predict_body(json.dumps(body).encode())
    return request_to_tensors(parsed, {a: dtype_to_numpy(s.dtype) for a, s in sig.inputs.items()})


def test_batch_dimension_takes_n_and_other_unknown_dimensions_take_one() -> None:
    assert concrete_shape(spec("x", DType.DT_FLOAT, (-1, 3, -1)), 4) == (4, 3, 1)
    assert concrete_shape(spec("x", DType.DT_FLOAT, None), 2) == (2,)
    assert concrete_shape(spec("x", DType.DT_FLOAT, ()), 2) == ()


def test_every_dtype_round_trips_through_the_rest_decoder_with_the_right_shapes() -> None:
    sig = signature(
        spec("f", DType.DT_FLOAT, (-1, 2)),
        spec("i", DType.DT_INT64, (-1,)),
        spec("b", DType.DT_BOOL, (-1, 1)),
        spec("s", DType.DT_STRING, (-1,)),
        spec("u", DType.DT_UINT8, (-1, 2, 2)),
    )
    for row_format in (True, False):
        tensors = decode(sample_body(sig, batch=3, row_format=row_format), sig)
        assert tensors["f"].shape == (3, 2) and tensors["f"].dtype == np.float32
        assert tensors["i"].tolist() == [0, 1, 2]
        assert tensors["b"].shape == (3, 1)
        assert tensors["s"].tolist() == [b"sample-0", b"sample-1", b"sample-2"]
        assert tensors["u"].shape == (3, 2, 2)


def test_values_are_deterministic_and_strings_are_b64() -> None:
    sig = signature(spec("s", DType.DT_STRING, (-1,)))
    body = sample_body(sig)
    assert body == sample_body(sig)
    assert body == {
        "signature_name": "sig",
        "instances": [{"b64": base64.b64encode(b"sample-0").decode()}],
    }


def test_row_format_needs_a_batch_dimension_and_the_default_falls_back_to_columnar() -> None:
    sig = signature(spec("x", DType.DT_FLOAT, (2,)))
    assert "inputs" in sample_body(sig)
    with pytest.raises(ServingError, match="input 'x' has none"):
        sample_body(sig, row_format=True)


def test_a_huge_shape_is_refused() -> None:
    with pytest.raises(ServingError, match="sample elements"):
        sample_body(signature(spec("x", DType.DT_FLOAT, (-1, 100000, 100))))
