"""LightGBM and CatBoost loaders: same answers as the libraries, shapes, bad input."""

from __future__ import annotations

from pathlib import Path

import catboost
import lightgbm
import numpy as np
import pytest

from protocol.dtypes import DType
from protocol.status import Code, ServingError
from servables.catboost.catboost_model import CatboostLoader, CatboostOptions
from servables.lightgbm.lightgbm_model import LightgbmLoader, LightgbmOptions
from servables.tabular import MatrixServable
from tests.platform_models import iris


def test_lightgbm_multiclass_answers_as_booster_predict(tmp_path: Path) -> None:
    x, y = iris()
    booster = lightgbm.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
        lightgbm.Dataset(x, y),
        num_boost_round=5,
    )
    (tmp_path / "1").mkdir()
    booster.save_model(str(tmp_path / "1" / "model.txt"))
    servable = LightgbmLoader(
        model_name="m", version=1, path=str(tmp_path / "1"), options=LightgbmOptions()
    ).load()
    signature = servable.signatures["serving_default"]
    assert signature.inputs["inputs"].shape == (-1, 4)
    assert signature.outputs["predictions"].shape == (-1, 3)
    out = servable.run(signature, {"inputs": x}, ())
    np.testing.assert_allclose(out["predictions"], booster.predict(x), rtol=1e-12)
    bad_input(servable)


def test_catboost_classifier_answers_as_predict_proba(tmp_path: Path) -> None:
    x, y = iris()
    model = catboost.CatBoostClassifier(
        iterations=10, verbose=False, thread_count=1, allow_writing_files=False
    )
    model.fit(x, y)
    (tmp_path / "1").mkdir()
    model.save_model(str(tmp_path / "1" / "model.cbm"))
    servable = CatboostLoader(
        model_name="m", version=1, path=str(tmp_path / "1"), options=CatboostOptions()
    ).load()
    signature = servable.signatures["serving_default"]
    assert signature.inputs["inputs"].dtype == DType.DT_DOUBLE
    assert signature.outputs["predictions"].shape == (-1, 3)
    out = servable.run(signature, {"inputs": x}, ())
    np.testing.assert_allclose(out["predictions"], model.predict_proba(x), rtol=1e-12)
    bad_input(servable)


def test_catboost_regressor_answers_as_predict(tmp_path: Path) -> None:
    x, y = iris()
    model = catboost.CatBoostRegressor(
        iterations=10, verbose=False, thread_count=1, allow_writing_files=False
    )
    model.fit(x, y.astype(float))
    (tmp_path / "1").mkdir()
    model.save_model(str(tmp_path / "1" / "model.cbm"))
    servable = CatboostLoader(
        model_name="m", version=1, path=str(tmp_path / "1"), options=CatboostOptions()
    ).load()
    signature = servable.signatures["serving_default"]
    assert signature.outputs["predictions"].shape == (-1,)
    out = servable.run(signature, {"inputs": x[:7]}, ())
    np.testing.assert_allclose(out["predictions"], model.predict(x[:7]), rtol=1e-12)


def bad_input(servable: MatrixServable) -> None:
    with pytest.raises(ServingError) as raised:
        servable.run(servable.signatures["predict"], {"inputs": np.zeros((2, 5))}, ())
    assert raised.value.code == Code.INVALID_ARGUMENT
    assert "[batch, 4]" in raised.value.message


def test_corrupt_files_fail_the_load(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.txt").write_text("not a model")
    (tmp_path / "1" / "model.cbm").write_bytes(b"not a model")
    with pytest.raises(lightgbm.basic.LightGBMError):
        LightgbmLoader(
            model_name="m", version=1, path=str(tmp_path / "1"), options=LightgbmOptions()
        ).load()
    with pytest.raises(catboost.CatBoostError):
        CatboostLoader(
            model_name="m", version=1, path=str(tmp_path / "1"), options=CatboostOptions()
        ).load()
