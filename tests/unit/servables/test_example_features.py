"""tf.Examples to feature rows for the scikit-learn and XGBoost Classify/Regress signatures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from tensorflow.core.example import example_pb2

from protocol.status import Code, ServingError
from servables.example_features import examples_matrix
from servables.sklearn.sklearn_model import SklearnServable
from servables.xgboost.xgboost_model import XgboostServable
from tests.platform_models import iris, write_xgboost

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def example(**features: list[float]) -> bytes:
    proto = example_pb2.Example()
    for name, values in features.items():
        proto.features.feature[name].float_list.value.extend(values)
    data: bytes = proto.SerializeToString()
    return data


def column_examples(x: np.ndarray) -> np.ndarray:
    rows = [example(**{c: [float(v)] for c, v in zip(COLUMNS, row, strict=True)}) for row in x]
    return np.array(rows, dtype=object)


def test_named_columns_are_one_feature_each_and_match_predict_proba() -> None:
    x, y = iris()
    model = LogisticRegression(max_iter=500).fit(x, y)
    model.feature_names_in_ = np.array(COLUMNS, dtype=object)  # as if fitted on a DataFrame
    servable = SklearnServable(model_name="m", version=1, estimator=model)
    out = servable.run(servable.signatures["classify"], {"inputs": column_examples(x[:5])}, ())
    assert out["classes"].tolist() == [["0", "1", "2"]] * 5
    np.testing.assert_allclose(out["scores"], model.predict_proba(x[:5]), rtol=1e-6)


def test_int64_features_are_accepted_and_a_missing_feature_is_named() -> None:
    proto = example_pb2.Example()
    proto.features.feature["inputs"].int64_list.value.extend([1, 2, 3])
    rows = examples_matrix(np.array([proto.SerializeToString()], dtype=object), 3, None)
    np.testing.assert_array_equal(rows, [[1.0, 2.0, 3.0]])
    with pytest.raises(ServingError) as caught:
        examples_matrix(np.array([example(sepal_length=[1.0])], dtype=object), 2, COLUMNS[:2])
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert 'Example 0 has no feature "sepal_width"' in caught.value.message


def test_a_row_that_is_not_an_example_is_invalid_argument() -> None:
    with pytest.raises(ServingError) as caught:
        examples_matrix(np.array([b"\xff\xff not a proto"], dtype=object), 4, None)
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert "not a serialized tf.Example" in caught.value.message


@pytest.mark.parametrize(
    ("objective", "signature"),
    [("multi:softprob", "classify"), ("binary:logistic", "classify"), ("reg:squarederror", "regress"),
     ("multi:softmax", None)],
)  # fmt: skip
def test_xgboost_objective_decides_classify_or_regress(
    tmp_path: Path, objective: str, signature: str | None
) -> None:
    booster = write_xgboost(tmp_path / "1", objective)
    servable = XgboostServable(model_name="m", version=1, booster=booster)
    found = {"classify", "regress"} & set(servable.signatures)
    assert found == ({signature} if signature else set())
