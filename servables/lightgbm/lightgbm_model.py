"""Loader for LightGBM models (``model_platform: "lightgbm"``).

A version folder holds ``model.txt``, as ``Booster.save_model`` (or
``LGBMModel.booster_.save_model``) writes it, loaded into a ``lightgbm.Booster``.
``predictions`` are exactly ``Booster.predict``'s: probabilities for ``binary`` (one per
row) and ``multiclass`` (``[-1, num_class]``), values for regression. Signatures, input
checks and errors: ``servables.tabular``. A missing or corrupt file fails the load with
LightGBM's reason.
"""

from __future__ import annotations

import dataclasses
from typing import Final

import lightgbm
import numpy as np

from servables.loader import VersionLoader
from servables.tabular import MatrixServable
from servables.version_folder import VersionExtras, finish_load, require_artifact

PLATFORM: Final = "lightgbm"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LightgbmOptions:
    extras: VersionExtras = dataclasses.field(default_factory=VersionExtras)


class LightgbmLoader(VersionLoader[LightgbmOptions]):
    """Loads ``model.txt`` from one version folder."""

    def load(self) -> MatrixServable:
        booster = lightgbm.Booster(model_file=require_artifact(PLATFORM, self.path))

        def predict(matrix: np.ndarray) -> np.ndarray:
            return np.asarray(booster.predict(matrix))

        servable = MatrixServable(
            platform=PLATFORM,
            model_name=self.model_name,
            version=self.version,
            predict=predict,
            n_features=booster.num_feature(),
            errors=(lightgbm.basic.LightGBMError,),
        )
        finish_load(servable, self.path, self._options.extras)
        return servable
