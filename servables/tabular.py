"""The common servable of the gradient-boosting platforms: one feature matrix in, one array out.

A platform gives ``MatrixServable`` a ``predict(matrix) -> array`` function and its
feature count; the servable derives the signatures and checks the input:

- ``serving_default`` and ``predict`` (the same), method ``tensorflow/serving/predict``,
  input ``inputs``: a DT_DOUBLE matrix ``[-1, n_features]`` (LightGBM and CatBoost compute
  in float64; JSON numbers decode to it, a binary tensor must be FP64 / DT_DOUBLE),
  output ``predictions``: DT_DOUBLE, shaped as ``predict`` answers a row of zeros at load
  time (``[-1]`` for one value per row, ``[-1, k]`` for k class probabilities).
- A matrix with another number of columns, or not a matrix, is INVALID_ARGUMENT naming
  the shape it must have; the library's own ``ValueError`` is INVALID_ARGUMENT too.
- ``predict`` runs under a lock: neither library documents its predict as thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import numpy as np

from protocol.dtypes import DType
from protocol.signatures import DEFAULT_SIGNATURE, PREDICT_METHOD, Signature, TensorSpec
from protocol.status import invalid_argument
from servables.servable import Servable

INPUTS: Final = "inputs"
PREDICTIONS: Final = "predictions"
PREDICT_SIGNATURE: Final = "predict"

Predict = Callable[[np.ndarray], np.ndarray]


class MatrixServable(Servable):
    """One model answering ``predict(matrix)`` (see the module docstring)."""

    def __init__(
        self,
        *,
        platform: str,
        model_name: str,
        version: int,
        predict: Predict,
        n_features: int,
        errors: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.platform = platform
        self.model_name = model_name
        self.version = version
        self._predict: Predict | None = predict
        self._n_features = n_features
        self._errors: tuple[type[BaseException], ...] = (ValueError, *errors)
        self._lock = threading.Lock()
        probe = np.asarray(predict(np.zeros((1, n_features), np.float64)))
        spec = TensorSpec(
            alias=INPUTS, tensor_name=INPUTS, dtype=DType.DT_DOUBLE, shape=(-1, n_features)
        )
        output = TensorSpec(
            alias=PREDICTIONS,
            tensor_name=PREDICTIONS,
            dtype=DType.DT_DOUBLE,
            shape=(-1, *probe.shape[1:]),
        )
        self.signatures = {
            name: Signature(
                name=name,
                method_name=PREDICT_METHOD,
                inputs={INPUTS: spec},
                outputs={PREDICTIONS: output},
            )
            for name in (DEFAULT_SIGNATURE, PREDICT_SIGNATURE)
        }

    def run(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
    ) -> dict[str, np.ndarray]:
        predict = self._predict
        if predict is None:
            raise RuntimeError(f"{self.platform} servable used after unload")
        matrix = inputs[INPUTS]
        if matrix.ndim != 2 or matrix.shape[1] != self._n_features:
            raise invalid_argument(
                f'input "{INPUTS}" must be a matrix of shape [batch, {self._n_features}], '
                f"got {list(matrix.shape)}"
            )
        try:
            with self._lock:
                predictions = predict(matrix.astype(np.float64, copy=False))
        except self._errors as error:
            raise invalid_argument(str(error).strip().split("\n")[0]) from error
        return {PREDICTIONS: np.asarray(predictions, dtype=np.float64)}

    def unload(self) -> None:
        self._predict = None
