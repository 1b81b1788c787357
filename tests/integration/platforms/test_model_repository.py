"""A Triton model repository served beside models.config: Triton's own Python examples,
a ``pytorch_libtorch`` TorchScript model, ONNX with and without ``config.pbtxt``; and in
``models.config`` a torch.export model, a Python model, LightGBM and CatBoost models.

The repository is laid out as the python_backend examples' READMEs say (``models/<name>/
config.pbtxt``, ``models/<name>/1/model.py``); their ``client.py`` files run unchanged.
They connect to ``localhost:8000``, so this module's server listens there (REST; gRPC on
8001) when both ports are free, and those tests are skipped, saying so, when they are not.
Every other test talks to the same server through the official TF Serving stubs, ``/v1``
REST, and tritonclient HTTP and gRPC, and compares with torch's or onnxruntime's output.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import catboost
import lightgbm
import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf
import torch
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tensorflow_serving.apis import predict_pb2
from tritonclient.utils import InferenceServerException

from examples.digits_data import load_digits_28x28
from examples.export_digits import export_digits_model
from tests.integration.server_process import ServerProcess
from tests.platform_models import iris, write_onnx_from_sklearn
from tests.torch_models import (
    example_inputs,
    libtorch_config,
    write_exported_program,
    write_torchscript,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "triton_python_backend"
CLIENT_PORTS = (8000, 8001)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Repository:
    def __init__(self, root: Path) -> None:
        self.root = root
        models = root / "models"
        for name, model, config in (
            ("add_sub", "add_sub/model.py", "add_sub/config.pbtxt"),
            ("bls_sync", "bls/sync_model.py", "bls/sync_config.pbtxt"),
            ("bls_async", "bls/async_model.py", "bls/async_config.pbtxt"),
            ("pytorch", "pytorch/model.py", "pytorch/config.pbtxt"),
            ("nobatch_auto_complete", "auto_complete/nobatch_model.py", None),
            ("batch_auto_complete", "auto_complete/batch_model.py", None),
        ):
            (models / name / "1").mkdir(parents=True)
            shutil.copy(EXAMPLES / model, models / name / "1" / "model.py")
            if config is not None:
                shutil.copy(EXAMPLES / config, models / name / "config.pbtxt")
        echo = EXAMPLES.parent / "echo_parameters"
        (models / "echo_parameters" / "1").mkdir(parents=True)
        shutil.copy(echo / "model.py", models / "echo_parameters" / "1" / "model.py")
        shutil.copy(echo / "config.pbtxt", models / "echo_parameters" / "config.pbtxt")
        self.torchscript = write_torchscript(models / "libtorch" / "1")
        (models / "libtorch" / "config.pbtxt").write_text(
            libtorch_config("libtorch")
            + "dynamic_batching { max_queue_delay_microseconds: 1000 }\n"
        )
        self.iris_onnx = write_onnx_from_sklearn(models / "iris_onnx" / "1")
        (models / "iris_onnx" / "config.pbtxt").write_text(
            'platform: "onnxruntime_onnx"\nmax_batch_size: 16\n'
            'input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
        )
        write_onnx_from_sklearn(models / "iris_auto" / "1")  # no config.pbtxt
        write_onnx_from_sklearn(models / "iris_override" / "1")
        (models / "iris_override" / "config.pbtxt").write_text(
            'platform: "onnxruntime_onnx"\nmax_batch_size: 16\n'
            'input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
        )
        (models / "not_a_model").mkdir()
        export_digits_model(root / "exported_digits", {1: 20})
        (models / "digits" / "1").mkdir(parents=True)
        shutil.move(root / "exported_digits" / "1", models / "digits" / "1" / "model.savedmodel")
        (models / "digits" / "config.pbtxt").write_text('platform: "tensorflow_savedmodel"\n')
        self.digits_x = load_digits_28x28().test_images[:4]
        self.digits_scores = (
            tf.saved_model.load(str(models / "digits" / "1" / "model.savedmodel"))
            .signatures["serving_default"](images=tf.constant(self.digits_x))["scores"]
            .numpy()
        )
        self.exported = write_exported_program(root / "listed" / "ep" / "1")
        (root / "listed" / "add_sub_listed" / "1").mkdir(parents=True)
        shutil.copy(EXAMPLES / "add_sub/model.py", root / "listed" / "add_sub_listed" / "1")
        shutil.copy(EXAMPLES / "add_sub/config.pbtxt", root / "listed" / "add_sub_listed")
        x, y = iris()
        self.lightgbm = lightgbm.train(
            {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
            lightgbm.Dataset(x, y),
            num_boost_round=5,
        )
        (root / "listed" / "iris_lgb" / "1").mkdir(parents=True)
        self.lightgbm.save_model(str(root / "listed" / "iris_lgb" / "1" / "model.txt"))
        self.catboost = catboost.CatBoostClassifier(
            iterations=10, verbose=False, thread_count=1, allow_writing_files=False
        )
        self.catboost.fit(x, y)
        (root / "listed" / "iris_cb" / "1").mkdir(parents=True)
        self.catboost.save_model(str(root / "listed" / "iris_cb" / "1" / "model.cbm"))
        self.config = root / "listed" / "models.config"
        self.config.write_text(
            "model_config_list {\n"
            '  config { name: "ep" base_path: "ep" model_platform: "pytorch" }\n'
            '  config { name: "add_sub_listed" base_path: "add_sub_listed" model_platform: "python" }\n'
            '  config { name: "iris_lgb" base_path: "iris_lgb" model_platform: "lightgbm" }\n'
            '  config { name: "iris_cb" base_path: "iris_cb" model_platform: "catboost" }\n'
            "}\n"
        )


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Repository:
    return Repository(tmp_path_factory.mktemp("repository"))


@pytest.fixture(scope="module")
def server(start_server: Callable[..., ServerProcess], repository: Repository) -> ServerProcess:
    ports = ["--rest_api_port=8000", "--port=8001"] if all(map(_free, CLIENT_PORTS)) else []
    return start_server(
        f"--model_repository={repository.root / 'models'}",
        f"--model_config_file={repository.config}",
        "--enable_batching",
        *ports,
    )


def predict(
    server: ServerProcess, model: str, inputs: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for name, array in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    response = server.prediction.Predict(request, timeout=60)
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def run_example_client(server: ServerProcess, client: str) -> str:
    if server.rest_port != CLIENT_PORTS[0]:
        pytest.skip(
            f"port {CLIENT_PORTS[0]} was in use: Triton's example clients connect only there"
        )
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / client)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr + server.log()[-3000:]
    return done.stdout


def test_add_sub_example_client_passes(server: ServerProcess) -> None:
    assert "PASS: add_sub" in run_example_client(server, "add_sub/client.py")


def test_pytorch_example_client_passes(server: ServerProcess) -> None:
    assert "PASS" in run_example_client(server, "pytorch/client.py")


def test_bls_sync_example_client_passes_and_sees_the_unknown_model_error(
    server: ServerProcess,
) -> None:
    out = run_example_client(server, "bls/sync_client.py")
    assert "PASS: BLS Sync" in out
    assert "undefined_model" in out  # the BLS call's error text, printed by the client


def test_bls_async_example_client_passes(server: ServerProcess) -> None:
    assert "PASS" in run_example_client(server, "bls/async_client.py")


def test_auto_complete_example_client_passes(server: ServerProcess) -> None:
    assert "PASS: auto_complete" in run_example_client(server, "auto_complete/client.py")


def test_a_repository_models_config_is_its_config_pbtxt_on_http_and_grpc(
    server: ServerProcess,
) -> None:
    http = httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")
    config = http.get_model_config("iris_onnx")
    assert (config["name"], config["platform"], config["max_batch_size"]) == (
        "iris_onnx",
        "onnxruntime_onnx",
        16,
    )
    assert (config["input"][0]["name"], config["input"][0]["dims"]) == ("X", [4])
    grpc_client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    answer = grpc_client.get_model_config("nobatch_auto_complete").config
    assert (answer.backend, answer.max_batch_size) == ("python", 0)
    assert [(t.name, list(t.dims)) for t in answer.input] == [("INPUT0", [4]), ("INPUT1", [4])]


def test_request_parameters_reach_a_python_model_over_http_and_grpc(
    server: ServerProcess,
) -> None:
    given = {"greeting": "hi", "n": 3, "flag": True}
    for client, module in (
        (httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}"), httpclient),
        (grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}"), grpcclient),
    ):
        x = module.InferInput("IN", [1, 1], "FP32")
        x.set_data_from_numpy(np.zeros((1, 1), np.float32))
        result = client.infer("echo_parameters", [x], parameters=given)
        assert json.loads(result.as_numpy("PARAMETERS")[0, 0]) == given, module.__name__
        plain = client.infer("echo_parameters", [x])
        assert json.loads(plain.as_numpy("PARAMETERS")[0, 0]) == {}, module.__name__


def iris_probabilities(client: object, module: object) -> np.ndarray:
    x = iris()[0][:3].astype(np.float32)
    given = module.InferInput("X", list(x.shape), "FP32")  # type: ignore[attr-defined]
    given.set_data_from_numpy(x)
    result = client.infer("iris_override", [given])  # type: ignore[attr-defined]
    return np.asarray(result.as_numpy("probabilities"))


def test_a_load_with_a_config_overrides_config_pbtxt_over_http_and_grpc(
    server: ServerProcess,
) -> None:
    http = httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")
    grpc_client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    expected = iris_probabilities(http, httpclient)
    http.load_model("iris_override", config='{"max_batch_size": "8"}')
    overridden = http.get_model_config("iris_override")
    assert overridden["max_batch_size"] == 8
    # The override lists no tensors: the model's own complete it, as Triton's auto-complete.
    assert [(t["name"], t["dims"]) for t in overridden["input"]] == [("X", [4])]
    np.testing.assert_allclose(iris_probabilities(http, httpclient), expected, rtol=1e-6)
    override = {
        "max_batch_size": 4,
        "input": [{"name": "X", "data_type": "TYPE_FP32", "dims": [4]}],
        "dynamic_batching": {"max_queue_delay_microseconds": 500},
    }
    grpc_client.load_model("iris_override", config=json.dumps(override))
    config = grpc_client.get_model_config("iris_override").config
    assert (config.max_batch_size, config.dynamic_batching.max_queue_delay_microseconds) == (4, 500)
    np.testing.assert_allclose(iris_probabilities(grpc_client, grpcclient), expected, rtol=1e-6)
    for client in (http, grpc_client):
        with pytest.raises(InferenceServerException, match="failed to load 'iris_override'"):
            client.load_model("iris_override", config='{"max_batch_size": "x"}')
        with pytest.raises(InferenceServerException, match="'pytorch' but model"):
            client.load_model("iris_override", config='{"platform": "pytorch_libtorch"}')
    # A configuration the model contradicts fails its versions' load (after its retries).
    with pytest.raises(InferenceServerException, match="in the configuration but"):
        http.load_model(
            "iris_override",
            config='{"input": [{"name": "X", "data_type": "TYPE_INT32", "dims": [4]}]}',
        )
    assert not http.is_model_ready("iris_override")
    http.load_model("iris_override")  # no config: config.pbtxt again
    assert http.get_model_config("iris_override")["max_batch_size"] == 16
    assert http.is_model_ready("iris_override")


def bls_inputs(client: object, model: str, module: object) -> list[object]:
    a = np.ones(4, np.float32)
    inputs = [
        module.InferInput("INPUT0", [4], "FP32"),  # type: ignore[attr-defined]
        module.InferInput("INPUT1", [4], "FP32"),  # type: ignore[attr-defined]
        module.InferInput("MODEL_NAME", [1], "BYTES"),  # type: ignore[attr-defined]
    ]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(a)
    inputs[2].set_data_from_numpy(np.array([model.encode()], dtype=object))
    return inputs


def test_a_bls_error_reaches_http_and_grpc_clients(server: ServerProcess) -> None:
    http = httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")
    with pytest.raises(InferenceServerException, match="no_such_model"):
        http.infer("bls_sync", bls_inputs(http, "no_such_model", httpclient))
    grpc_client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    with pytest.raises(InferenceServerException, match="no_such_model"):
        grpc_client.infer("bls_sync", bls_inputs(grpc_client, "no_such_model", grpcclient))


def test_auto_completed_models_serve_with_their_completed_shapes(server: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")
    batch = client.get_model_metadata("batch_auto_complete")
    assert [i["shape"] for i in batch["inputs"]] == [[-1, 4], [-1, 4]]
    nobatch = client.get_model_metadata("nobatch_auto_complete")
    assert [i["shape"] for i in nobatch["inputs"]] == [[4], [4]]
    a, b = np.random.rand(3, 4).astype(np.float32), np.random.rand(3, 4).astype(np.float32)
    inputs = [
        httpclient.InferInput("INPUT0", [3, 4], "FP32"),
        httpclient.InferInput("INPUT1", [3, 4], "FP32"),
    ]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    result = client.infer("batch_auto_complete", inputs)
    np.testing.assert_allclose(result.as_numpy("OUTPUT0"), a + b)


def test_libtorch_model_uses_tritons_tensor_names_on_both_apis(
    server: ServerProcess, repository: Repository
) -> None:
    x, y = example_inputs(3)
    with torch.no_grad():
        total, difference = repository.torchscript(x, y)
    out = predict(server, "libtorch", {"INPUT__0": x.numpy(), "INPUT__1": y.numpy()})
    np.testing.assert_allclose(out["OUTPUT__0"], total.numpy(), rtol=1e-6)
    np.testing.assert_allclose(out["OUTPUT__1"], difference.numpy(), rtol=1e-6)

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    inputs = [grpcclient.InferInput(f"INPUT__{i}", [3, 4], "FP32") for i in range(2)]
    inputs[0].set_data_from_numpy(x.numpy())
    inputs[1].set_data_from_numpy(y.numpy())
    result = client.infer(
        "libtorch", inputs, outputs=[grpcclient.InferRequestedOutput("OUTPUT__1")]
    )
    np.testing.assert_allclose(result.as_numpy("OUTPUT__1"), difference.numpy(), rtol=1e-6)
    metadata = client.get_model_metadata("libtorch", as_json=True)
    assert [(i["name"], i["datatype"], i["shape"]) for i in metadata["inputs"]] == [
        ("INPUT__0", "FP32", ["-1", "4"]),
        ("INPUT__1", "FP32", ["-1", "4"]),
    ]


def test_onnx_models_with_and_without_config_answer_as_onnxruntime(
    server: ServerProcess, repository: Repository
) -> None:
    x = iris()[0][:6].astype(np.float32)
    label, probabilities = ort.InferenceSession(
        repository.iris_onnx, providers=["CPUExecutionProvider"]
    ).run(None, {"X": x})
    for model in ("iris_onnx", "iris_auto"):
        status, body = server.http(
            "POST", f"/v1/models/{model}:predict", {"inputs": {"X": x.tolist()}}
        )
        assert status == 200, body
        assert body["outputs"]["label"] == label.tolist()
        np.testing.assert_allclose(body["outputs"]["probabilities"], probabilities, rtol=1e-6)


def test_exported_program_from_models_config_over_rest_and_metadata(
    server: ServerProcess, repository: Repository
) -> None:
    x, y = example_inputs(4)
    with torch.no_grad():
        total, difference = repository.exported(x, y)
    status, body = server.http(
        "POST", "/v1/models/ep:predict", {"inputs": {"x": x.tolist(), "y": y.tolist()}}
    )
    assert status == 200, body
    outputs = sorted(body["outputs"].values(), key=lambda v: np.asarray(v).sum())
    expected = sorted([total.numpy(), difference.numpy()], key=lambda v: v.sum())
    for got, want in zip(outputs, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    status, metadata = server.http("GET", "/v1/models/ep/metadata")
    assert status == 200, metadata
    inputs = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert sorted(inputs) == ["x", "y"]


def test_python_model_from_models_config_answers_tf_serving_predict(server: ServerProcess) -> None:
    a, b = np.random.rand(4).astype(np.float32), np.random.rand(4).astype(np.float32)
    out = predict(server, "add_sub_listed", {"INPUT0": a, "INPUT1": b})
    np.testing.assert_allclose(out["OUTPUT0"], a + b)
    np.testing.assert_allclose(out["OUTPUT1"], a - b)


def test_savedmodel_in_tritons_layout_answers_as_tensorflow(
    server: ServerProcess, repository: Repository
) -> None:
    out = predict(server, "digits", {"images": repository.digits_x})
    np.testing.assert_allclose(out["scores"], repository.digits_scores, rtol=1e-5, atol=1e-7)


def test_a_folder_without_a_model_is_not_served(server: ServerProcess) -> None:
    status, _ = server.http("GET", "/v1/models/not_a_model")
    assert status == 404


def test_lightgbm_and_catboost_answer_as_their_libraries(
    server: ServerProcess, repository: Repository
) -> None:
    x = iris()[0][:5]
    out = predict(server, "iris_lgb", {"inputs": x})
    np.testing.assert_allclose(out["predictions"], repository.lightgbm.predict(x), rtol=1e-12)
    status, body = server.http("POST", "/v1/models/iris_cb:predict", {"instances": x.tolist()})
    assert status == 200, body
    np.testing.assert_allclose(body["predictions"], repository.catboost.predict_proba(x), rtol=1e-9)
    client = httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")
    given = httpclient.InferInput("inputs", list(x.shape), "FP64")
    given.set_data_from_numpy(x)
    result = client.infer("iris_cb", [given])
    np.testing.assert_allclose(
        result.as_numpy("predictions"), repository.catboost.predict_proba(x), rtol=1e-12
    )


def test_shutdown_runs_every_python_models_finalize(server: ServerProcess) -> None:
    """Last in this module: it stops the shared server. The examples' finalize() prints."""
    assert server.stop() == 0
    # the 7 Python models: add_sub(_listed), bls_sync/async, pytorch, both auto_complete
    assert server.log().count("Cleaning up...") == 7, server.log()[-3000:]
