"""The scikit-learn loader: derived signatures, same answers as scikit-learn, load errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from protocol.dtypes import DType
from protocol.status import Code, ServingError
from servables.sklearn.sklearn_model import SklearnLoader, SklearnOptions, SklearnServable
from tests.platform_models import digits, iris, write_sklearn_classifier, write_sklearn_regressor


def load(path: Path) -> SklearnServable:
    return SklearnLoader(model_name="m", version=1, path=str(path), options=SklearnOptions()).load()


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, SklearnServable]:
    """The fitted estimator (scikit-learn is untyped) and the servable loaded from it."""
    folder = tmp_path_factory.mktemp("clf") / "1"
    model = write_sklearn_classifier(folder)
    return model, load(folder)


def test_classifier_signatures_come_from_the_estimator(
    classifier: tuple[Any, SklearnServable],
) -> None:
    _, servable = classifier
    assert set(servable.signatures) == {"serving_default", "predict", "predict_proba", "classify"}
    default = servable.signatures["serving_default"]
    assert default.inputs["inputs"].shape == (-1, 4)
    assert default.inputs["inputs"].dtype == DType.DT_DOUBLE
    assert default.outputs["predictions"].dtype == DType.DT_INT64
    assert default.outputs["probabilities"].shape == (-1, 3)
    assert list(servable.signatures["predict"].outputs) == ["predictions"]
    assert list(servable.signatures["predict_proba"].outputs) == ["probabilities"]


def test_classifier_answers_as_scikit_learn_does(
    classifier: tuple[Any, SklearnServable],
) -> None:
    model, servable = classifier
    x, _ = iris()
    out = servable.run(servable.signatures["serving_default"], {"inputs": x}, ())
    np.testing.assert_array_equal(out["predictions"], model.predict(x))
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(x), rtol=1e-12)
    only = servable.run(servable.signatures["predict_proba"], {"inputs": x[:2]}, ("probabilities",))
    assert list(only) == ["probabilities"]


def test_wrong_column_count_is_invalid_argument(classifier: tuple[Any, SklearnServable]) -> None:
    _, servable = classifier
    with pytest.raises(ServingError) as caught:
        servable.run(servable.signatures["predict"], {"inputs": np.zeros((2, 3))}, ())
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert "3 features" in caught.value.message


def test_regressor_has_predict_and_regress_and_answers_as_scikit_learn(tmp_path: Path) -> None:
    model = write_sklearn_regressor(tmp_path / "1")
    servable = load(tmp_path / "1")
    assert set(servable.signatures) == {"serving_default", "predict", "regress"}
    spec = servable.signatures["predict"].outputs["predictions"]
    assert (spec.dtype, spec.shape) == (DType.DT_DOUBLE, (-1,))
    x, _ = digits()
    out = servable.run(servable.signatures["predict"], {"inputs": x[:50]}, ())
    np.testing.assert_allclose(out["predictions"], model.predict(x[:50]), rtol=1e-12)


def test_model_pkl_loads_too(tmp_path: Path) -> None:
    write_sklearn_classifier(tmp_path / "1", file_name="model.pkl")
    assert "predict_proba" in load(tmp_path / "1").signatures


def test_an_object_without_predict_fails_the_load_naming_it(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    joblib.dump({"not": "a model"}, tmp_path / "1" / "model.joblib")
    with pytest.raises(TypeError, match="dict has no predict"):
        load(tmp_path / "1")


def test_a_corrupt_file_fails_the_load(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.joblib").write_bytes(b"not a pickle")
    with pytest.raises(Exception):  # noqa: B017 - joblib raises whatever unpickling raises
        load(tmp_path / "1")


def test_missing_file_names_what_was_looked_for(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    with pytest.raises(FileNotFoundError, match=r"model\.joblib or model\.pkl"):
        load(tmp_path / "1")
