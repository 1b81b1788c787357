"""Loader for CatBoost models (``model_platform: "catboost"``).

A version folder holds ``model.cbm``, as ``save_model`` writes it (CatBoost's binary
format), loaded into a ``catboost.CatBoost``. ``predictions`` are what the model's loss
makes natural: class probabilities (``predict(..., prediction_type="Probability")``,
``[-1, classes]``) for ``Logloss``, ``CrossEntropy`` and ``MultiClass`` models, else raw
values (regression). Numeric features only. Signatures, input checks and errors:
``servables.tabular``. A missing or corrupt file fails the load with CatBoost's reason.
"""

from __future__ import annotations

import dataclasses
from typing import Final

import catboost
import numpy as np

from servables.loader import VersionLoader
from servables.tabular import MatrixServable
from servables.version_folder import VersionExtras, finish_load, require_artifact

PLATFORM: Final = "catboost"
CLASSIFIER_LOSSES: Final = frozenset(
    {"Logloss", "CrossEntropy", "MultiClass", "MultiClassOneVsAll"}
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CatboostOptions:
    extras: VersionExtras = dataclasses.field(default_factory=VersionExtras)


class CatboostLoader(VersionLoader[CatboostOptions]):
    """Loads ``model.cbm`` from one version folder."""

    def load(self) -> MatrixServable:
        model = catboost.CatBoost()
        model.load_model(require_artifact(PLATFORM, self.path))
        loss = str(model.get_all_params().get("loss_function", ""))
        kind = "Probability" if loss in CLASSIFIER_LOSSES else "RawFormulaVal"

        def predict(matrix: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict(matrix, prediction_type=kind))

        servable = MatrixServable(
            platform=PLATFORM,
            model_name=self.model_name,
            version=self.version,
            predict=predict,
            n_features=len(model.feature_names_),
            errors=(catboost.CatBoostError,),
        )
        finish_load(servable, self.path, self._options.extras)
        return servable
