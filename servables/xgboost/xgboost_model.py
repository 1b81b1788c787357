"""Loader and servable for XGBoost models (``model_platform: "xgboost"``).

A version folder holds ``model.ubj``, ``model.json`` or ``model.bst`` (looked for in that
order), as written by ``Booster.save_model`` (or ``XGBModel.save_model``). It is loaded
into an ``xgboost.Booster``; no pickle is involved.

Signatures are derived from the booster: ``serving_default`` and ``predict`` (the same),
method ``tensorflow/serving/predict``, input ``inputs``, a float32 (DT_FLOAT) matrix
``[-1, num_features()]`` (XGBoost computes in float32), output ``predictions`` DT_FLOAT
whose meaning is the objective's, exactly what ``Booster.predict`` returns: probabilities
for ``binary:logistic`` and ``multi:softprob`` (``[-1, num_class]``), class indices for
``multi:softmax``, margins for ``binary:logitraw``, values for regression objectives
(``[-1, num_target]`` for multi-target models). The output's shape is read from one
prediction on a row of zeros at load time, so it is what the objective really gives.
A booster saved with feature names keeps them; the matrix's columns are taken in that order.

For TF Serving's Classify and Regress, where the objective makes the mapping natural, a
``classify`` or ``regress`` signature reads serialized tf.Examples, one row each
(``servables.example_features``: one feature per booster feature name, else one
``inputs`` feature of ``num_features()`` numbers): ``multi:softprob`` classifies into
classes ``"0"`` .. ``"num_class-1"`` scored by the probabilities; ``binary:logistic`` into
``"0"`` and ``"1"`` scored ``1 - p`` and ``p``; a single-target ``reg:*`` objective
regresses. Other objectives (``multi:softmax``, ``binary:logitraw``, ranking, ...) have neither.

A missing or corrupt file fails the load with XGBoost's reason. At run time a wrong
number of columns is INVALID_ARGUMENT. ``Booster.predict`` is thread-safe (XGBoost >= 1.4).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import xgboost

from protocol.dtypes import DType
from protocol.signatures import DEFAULT_SIGNATURE, PREDICT_METHOD, Signature, TensorSpec
from protocol.status import invalid_argument
from servables import example_features
from servables.loader import VersionLoader
from servables.servable import Servable
from servables.version_folder import VersionExtras, finish_load, require_artifact

PLATFORM: Final = "xgboost"
INPUTS: Final = "inputs"
PREDICTIONS: Final = "predictions"
PREDICT_SIGNATURE: Final = "predict"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class XgboostOptions:
    extras: VersionExtras = dataclasses.field(default_factory=VersionExtras)


class XgboostServable(Servable):
    """One ``xgboost.Booster``."""

    platform = PLATFORM

    def __init__(self, *, model_name: str, version: int, booster: xgboost.Booster) -> None:
        self.model_name = model_name
        self.version = version
        self._booster: xgboost.Booster | None = booster
        self._n_features = booster.num_features()
        self._feature_names = booster.feature_names
        probe = self._predict(booster, np.zeros((1, self._n_features), np.float32))
        inputs = {
            INPUTS: TensorSpec(
                alias=INPUTS, tensor_name=INPUTS, dtype=DType.DT_FLOAT, shape=(-1, self._n_features)
            )
        }
        outputs = {
            PREDICTIONS: TensorSpec(
                alias=PREDICTIONS,
                tensor_name=PREDICTIONS,
                dtype=DType.DT_FLOAT,
                shape=(-1, *probe.shape[1:]),
            )
        }
        self.signatures = {
            name: Signature(name=name, method_name=PREDICT_METHOD, inputs=inputs, outputs=outputs)
            for name in (DEFAULT_SIGNATURE, PREDICT_SIGNATURE)
        }
        self._objective = str(json.loads(booster.save_config())["learner"]["objective"]["name"])
        if self._objective == "multi:softprob" and probe.ndim == 2:
            self.signatures[example_features.CLASSIFY_SIGNATURE] = (
                example_features.classify_signature(probe.shape[1], with_scores=True)
            )
        elif self._objective == "binary:logistic" and probe.shape == (1,):
            self.signatures[example_features.CLASSIFY_SIGNATURE] = (
                example_features.classify_signature(2, with_scores=True)
            )
        elif self._objective.startswith("reg:") and probe.shape == (1,):
            self.signatures[example_features.REGRESS_SIGNATURE] = (
                example_features.regress_signature()
            )

    def _from_examples(
        self, booster: xgboost.Booster, signature: Signature, inputs: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        rows = example_features.examples_matrix(
            inputs[example_features.EXAMPLES], self._n_features, self._feature_names
        )
        predictions = self._predict(booster, rows.astype(np.float32))
        if signature.name == example_features.REGRESS_SIGNATURE:
            return example_features.regress_outputs(predictions)
        if predictions.ndim == 1:  # binary:logistic: the probability of class 1
            predictions = np.stack([1 - predictions, predictions], axis=1)
        labels = [str(c) for c in range(predictions.shape[1])]
        return example_features.classify_outputs(labels, predictions)

    def _predict(self, booster: xgboost.Booster, matrix: np.ndarray) -> np.ndarray:
        if matrix.ndim != 2 or matrix.shape[1] != self._n_features:
            raise invalid_argument(
                f'input "{INPUTS}" must be a matrix of shape [batch, {self._n_features}], got {list(matrix.shape)}'
            )
        data = xgboost.DMatrix(matrix, feature_names=self._feature_names)
        return np.asarray(booster.predict(data, validate_features=False), dtype=np.float32)

    def run(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
    ) -> dict[str, np.ndarray]:
        booster = self._booster
        if booster is None:
            raise RuntimeError("XGBoost servable used after unload")
        try:
            if example_features.is_example_signature(signature):
                return example_features.wanted(
                    self._from_examples(booster, signature, inputs), output_names
                )
            return {PREDICTIONS: self._predict(booster, inputs[INPUTS])}
        except (ValueError, xgboost.core.XGBoostError) as error:
            raise invalid_argument(str(error).strip().split("\n")[0]) from error

    def unload(self) -> None:
        self._booster = None


class XgboostLoader(VersionLoader[XgboostOptions]):
    """Loads ``model.ubj`` / ``model.json`` / ``model.bst`` from one version folder."""

    def load(self) -> XgboostServable:
        file = require_artifact(PLATFORM, self.path)
        booster = xgboost.Booster()
        booster.load_model(file)
        servable = XgboostServable(
            model_name=self.model_name, version=self.version, booster=booster
        )
        finish_load(servable, self.path, self._options.extras)
        return servable
