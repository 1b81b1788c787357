"""Small test models for every non-TensorFlow platform, trained on scikit-learn's bundled data.

Each ``write_*`` function trains a small deterministic model, writes it as the platform's
artifact into ``version_dir`` (created) and returns the fitted object, so a test can
compare the server's answers with the library's own. ``iris()`` and ``digits()`` give
the (float64) feature matrices and labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data.astype(np.float64), data.target


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype(np.float64), data.target


def write_sklearn_classifier(version_dir: Path, file_name: str = "model.joblib") -> Any:
    """LogisticRegression on iris (has ``predict_proba``)."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    x, y = iris()
    model = LogisticRegression(max_iter=500).fit(x, y)
    version_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, version_dir / file_name)
    return model


def write_sklearn_regressor(version_dir: Path) -> Any:
    """Ridge regression on digits: 64 pixels -> the digit, as a number."""
    import joblib
    from sklearn.linear_model import Ridge

    x, y = digits()
    model = Ridge().fit(x, y.astype(np.float64))
    version_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, version_dir / "model.joblib")
    return model


def write_xgboost(
    version_dir: Path, objective: str = "multi:softprob", file_name: str = "model.ubj"
) -> Any:
    """A Booster on iris: ``multi:softprob`` (3 classes), ``binary:logistic`` or ``reg:squarederror``."""
    import xgboost

    x, y = iris()
    params: dict[str, Any] = {"objective": objective, "max_depth": 2, "nthread": 1, "seed": 0}
    if objective.startswith("multi:"):
        params["num_class"] = 3
    elif objective.startswith("binary:"):
        y = (y == 2).astype(np.float64)
    booster = xgboost.train(params, xgboost.DMatrix(x, label=y), num_boost_round=10)
    version_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(version_dir / file_name))
    return booster


def write_onnx_from_sklearn(version_dir: Path) -> bytes:
    """The iris LogisticRegression converted with skl2onnx (no ZipMap); returns the model bytes."""
    from skl2onnx import to_onnx

    x, y = iris()
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500).fit(x, y)
    onnx_model = to_onnx(
        model, x[:1].astype(np.float32), options={"zipmap": False}, target_opset=17
    )
    data: bytes = onnx_model.SerializeToString()
    version_dir.mkdir(parents=True, exist_ok=True)
    (version_dir / "model.onnx").write_bytes(data)
    return data
