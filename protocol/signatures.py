"""Signatures: the named entry points of a model version, as plain values.

A ``Signature`` is what every platform's loader derives from its artifact (a SavedModel's
SignatureDefs, an ONNX graph's inputs and outputs, an estimator's feature count) and what
every API describes to clients. It holds no framework object, so any module may use it.

- ``TensorSpec.shape`` is ``None`` for an unknown rank and holds -1 for an unknown
  dimension; ``dtype`` is a ``protocol.dtypes.DType`` number (any TensorFlow
  ``DataType`` number for a tensor no API can carry, such as a resource).
- ``tensor_name`` is the platform's own name for the tensor (``x:0`` in a TF graph).
- ``method_name`` is TF Serving's (``tensorflow/serving/predict`` and friends).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Final

DEFAULT_SIGNATURE: Final = "serving_default"
PREDICT_METHOD: Final = "tensorflow/serving/predict"
CLASSIFY_METHOD: Final = "tensorflow/serving/classify"
REGRESS_METHOD: Final = "tensorflow/serving/regress"
INIT_OP_SIGNATURE: Final = "__saved_model_init_op"
SIGNATURE_DEF_FIELD: Final = "signature_def"
"""GetModelMetadata's one metadata field: the signatures, as a ``SignatureDefMap``."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TensorSpec:
    """One named input or output of a signature."""

    alias: str
    tensor_name: str
    dtype: int
    shape: tuple[int, ...] | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Signature:
    """A named entry point of a model: method, inputs and outputs by alias."""

    name: str
    method_name: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]
