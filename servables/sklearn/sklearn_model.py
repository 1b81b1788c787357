"""Loader and servable for scikit-learn estimators (``model_platform: "sklearn"``).

A version folder holds ``model.joblib`` (or ``model.pkl``), written with ``joblib.dump``
(a plain ``pickle.dump`` file loads too). **Loading a pickle runs code**: whoever can
write into a model folder can run anything as the server's user. Only operators put
files in model folders; never point a base path at a folder others can write to. (MLServer
and KServe say the same of their scikit-learn runtimes.)

Signatures are derived from the estimator (a ``Pipeline`` counts as its last step):

- input: a float64 (DT_DOUBLE) matrix ``[-1, n_features_in_]`` called ``inputs``; when
  the estimator was fitted with column names (``feature_names_in_``), one DT_DOUBLE
  vector ``[-1]`` per column under that name instead, stacked in the fitted order (as a
  pandas DataFrame when pandas is installed, since such estimators check the names);
- ``predict``: output ``predictions`` ``[-1]`` (``[-1, n_outputs_]`` for multi-output
  regressors); a classifier's are its class labels, in ``classes_``' dtype (strings are
  DT_STRING), a regressor's are DT_DOUBLE;
- ``predict_proba``, for a classifier that has it: output ``probabilities``
  ``[-1, len(classes_)]`` DT_DOUBLE, columns in ``classes_`` order;
- ``serving_default``: ``predict``'s input with every output above, so one call can
  return labels and probabilities; ``output_filter`` picks;
- ``classify`` (a classifier with one-dimensional ``classes_``) and ``regress`` (a
  single-output regressor) for TF Serving's Classify and Regress: their input is the
  serialized tf.Examples, one row each (``servables.example_features``: one feature per
  ``feature_names_in_`` column, else one ``inputs`` feature of ``n_features_in_`` numbers).
  Classify answers every class of ``classes_`` (as text) with ``predict_proba``'s scores,
  or, without ``predict_proba``, the predicted class alone; Regress answers ``predict``.

An estimator without ``predict``, or without ``n_features_in_`` (not fitted), fails the
load naming what is missing. At run time scikit-learn's ``ValueError`` (a wrong number
of columns, a vector where a matrix is expected) is the client's INVALID_ARGUMENT.
Estimators are read-only once fitted, so ``run`` may be called from several threads.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import joblib
import numpy as np
from sklearn.base import is_classifier

from protocol.dtypes import DType, numpy_to_dtype
from protocol.signatures import DEFAULT_SIGNATURE, PREDICT_METHOD, Signature, TensorSpec
from protocol.status import invalid_argument
from servables import example_features
from servables.loader import VersionLoader
from servables.servable import Servable
from servables.version_folder import VersionExtras, finish_load, require_artifact

log = logging.getLogger(__name__)

PLATFORM: Final = "sklearn"
INPUTS: Final = "inputs"
PREDICTIONS: Final = "predictions"
PROBABILITIES: Final = "probabilities"
PREDICT_SIGNATURE: Final = "predict"
PREDICT_PROBA_SIGNATURE: Final = "predict_proba"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SklearnOptions:
    extras: VersionExtras = dataclasses.field(default_factory=VersionExtras)


def _spec(alias: str, dtype: int, shape: tuple[int, ...]) -> TensorSpec:
    return TensorSpec(alias=alias, tensor_name=alias, dtype=dtype, shape=shape)


def _last_step(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def derive_signatures(estimator: Any) -> dict[str, Signature]:
    """The signatures of a fitted estimator (see the module docstring)."""
    if not callable(getattr(estimator, "predict", None)):
        raise TypeError(
            f"a {type(estimator).__name__} has no predict(); not a scikit-learn estimator"
        )
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None:
        raise TypeError(
            f"the {type(estimator).__name__} has no n_features_in_; is it fitted with scikit-learn >= 1.0?"
        )
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        inputs = {str(n): _spec(str(n), DType.DT_DOUBLE, (-1,)) for n in names}
    else:
        inputs = {INPUTS: _spec(INPUTS, DType.DT_DOUBLE, (-1, int(n_features)))}
    outputs: dict[str, TensorSpec] = {}
    classes = getattr(estimator, "classes_", None)
    classifier = is_classifier(estimator) and classes is not None
    if classifier:
        labels = np.asarray(classes)
        outputs[PREDICTIONS] = _spec(PREDICTIONS, numpy_to_dtype(labels.dtype), (-1,))
        if callable(getattr(estimator, "predict_proba", None)) and labels.ndim == 1:
            outputs[PROBABILITIES] = _spec(PROBABILITIES, DType.DT_DOUBLE, (-1, len(labels)))
    else:
        n_outputs = getattr(_last_step(estimator), "n_outputs_", 1)
        shape = (-1, int(n_outputs)) if n_outputs and n_outputs > 1 else (-1,)
        outputs[PREDICTIONS] = _spec(PREDICTIONS, DType.DT_DOUBLE, shape)

    def signature(name: str, aliases: Sequence[str]) -> Signature:
        return Signature(
            name=name,
            method_name=PREDICT_METHOD,
            inputs=inputs,
            outputs={a: outputs[a] for a in aliases},
        )

    signatures = {
        DEFAULT_SIGNATURE: signature(DEFAULT_SIGNATURE, list(outputs)),
        PREDICT_SIGNATURE: signature(PREDICT_SIGNATURE, [PREDICTIONS]),
    }
    if PROBABILITIES in outputs:
        signatures[PREDICT_PROBA_SIGNATURE] = signature(PREDICT_PROBA_SIGNATURE, [PROBABILITIES])
    if classifier and np.asarray(classes).ndim == 1:
        signatures[example_features.CLASSIFY_SIGNATURE] = example_features.classify_signature(
            len(np.asarray(classes)) if PROBABILITIES in outputs else 1,
            with_scores=PROBABILITIES in outputs,
        )
    elif not classifier and outputs[PREDICTIONS].shape == (-1,):
        signatures[example_features.REGRESS_SIGNATURE] = example_features.regress_signature()
    return signatures


class SklearnServable(Servable):
    """One fitted estimator, loaded with joblib."""

    platform = PLATFORM

    def __init__(self, *, model_name: str, version: int, estimator: Any) -> None:
        self.model_name = model_name
        self.version = version
        self.signatures = derive_signatures(estimator)
        self._estimator = estimator
        self._n_features = int(estimator.n_features_in_)
        self._columns = (
            [str(n) for n in estimator.feature_names_in_]
            if getattr(estimator, "feature_names_in_", None) is not None
            else None
        )
        self._methods: dict[str, Callable[[Any], Any]] = {
            PREDICTIONS: estimator.predict,
            PROBABILITIES: getattr(estimator, "predict_proba", None) or estimator.predict,
        }

    def _matrix(self, inputs: Mapping[str, np.ndarray]) -> Any:
        if self._columns is None:
            return inputs[INPUTS]
        try:
            import pandas  # optional: only estimators fitted on DataFrames need it
        except ImportError:
            return np.stack([inputs[c] for c in self._columns], axis=1)
        return pandas.DataFrame({c: inputs[c] for c in self._columns}, columns=self._columns)

    def _from_examples(
        self, signature: Signature, inputs: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        rows = example_features.examples_matrix(
            inputs[example_features.EXAMPLES], self._n_features, self._columns
        )
        matrix = (
            rows
            if self._columns is None
            else self._matrix({c: rows[:, i] for i, c in enumerate(self._columns)})
        )
        if signature.name == example_features.REGRESS_SIGNATURE:
            return example_features.regress_outputs(self._estimator.predict(matrix))
        if example_features.SCORES in signature.outputs:
            scores = np.asarray(self._estimator.predict_proba(matrix))
            return example_features.classify_outputs(list(self._estimator.classes_), scores)
        predicted = np.asarray(self._estimator.predict(matrix))
        return example_features.classify_outputs([], None, predicted)

    def run(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
    ) -> dict[str, np.ndarray]:
        outputs = list(output_names) or sorted(signature.outputs)
        try:
            if example_features.is_example_signature(signature):
                return example_features.wanted(self._from_examples(signature, inputs), outputs)
            matrix = self._matrix(inputs)
            return {name: np.asarray(self._methods[name](matrix)) for name in outputs}
        except ValueError as error:
            raise invalid_argument(str(error).strip()) from error

    def unload(self) -> None:
        self._methods.clear()


class SklearnLoader(VersionLoader[SklearnOptions]):
    """Loads ``model.joblib`` / ``model.pkl`` from one version folder (this runs pickled code)."""

    def load(self) -> SklearnServable:
        file = require_artifact(PLATFORM, self.path)
        estimator = joblib.load(file)
        servable = SklearnServable(
            model_name=self.model_name, version=self.version, estimator=estimator
        )
        finish_load(servable, self.path, self._options.extras)
        return servable
