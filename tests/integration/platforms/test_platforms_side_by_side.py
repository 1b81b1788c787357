"""One server, one models.config: TensorFlow, ONNX, scikit-learn and XGBoost side by side.

The models are made here: the digits softmax regression exported as a SavedModel (and,
when tf2onnx is installed, converted to ONNX), an iris LogisticRegression converted
with skl2onnx, an iris LogisticRegression joblib file and an iris XGBoost booster.
The server runs with ``--enable_batching``; every model is asked through the official
TF Serving gRPC stubs (Predict, GetModelMetadata, GetModelStatus) and REST ``/v1``
(predict, metadata), and every answer must equal the library's own within float
tolerance. Last, a corrupt ``model.onnx`` arrives as version 2 of the iris ONNX model:
it ends in the error state with onnxruntime's reason while version 1 keeps serving.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf
import xgboost
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

from examples.export_digits import export_digits_model
from examples.digits_data import load_digits_28x28
from tests.integration.server_process import ServerProcess
from tests.platform_models import (
    iris,
    write_onnx_from_sklearn,
    write_sklearn_classifier,
    write_xgboost,
)

AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.END
HAVE_TF2ONNX = importlib.util.find_spec("tf2onnx") is not None


class Models:
    def __init__(self, root: Path) -> None:
        self.root = root
        export_digits_model(root / "digits", {1: 50})
        self.digits_x = load_digits_28x28().test_images[:8]
        self.tf_scores = (
            tf.saved_model.load(str(root / "digits" / "1"))
            .signatures["serving_default"](images=tf.constant(self.digits_x))["scores"]
            .numpy()
        )
        self.iris_onnx = write_onnx_from_sklearn(root / "iris_onnx" / "1")
        self.sklearn = write_sklearn_classifier(root / "iris_sklearn" / "1")
        self.booster = write_xgboost(root / "iris_xgboost" / "1")
        self.digits_onnx: bytes | None = None
        if HAVE_TF2ONNX:
            target = root / "digits_onnx" / "1"
            target.mkdir(parents=True)
            subprocess.run(
                [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(root / "digits" / "1"),
                 "--signature_def", "serving_default", "--opset", "17", "--output", str(target / "model.onnx")],
                check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )  # fmt: skip
            self.digits_onnx = (target / "model.onnx").read_bytes()

    def config(self) -> Path:
        entries = [
            ("digits", "tensorflow"),
            ("iris_onnx", "onnx"),
            ("iris_sklearn", "sklearn"),
            ("iris_xgboost", "xgboost"),
        ]
        if self.digits_onnx is not None:
            entries.append(("digits_onnx", "onnx"))
        body = "".join(
            f'  config {{ name: "{name}" base_path: "{name}" model_platform: "{platform}" }}\n'
            for name, platform in entries
        )
        path = self.root / "models.config"
        path.write_text(f"model_config_list {{\n{body}}}\n")
        return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return Models(tmp_path_factory.mktemp("platforms"))


@pytest.fixture(scope="module")
def server(start_server: Callable[..., ServerProcess], models: Models) -> ServerProcess:
    return start_server(
        f"--model_config_file={models.config()}",
        "--enable_batching",
        "--file_system_poll_wait_seconds=1",
    )


def predict(
    server: ServerProcess,
    model: str,
    inputs: dict[str, np.ndarray],
    signature: str = "",
    version: int | None = None,
) -> dict[str, np.ndarray]:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for name, array in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    response = server.prediction.Predict(request, timeout=30)
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def metadata(server: ServerProcess, model: str) -> Any:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = model
    response = server.prediction.GetModelMetadata(request, timeout=30)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    return signature_map.signature_def


def shape_of(info: Any) -> list[int]:
    return [d.size for d in info.tensor_shape.dim]


def test_tensorflow_model_answers_beside_the_others(server: ServerProcess, models: Models) -> None:
    out = predict(server, "digits", {"images": models.digits_x})
    np.testing.assert_allclose(out["scores"], models.tf_scores, rtol=1e-5, atol=1e-7)


def test_skl2onnx_model_answers_as_onnxruntime_over_grpc_and_rest(
    server: ServerProcess, models: Models
) -> None:
    x = iris()[0].astype(np.float32)
    label, probabilities = ort.InferenceSession(
        models.iris_onnx, providers=["CPUExecutionProvider"]
    ).run(None, {"X": x})
    out = predict(server, "iris_onnx", {"X": x})
    np.testing.assert_array_equal(out["label"], label)
    np.testing.assert_allclose(out["probabilities"], probabilities, rtol=1e-6)

    status, body = server.http(
        "POST", "/v1/models/iris_onnx:predict", {"inputs": {"X": x[:5].tolist()}}
    )
    assert status == 200, body
    assert body["outputs"]["label"] == label[:5].tolist()
    np.testing.assert_allclose(body["outputs"]["probabilities"], probabilities[:5], rtol=1e-6)

    signature = metadata(server, "iris_onnx")["serving_default"]
    assert signature.inputs["X"].dtype == tf.float32.as_datatype_enum
    assert shape_of(signature.inputs["X"]) == [-1, 4]
    assert shape_of(signature.outputs["probabilities"]) == [-1, 3]


@pytest.mark.skipif(not HAVE_TF2ONNX, reason="tf2onnx is not installed")
def test_tf2onnx_digits_model_answers_as_onnxruntime_and_as_tensorflow(
    server: ServerProcess, models: Models
) -> None:
    assert models.digits_onnx is not None
    (scores,) = ort.InferenceSession(models.digits_onnx, providers=["CPUExecutionProvider"]).run(
        ["scores"], {"images": models.digits_x}
    )
    out = predict(server, "digits_onnx", {"images": models.digits_x})
    np.testing.assert_allclose(out["scores"], scores, rtol=1e-6)
    np.testing.assert_allclose(out["scores"], models.tf_scores, rtol=1e-4, atol=1e-6)


def test_sklearn_model_answers_as_scikit_learn(server: ServerProcess, models: Models) -> None:
    x = iris()[0]
    out = predict(server, "iris_sklearn", {"inputs": x})
    np.testing.assert_array_equal(out["predictions"], models.sklearn.predict(x))
    np.testing.assert_allclose(out["probabilities"], models.sklearn.predict_proba(x), rtol=1e-12)
    only = predict(server, "iris_sklearn", {"inputs": x[:3]}, signature="predict_proba")
    assert list(only) == ["probabilities"]

    # REST row format: instances are rows of the one input.
    status, body = server.http(
        "POST",
        "/v1/models/iris_sklearn:predict",
        {"signature_name": "predict", "instances": x[:4].tolist()},
    )
    assert status == 200, body
    assert body["predictions"] == models.sklearn.predict(x[:4]).tolist()

    status, body = server.http("GET", "/v1/models/iris_sklearn/metadata")
    assert status == 200, body
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "predict", "predict_proba"}
    assert signatures["predict_proba"]["outputs"]["probabilities"]["dtype"] == "DT_DOUBLE"


def test_xgboost_model_answers_as_booster_predict(server: ServerProcess, models: Models) -> None:
    x = iris()[0].astype(np.float32)
    expected = models.booster.predict(xgboost.DMatrix(x))
    out = predict(server, "iris_xgboost", {"inputs": x})
    np.testing.assert_allclose(out["predictions"], expected, rtol=1e-6)
    status, body = server.http(
        "POST", "/v1/models/iris_xgboost:predict", {"instances": x[:2].tolist()}
    )
    assert status == 200, body
    np.testing.assert_allclose(body["predictions"], expected[:2], rtol=1e-6)
    signature = metadata(server, "iris_xgboost")["predict"]
    assert shape_of(signature.outputs["predictions"]) == [-1, 3]


def test_concurrent_requests_to_every_platform_are_batched_and_each_answered_right(
    server: ServerProcess, models: Models
) -> None:
    x = iris()[0]
    calls = [
        ("iris_sklearn", {"inputs": x[i : i + 1 + i % 3]}, "probabilities", models.sklearn.predict_proba(x[i : i + 1 + i % 3]))
        for i in range(0, 24, 3)
    ] + [
        ("iris_xgboost", {"inputs": x[i : i + 2].astype(np.float32)}, "predictions",
         models.booster.predict(xgboost.DMatrix(x[i : i + 2].astype(np.float32))))
        for i in range(0, 24, 3)
    ]  # fmt: skip
    with ThreadPoolExecutor(len(calls)) as pool:
        answers = list(pool.map(lambda call: predict(server, call[0], call[1]), calls))
    for (_, _, output, expected), answer in zip(calls, answers, strict=True):
        np.testing.assert_allclose(answer[output], expected, rtol=1e-6)


def test_wrong_feature_count_is_invalid_argument_naming_it(server: ServerProcess) -> None:
    status, body = server.http(
        "POST", "/v1/models/iris_xgboost:predict", {"instances": [[1.0, 2.0]]}
    )
    assert status == 400
    assert "[batch, 4]" in body["error"]


def test_a_corrupt_onnx_version_ends_in_error_while_the_previous_keeps_serving(
    server: ServerProcess, models: Models
) -> None:
    staging = models.root / "iris_onnx" / ".v2-copying"
    staging.mkdir()
    (staging / "model.onnx").write_bytes(b"\x08\x07 this is not a protobuf")
    staging.rename(models.root / "iris_onnx" / "2")

    def v2_failed() -> bool:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "iris_onnx"
        statuses = {
            s.version: s
            for s in server.models.GetModelStatus(request, timeout=10).model_version_status
        }
        return 2 in statuses and statuses[2].state == END

    server.wait_until(v2_failed, what="iris_onnx v2 to fail")
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "iris_onnx"
    statuses = {
        s.version: s for s in server.models.GetModelStatus(request, timeout=10).model_version_status
    }
    assert statuses[1].state == AVAILABLE
    assert "ONNXRuntimeError" in statuses[2].status.error_message
    out = predict(server, "iris_onnx", {"X": iris()[0][:2].astype(np.float32)})
    assert out["label"].shape == (2,)
    status, body = server.http("GET", "/v1/models/iris_onnx")
    assert status == 200
    assert {v["version"]: v["state"] for v in body["model_version_status"]} == {
        "2": "END",
        "1": "AVAILABLE",
    }
