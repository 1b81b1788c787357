"""One server, one models.config: TensorFlow, ONNX, scikit-learn and XGBoost side by side.

The models are made here: the digits softmax regression exported as a SavedModel (and,
when tf2onnx is installed, converted to ONNX), an iris LogisticRegression converted
with skl2onnx, an iris LogisticRegression joblib file and an iris XGBoost booster.
The server runs with ``--enable_batching``; every model is asked through the official
TF Serving gRPC stubs (Predict, GetModelMetadata, GetModelStatus) and REST ``/v1``
(predict, metadata), and every answer must equal the library's own within float
tolerance. The real ``tritonclient.http`` and ``tritonclient.grpc`` ask every model
(readiness, metadata, infer with binary and JSON tensors and requested outputs). The
scikit-learn and XGBoost classifiers and regressors (a digits Ridge, an iris
``reg:squarederror`` booster) answer Classify and Regress through the official stubs and
REST ``:classify`` / ``:regress``. Last, a corrupt ``model.onnx`` arrives as version 2 of the iris ONNX model:
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
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import xgboost
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    input_pb2,
    predict_pb2,
    regression_pb2,
)

from examples.digits_data import load_digits_28x28
from examples.export_digits import export_digits_model
from tests.integration.server_process import ServerProcess
from tests.platform_models import (
    digits,
    iris,
    write_onnx_from_sklearn,
    write_sklearn_classifier,
    write_sklearn_regressor,
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
        self.ridge = write_sklearn_regressor(root / "digits_ridge" / "1")
        self.xgb_regressor = write_xgboost(root / "iris_xgb_reg" / "1", "reg:squarederror")
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
            ("digits_ridge", "sklearn"),
            ("iris_xgb_reg", "xgboost"),
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
    assert set(signatures) == {"serving_default", "predict", "predict_proba", "classify"}
    assert signatures["classify"]["method_name"] == "tensorflow/serving/classify"
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


# --- tritonclient (V2) against every platform ---------------------------------------------


@pytest.fixture(scope="module")
def triton_http(server: ServerProcess) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")


@pytest.fixture(scope="module")
def triton_grpc(server: ServerProcess) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")


def v2_cases(models: Models) -> list[tuple[str, str, np.ndarray, dict[str, np.ndarray]]]:
    """(model, input name, input, expected outputs computed by the library itself).

    The TensorFlow model's expectation comes from TF itself (``Models.tf_scores``).
    """
    x64 = iris()[0][:6]
    x32 = x64.astype(np.float32)
    label, probabilities = ort.InferenceSession(
        models.iris_onnx, providers=["CPUExecutionProvider"]
    ).run(None, {"X": x32})
    return [
        ("digits", "images", models.digits_x, {"scores": models.tf_scores}),
        ("iris_onnx", "X", x32, {"label": label, "probabilities": probabilities}),
        ("iris_sklearn", "inputs", x64,
         {"predictions": models.sklearn.predict(x64), "probabilities": models.sklearn.predict_proba(x64)}),
        ("iris_xgboost", "inputs", x32, {"predictions": models.booster.predict(xgboost.DMatrix(x32))}),
    ]  # fmt: skip


V2_DATATYPES = {np.float32: "FP32", np.float64: "FP64"}


@pytest.mark.parametrize(
    ("protocol", "binary"),
    [("http", True), ("http", False), ("grpc", True)],  # tritonclient.grpc always sends raw bytes
    ids=["http-binary", "http-json", "grpc-raw"],
)
def test_tritonclient_infers_every_platform_as_its_library_does(
    models: Models,
    triton_http: httpclient.InferenceServerClient,
    triton_grpc: grpcclient.InferenceServerClient,
    protocol: str,
    binary: bool,
) -> None:
    for model, input_name, x, expected in v2_cases(models):
        datatype = V2_DATATYPES[x.dtype.type]
        for wanted in [list(expected), list(expected)[-1:]]:  # all outputs, then one
            if protocol == "http":
                tensor = httpclient.InferInput(input_name, list(x.shape), datatype)
                tensor.set_data_from_numpy(x, binary_data=binary)
                outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in wanted]
                result: Any = triton_http.infer(model, [tensor], outputs=outputs)
                got = {o["name"] for o in result.get_response()["outputs"]}
            else:
                tensor = grpcclient.InferInput(input_name, list(x.shape), datatype)
                tensor.set_data_from_numpy(x)
                requested = [grpcclient.InferRequestedOutput(n) for n in wanted]
                result = triton_grpc.infer(model, [tensor], outputs=requested)
                got = {o.name for o in result.get_response().outputs}
            assert got == set(wanted), model
            for name in wanted:
                np.testing.assert_allclose(
                    result.as_numpy(name),
                    expected[name],
                    rtol=1e-5 if model == "digits" else 1e-6,
                    atol=1e-7 if model == "digits" else 0,
                    err_msg=f"{model} {name}",
                )


def test_tritonclient_sees_every_platform_ready_with_its_derived_metadata(
    models: Models,
    triton_http: httpclient.InferenceServerClient,
    triton_grpc: grpcclient.InferenceServerClient,
) -> None:
    for model, input_name, x, expected in v2_cases(models):
        assert triton_http.is_model_ready(model) and triton_grpc.is_model_ready(model)
        assert triton_http.is_model_ready(model, "1") and triton_grpc.is_model_ready(model, "1")
        datatype = V2_DATATYPES[x.dtype.type]
        metadata = triton_http.get_model_metadata(model)
        assert metadata["name"] == model and metadata["versions"] == ["1"]
        assert metadata["inputs"] == [
            {"name": input_name, "datatype": datatype, "shape": [-1, x.shape[1]]}
        ]
        assert {o["name"] for o in metadata["outputs"]} == set(expected)
        grpc_metadata = triton_grpc.get_model_metadata(model, "1")
        assert [(t.name, t.datatype, list(t.shape)) for t in grpc_metadata.inputs] == [
            (input_name, datatype, [-1, x.shape[1]])
        ]
        assert {t.name for t in grpc_metadata.outputs} == set(expected)
    assert not triton_http.is_model_ready("no_such_model")
    assert not triton_grpc.is_model_ready("no_such_model")


# --- Classify and Regress on scikit-learn and XGBoost ----------------------------------------


def examples_input(x: np.ndarray) -> input_pb2.Input:
    request = input_pb2.Input()
    for row in x:
        example = request.example_list.examples.add()
        example.features.feature["inputs"].float_list.value.extend(row.tolist())
    return request


def classify(server: ServerProcess, model: str, x: np.ndarray) -> Any:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = "classify"
    request.input.CopyFrom(examples_input(x))
    return server.prediction.Classify(request, timeout=30)


def regress(server: ServerProcess, model: str, x: np.ndarray) -> Any:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = "regress"
    request.input.CopyFrom(examples_input(x))
    return server.prediction.Regress(request, timeout=30)


def test_sklearn_and_xgboost_classifiers_answer_classify_with_classes_and_scores(
    server: ServerProcess, models: Models
) -> None:
    x = iris()[0][::15]  # every class
    for model, scores in [
        ("iris_sklearn", models.sklearn.predict_proba(x)),
        ("iris_xgboost", models.booster.predict(xgboost.DMatrix(x.astype(np.float32)))),
    ]:
        response = classify(server, model, x)
        assert response.model_spec.signature_name == "classify"
        assert response.model_spec.version.value == 1
        got = response.result.classifications
        assert [[c.label for c in row.classes] for row in got] == [["0", "1", "2"]] * len(x)
        np.testing.assert_allclose(
            [[c.score for c in row.classes] for row in got], scores, rtol=1e-5, err_msg=model
        )
        status, body = server.http(
            "POST",
            f"/v1/models/{model}:classify",
            {"signature_name": "classify", "examples": [{"inputs": row} for row in x.tolist()]},
        )
        assert status == 200, body
        assert [[label for label, _ in row] for row in body["results"]] == [["0", "1", "2"]] * len(
            x
        )
        np.testing.assert_allclose(
            [[score for _, score in row] for row in body["results"]], scores, rtol=1e-5
        )


def test_sklearn_and_xgboost_regressors_answer_regress(
    server: ServerProcess, models: Models
) -> None:
    xd = digits()[0][:5]
    xi = iris()[0][::30]
    for model, x, expected in [
        ("digits_ridge", xd, models.ridge.predict(xd)),
        ("iris_xgb_reg", xi, models.xgb_regressor.predict(xgboost.DMatrix(xi.astype(np.float32)))),
    ]:
        response = regress(server, model, x)
        values = [r.value for r in response.result.regressions]
        np.testing.assert_allclose(values, expected, rtol=1e-5, err_msg=model)
        status, body = server.http(
            "POST",
            f"/v1/models/{model}:regress",
            {"signature_name": "regress", "examples": [{"inputs": row} for row in x.tolist()]},
        )
        assert status == 200, body
        np.testing.assert_allclose(body["results"], expected, rtol=1e-5)


def test_classify_with_the_wrong_feature_count_or_on_a_regressor_is_invalid_argument(
    server: ServerProcess,
) -> None:
    import grpc

    with pytest.raises(grpc.RpcError) as caught:
        classify(server, "iris_sklearn", np.ones((1, 3)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 'feature "inputs" of Example 0 must hold 4 values, got 3' in str(caught.value.details())
    with pytest.raises(grpc.RpcError) as caught:
        classify(server, "digits_ridge", np.ones((1, 64)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "classify" in str(caught.value.details())
