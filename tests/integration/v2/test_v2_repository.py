"""V2 model repository extension, model config and statistics through the real tritonclient,
and a V2 request sharing a batch with a TF Serving request. One batching server.

Batching: ``max_batch_size`` 2 with a long ``batch_timeout_micros``, so two requests in
flight at once leave as one full batch at once, while a lone request waits the timeout:
TF Serving's fixed timeout (``--batching_cost_model=false``; the cost model would send
the first of the two out alone, as its model is idle).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from google.protobuf import text_format
from tensorflow_serving.apis import model_management_pb2, predict_pb2
from tensorflow_serving.config import model_server_config_pb2
from tritonclient.utils import InferenceServerException

from tests.integration.server_process import ServerProcess

ENTRY = 'config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" {extra} }}'
BATCHING = "max_batch_size { value: 2 } batch_timeout_micros { value: 400000 } num_batch_threads { value: 1 }"
X = np.array([[3.0]], dtype=np.float32)


def config_text(testdata: Path, extra: str = "") -> str:
    base = testdata / "saved_model_half_plus_two_cpu"
    entries = [
        ENTRY.format(name="half_plus_two", base=base, extra=extra),
        ENTRY.format(name="shared", base=base, extra=""),
    ]
    return "model_config_list { " + " ".join(entries) + " }"


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., ServerProcess],
    testdata: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerProcess:
    folder = tmp_path_factory.mktemp("v2repo")
    config = folder / "models.config"
    config.write_text(config_text(testdata))
    batching = folder / "batching.config"
    batching.write_text(BATCHING)
    return start_server(
        f"--model_config_file={config}",
        "--enable_batching",
        f"--batching_parameters_file={batching}",
        "--batching_cost_model=false",
    )


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}", network_timeout=30)


@pytest.fixture(scope="module")
def grpc_client(server: ServerProcess) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")


def reload(server: ServerProcess, text: str) -> None:
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    response = server.models.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=config), timeout=60
    )
    assert response.status.error_code == 0, response.status.error_message


def http_infer(http: httpclient.InferenceServerClient, model: str = "half_plus_two") -> np.ndarray:
    tensor = httpclient.InferInput("x", list(X.shape), "FP32")
    tensor.set_data_from_numpy(X, binary_data=True)
    y: np.ndarray = http.infer(model, [tensor]).as_numpy("y")
    return y


def states(index: list[dict[str, str]], name: str) -> list[tuple[str, str, str]]:
    return [(e["version"], e["state"], e["reason"]) for e in index if e["name"] == name]


def test_index_lists_every_configured_model_ready(
    http: httpclient.InferenceServerClient, grpc_client: grpcclient.InferenceServerClient
) -> None:
    index = http.get_model_repository_index()
    assert states(index, "half_plus_two") == [("123", "READY", "")]
    assert states(index, "shared") == [("123", "READY", "")]
    grpc_index = grpc_client.get_model_repository_index(as_json=True)["models"]
    assert {(m["name"], m["version"], m["state"]) for m in grpc_index} == {
        ("half_plus_two", "123", "READY"),
        ("shared", "123", "READY"),
    }


def test_unload_then_load_over_http(
    server: ServerProcess, http: httpclient.InferenceServerClient
) -> None:
    http.unload_model("half_plus_two")
    assert not http.is_model_ready("half_plus_two")
    assert http.is_server_ready()  # an unloaded model does not make the server unready
    assert states(http.get_model_repository_index(), "half_plus_two") == [
        ("123", "UNAVAILABLE", "unloaded")
    ]
    assert server.http("POST", "/v2/repository/index", {"ready": True}) == (
        200,
        [{"name": "shared", "version": "123", "state": "READY", "reason": ""}],
    )
    with pytest.raises(InferenceServerException) as failure:
        http_infer(http)
    assert failure.value.status() == "503"
    assert http_infer(http, "shared") == pytest.approx(X * 0.5 + 2)  # the other model serves on

    http.load_model("half_plus_two")
    assert http.is_model_ready("half_plus_two")
    assert http_infer(http) == pytest.approx(X * 0.5 + 2)


def test_unload_then_load_over_grpc(grpc_client: grpcclient.InferenceServerClient) -> None:
    grpc_client.unload_model("half_plus_two")
    assert not grpc_client.is_model_ready("half_plus_two")
    grpc_client.load_model("half_plus_two")
    assert grpc_client.is_model_ready("half_plus_two")


def test_unknown_model_is_not_found(
    server: ServerProcess,
    http: httpclient.InferenceServerClient,
    grpc_client: grpcclient.InferenceServerClient,
) -> None:
    for call in (http.load_model, http.unload_model):
        with pytest.raises(InferenceServerException) as failure:
            call("nope")
        assert failure.value.status() == "404" and "nope" in failure.value.message()
    for call in (grpc_client.load_model, grpc_client.unload_model):
        with pytest.raises(InferenceServerException) as failure:
            call("nope")
        assert failure.value.status() == "StatusCode.NOT_FOUND"
    assert (
        server.http(
            "POST", "/v2/repository/models/half_plus_two/load", {"parameters": {"config": "{}"}}
        )[0]
        == 400
    )


def test_a_reload_keeps_an_unloaded_model_out_until_its_entry_changes(
    server: ServerProcess, http: httpclient.InferenceServerClient, testdata: Path
) -> None:
    http.unload_model("half_plus_two")
    reload(server, config_text(testdata))  # the same entry: stays unloaded
    assert not http.is_model_ready("half_plus_two")
    reload(server, config_text(testdata, "model_version_policy { specific { versions: 123 } }"))
    assert http.is_model_ready("half_plus_two")  # a changed entry clears the unload
    reload(server, config_text(testdata))
    assert http.is_model_ready("half_plus_two")


def test_model_config(
    http: httpclient.InferenceServerClient, grpc_client: grpcclient.InferenceServerClient
) -> None:
    config = http.get_model_config("half_plus_two")
    assert config == {
        "name": "half_plus_two",
        "platform": "tensorflow_savedmodel",
        "max_batch_size": 2,
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [1]}],
        "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [1]}],
    }
    grpc_config = grpc_client.get_model_config("half_plus_two", as_json=True)["config"]
    assert grpc_config["max_batch_size"] == 2
    assert grpc_config["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": ["1"]}]
    with pytest.raises(InferenceServerException) as failure:
        http.get_model_config("nope")
    assert failure.value.status() == "404"


def test_statistics_count_inference_requests(
    http: httpclient.InferenceServerClient, grpc_client: grpcclient.InferenceServerClient
) -> None:
    def successes() -> int:
        stats = http.get_inference_statistics("half_plus_two")["model_stats"]
        assert [s["name"] for s in stats] == ["half_plus_two"]
        return int(stats[0]["inference_stats"]["success"]["count"])

    before = successes()
    http_infer(http)
    assert successes() == before + 1
    names = {s["name"] for s in grpc_client.get_inference_statistics(as_json=True)["model_stats"]}
    assert names == {"half_plus_two", "shared"}
    with pytest.raises(InferenceServerException):
        http.get_inference_statistics("nope")


def batch_histogram(server: ServerProcess, model: str) -> tuple[float, float]:
    _, text = server.http("GET", "/metrics")
    values = {}
    for kind in ("count", "sum"):
        pattern = rf':tensorflow:serving:batching_session:input_batch_size_{kind}\{{model_name="{model}"\}} (\S+)'
        match = re.search(pattern, text)
        values[kind] = float(match.group(1)) if match else 0.0
    return values["count"], values["sum"]


def test_a_v2_and_a_tf_serving_request_share_one_batch(
    server: ServerProcess, grpc_client: grpcclient.InferenceServerClient
) -> None:
    before = batch_histogram(server, "shared")
    results: dict[str, object] = {}

    def tf_serving() -> None:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "shared"
        request.inputs["x"].CopyFrom(__import__("tensorflow").make_tensor_proto(X))
        results["tf"] = server.prediction.Predict(request, timeout=30)

    def v2() -> None:
        tensor = grpcclient.InferInput("x", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X)
        results["v2"] = grpc_client.infer("shared", [tensor]).as_numpy("y")

    threads = [threading.Thread(target=tf_serving), threading.Thread(target=v2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results["v2"] == pytest.approx(X * 0.5 + 2)
    assert list(results["tf"].outputs["y"].float_val) == pytest.approx([3.5])  # type: ignore[attr-defined]
    count, rows = batch_histogram(server, "shared")
    assert (count - before[0], rows - before[1]) == (1, 2)  # one batch, of both requests
