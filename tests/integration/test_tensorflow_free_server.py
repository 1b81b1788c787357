"""A server whose models are all scikit-learn or XGBoost never starts TensorFlow.

The frontends speak TF Serving's protos, which live in the ``tensorflow`` package; the
server defers that package's initialisation (``servables.deferred_tensorflow``) until a
TensorFlow model needs it. Checked from outside, on the real process: TensorFlow's
runtime library (``libtensorflow_framework``) is mapped into the server's memory only
once TensorFlow started, so ``/proc/<pid>/maps`` tells. The server answers Classify
(gRPC, on serialized tf.Examples) and REST predict meanwhile, and its log holds none of
TensorFlow's start-up lines. A server with a TensorFlow model, asked the same way, has
the library mapped: the check can tell the two apart.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tensorflow_serving.apis import classification_pb2

from tests.integration.server_process import ServerProcess
from tests.platform_models import iris, write_sklearn_classifier, write_xgboost

TENSORFLOW_RUNTIME = "libtensorflow_framework"
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps (Linux)"
)


def tensorflow_runtime_mapped(server: ServerProcess) -> bool:
    return TENSORFLOW_RUNTIME in Path(f"/proc/{server.process.pid}/maps").read_text()


def available(server: ServerProcess, name: str) -> bool:
    status, body = server.http("GET", f"/v1/models/{name}")
    return status == 200 and any(
        version["state"] == "AVAILABLE" for version in body["model_version_status"]
    )


@pytest.fixture(scope="module")
def sklearn_xgboost_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("no_tensorflow")
    write_sklearn_classifier(root / "iris_sklearn" / "1")
    write_xgboost(root / "iris_xgboost" / "1")
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        '  config { name: "iris_sklearn" base_path: "iris_sklearn" model_platform: "sklearn" }\n'
        '  config { name: "iris_xgboost" base_path: "iris_xgboost" model_platform: "xgboost" }\n'
        "}\n"
    )
    server = ServerProcess([f"--model_config_file={config}"], root)
    for name in ("iris_sklearn", "iris_xgboost"):  # fresh folders settle over two polls
        server.wait_until(lambda name=name: available(server, name), what=f"{name} AVAILABLE")
    yield server
    server.stop()


def test_a_sklearn_and_xgboost_server_answers_without_starting_tensorflow(
    sklearn_xgboost_server: ServerProcess,
) -> None:
    server = sklearn_xgboost_server
    x, _ = iris()
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "iris_sklearn"
    request.model_spec.signature_name = "classify"
    for row in x[:3]:
        example = request.input.example_list.examples.add()
        example.features.feature["inputs"].float_list.value.extend(row.tolist())
    response = server.prediction.Classify(request, timeout=30)
    assert len(response.result.classifications) == 3
    status, body = server.http(
        "POST", "/v1/models/iris_xgboost:predict", {"instances": x[:2].tolist()}
    )
    assert status == 200 and len(body["predictions"]) == 2
    assert not tensorflow_runtime_mapped(server)
    log = server.log().lower()
    assert "onednn" not in log and "cuda" not in log


def test_a_server_with_a_tensorflow_model_has_tensorflow_started(
    tmp_path: Path, testdata: Path
) -> None:
    server = ServerProcess(
        [f"--model_base_path={testdata / 'saved_model_half_plus_two_cpu'}"], tmp_path
    )
    try:
        status, _ = server.http("POST", "/v1/models/default:predict", {"instances": [1.0]})
        assert status == 200
        assert tensorflow_runtime_mapped(server)
    finally:
        server.stop()
