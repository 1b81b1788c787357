"""The XGBoost loader: derived signatures, same answers as ``Booster.predict``, load errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xgboost

from protocol.dtypes import DType
from protocol.status import Code, ServingError
from servables.xgboost.xgboost_model import XgboostLoader, XgboostOptions, XgboostServable
from tests.platform_models import iris, write_xgboost


def load(path: Path) -> XgboostServable:
    return XgboostLoader(model_name="m", version=1, path=str(path), options=XgboostOptions()).load()


@pytest.mark.parametrize(
    ("objective", "file_name", "shape"),
    [
        ("multi:softprob", "model.ubj", (-1, 3)),
        ("binary:logistic", "model.json", (-1,)),
        ("binary:logitraw", "model.ubj", (-1,)),
        ("reg:squarederror", "model.json", (-1,)),
    ],
)
def test_predict_matches_booster_predict(
    tmp_path: Path, objective: str, file_name: str, shape: tuple[int, ...]
) -> None:
    booster = write_xgboost(tmp_path / "1", objective, file_name)
    servable = load(tmp_path / "1")
    signature = servable.signatures["serving_default"]
    assert signature.inputs["inputs"].shape == (-1, 4)
    assert signature.inputs["inputs"].dtype == DType.DT_FLOAT
    assert signature.outputs["predictions"].shape == shape
    x = iris()[0].astype(np.float32)
    out = servable.run(signature, {"inputs": x}, ())
    expected = booster.predict(xgboost.DMatrix(x))
    np.testing.assert_allclose(out["predictions"], expected, rtol=1e-6)
    if objective == "binary:logistic":
        assert out["predictions"].min() >= 0.0 and out["predictions"].max() <= 1.0
    if objective == "binary:logitraw":
        assert out["predictions"].min() < 0.0  # margins, not probabilities


def test_wrong_column_count_is_invalid_argument(tmp_path: Path) -> None:
    write_xgboost(tmp_path / "1")
    servable = load(tmp_path / "1")
    with pytest.raises(ServingError) as caught:
        servable.run(servable.signatures["predict"], {"inputs": np.zeros((2, 5), np.float32)}, ())
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert "[batch, 4]" in caught.value.message


def test_a_corrupt_file_fails_the_load(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.json").write_text("{ not json")
    with pytest.raises(xgboost.core.XGBoostError):
        load(tmp_path / "1")
