"""tf.Example rows for the feature-matrix platforms (scikit-learn, XGBoost): Classify and Regress.

TF Serving's Classify and Regress feed a signature one DT_STRING ``[N]`` tensor of serialized
``tf.Example`` protos under the alias ``inputs`` (``servables.tensorflow.example_apis``). A
platform whose model reads a float matrix exposes ``classify`` / ``regress`` signatures
whose input is that tensor (``examples_input``) and turns it into the matrix here, so the
existing plans, batching included, apply unchanged. The mapping:

- the model has column names (scikit-learn's ``feature_names_in_``, a booster's
  ``feature_names``): each Example holds one number per column, a feature of that name;
- otherwise one feature ``inputs`` holding all ``n_features`` numbers of the row.

A feature may be a ``float_list`` or an ``int64_list``. A missing feature, a wrong number of
values or a row that is not an Example is INVALID_ARGUMENT naming the problem.
The Examples are parsed with ``servables.example_proto``, so nothing here imports TensorFlow.
``classify_outputs`` and ``regress_outputs`` shape the model's answers as the plans expect:
``classes`` DT_STRING ``[N, K]`` with ``scores`` DT_FLOAT ``[N, K]``; ``outputs`` DT_FLOAT ``[N]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
from google.protobuf.message import DecodeError

from protocol.dtypes import DType
from protocol.signatures import CLASSIFY_METHOD, REGRESS_METHOD, Signature, TensorSpec
from protocol.status import invalid_argument
from servables.example_proto import Example

CLASSIFY_SIGNATURE: Final = "classify"
REGRESS_SIGNATURE: Final = "regress"
EXAMPLES: Final = "inputs"
CLASSES: Final = "classes"
SCORES: Final = "scores"
OUTPUTS: Final = "outputs"


def _spec(alias: str, dtype: int, shape: tuple[int, ...]) -> TensorSpec:
    return TensorSpec(alias=alias, tensor_name=alias, dtype=dtype, shape=shape)


def classify_signature(num_classes: int, *, with_scores: bool) -> Signature:
    """``classify``: serialized Examples in; ``classes`` (and ``scores``) ``[-1, num_classes]`` out."""
    outputs = {CLASSES: _spec(CLASSES, DType.DT_STRING, (-1, num_classes))}
    if with_scores:
        outputs[SCORES] = _spec(SCORES, DType.DT_FLOAT, (-1, num_classes))
    return Signature(
        name=CLASSIFY_SIGNATURE,
        method_name=CLASSIFY_METHOD,
        inputs={EXAMPLES: _spec(EXAMPLES, DType.DT_STRING, (-1,))},
        outputs=outputs,
    )


def regress_signature() -> Signature:
    """``regress``: serialized Examples in; ``outputs`` DT_FLOAT ``[-1]`` out."""
    return Signature(
        name=REGRESS_SIGNATURE,
        method_name=REGRESS_METHOD,
        inputs={EXAMPLES: _spec(EXAMPLES, DType.DT_STRING, (-1,))},
        outputs={OUTPUTS: _spec(OUTPUTS, DType.DT_FLOAT, (-1,))},
    )


def is_example_signature(signature: Signature) -> bool:
    return signature.name in (CLASSIFY_SIGNATURE, REGRESS_SIGNATURE)


def _values(example: Any, name: str, row: int) -> list[float]:
    features = example.features.feature
    if name not in features:
        raise invalid_argument(f'Example {row} has no feature "{name}"')
    feature = features[name]
    kind = feature.WhichOneof("kind")
    if kind == "float_list":
        return list(feature.float_list.value)
    if kind == "int64_list":
        return [float(v) for v in feature.int64_list.value]
    raise invalid_argument(
        f'feature "{name}" of Example {row} must be a float_list or int64_list, got {kind}'
    )


def examples_matrix(
    serialized: np.ndarray, n_features: int, columns: Sequence[str] | None
) -> np.ndarray:
    """The float64 ``[N, n_features]`` matrix of ``serialized`` Examples (see the module doc)."""
    rows = np.empty((len(serialized), n_features), dtype=np.float64)
    for row, data in enumerate(serialized.reshape(-1).tolist()):
        try:
            example = Example.FromString(bytes(data))
        except (DecodeError, TypeError) as error:
            raise invalid_argument(f"row {row} is not a serialized tf.Example: {error}") from error
        if columns is None:
            values = _values(example, EXAMPLES, row)
            if len(values) != n_features:
                raise invalid_argument(
                    f'feature "{EXAMPLES}" of Example {row} must hold {n_features} values, '
                    f"got {len(values)}"
                )
            rows[row] = values
            continue
        for column, name in enumerate(columns):
            values = _values(example, name, row)
            if len(values) != 1:
                raise invalid_argument(
                    f'feature "{name}" of Example {row} must hold one value, got {len(values)}'
                )
            rows[row, column] = values[0]
    return rows


def classify_outputs(
    labels: Sequence[object], scores: np.ndarray | None, predicted: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """``classes`` (every label, each row) with ``scores``; or the ``predicted`` label alone."""
    if scores is None:
        assert predicted is not None
        classes = np.array([[str(label)] for label in predicted.tolist()], dtype=object)
        return {CLASSES: classes}
    text = np.array([str(label) for label in labels], dtype=object)
    return {
        CLASSES: np.tile(text, (scores.shape[0], 1)),
        SCORES: np.asarray(scores, dtype=np.float32),
    }


def regress_outputs(values: np.ndarray) -> dict[str, np.ndarray]:
    return {OUTPUTS: np.asarray(values, dtype=np.float32).reshape(-1)}


def wanted(outputs: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
    return {name: outputs[name] for name in names} if names else dict(outputs)
