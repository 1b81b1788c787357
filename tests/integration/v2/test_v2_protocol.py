"""The Open Inference Protocol (V2) through the real ``tritonclient.http`` and ``tritonclient.grpc``.

One batching server serves TF Serving's half_plus_two models (two versions with labels),
and the TF Serving API answers beside V2 on the same ports. Bad requests are checked for
their status and for a message naming the problem.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tests.integration.server_process import ServerProcess

CONFIG = """
model_config_list {{
  config {{ name: "half_plus_two" base_path: "{testdata}/saved_model_half_plus_two_cpu" model_platform: "tensorflow" }}
  config {{
    name: "two_versions"
    base_path: "{testdata}/saved_model_half_plus_two_2_versions"
    model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
    version_labels {{ key: "stable" value: 123 }}
    version_labels {{ key: "canary" value: 124 }}
  }}
}}
"""
BATCHING = "max_batch_size { value: 8 } batch_timeout_micros { value: 1000 } num_batch_threads { value: 2 }"

X = np.array([[1.0], [2.0], [5.0]], dtype=np.float32)
Y = X * 0.5 + 2


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., ServerProcess],
    testdata: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerProcess:
    folder = tmp_path_factory.mktemp("v2config")
    config = folder / "models.config"
    config.write_text(CONFIG.format(testdata=testdata))
    batching = folder / "batching.config"
    batching.write_text(BATCHING)
    return start_server(
        f"--model_config_file={config}",
        "--enable_batching",
        f"--batching_parameters_file={batching}",
    )


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")


@pytest.fixture(scope="module")
def grpc_client(server: ServerProcess) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")


def raw_post(
    server: ServerProcess, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:  # a JSON body
    request = urllib.request.Request(
        server.rest_url + path, data=body, method="POST", headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# --- health and metadata -------------------------------------------------------------------


def test_health_and_readiness_over_http_and_grpc(
    http: httpclient.InferenceServerClient, grpc_client: grpcclient.InferenceServerClient
) -> None:
    assert http.is_server_live() and http.is_server_ready()
    assert grpc_client.is_server_live() and grpc_client.is_server_ready()
    for client in (http, grpc_client):
        assert client.is_model_ready("half_plus_two")
        assert client.is_model_ready("two_versions", "123")
        assert client.is_model_ready("two_versions", "canary")
        assert not client.is_model_ready("two_versions", "999")
        assert not client.is_model_ready("no_such_model")


def test_health_endpoints_answer_plain_http(server: ServerProcess) -> None:
    assert server.http("GET", "/v2/health/live") == (200, {"live": True})
    assert server.http("GET", "/v2/health/ready") == (200, {"ready": True})
    status, body = server.http("GET", "/v2/models/no_such_model/ready")
    assert status == 404 and "no_such_model" in body["error"]


def test_server_metadata(
    http: httpclient.InferenceServerClient, grpc_client: grpcclient.InferenceServerClient
) -> None:
    metadata = http.get_server_metadata()
    assert metadata["name"] == "aioserving" and "binary_tensor_data" in metadata["extensions"]
    grpc_metadata = grpc_client.get_server_metadata()
    assert grpc_metadata.name == "aioserving" and "binary_tensor_data" in grpc_metadata.extensions


def test_model_metadata_describes_the_default_signature(
    http: httpclient.InferenceServerClient, grpc_client: grpcclient.InferenceServerClient
) -> None:
    expected_tensor = {"datatype": "FP32", "shape": [-1, 1]}
    metadata = http.get_model_metadata("two_versions")
    assert metadata["name"] == "two_versions"
    assert metadata["versions"] == ["123", "124"]
    assert metadata["platform"] == "tensorflow_savedmodel"
    assert metadata["inputs"] == [{"name": "x", **expected_tensor}]
    assert metadata["outputs"] == [{"name": "y", **expected_tensor}]
    grpc_metadata = grpc_client.get_model_metadata("two_versions", "stable")
    assert list(grpc_metadata.versions) == ["123", "124"]
    assert [(t.name, t.datatype, list(t.shape)) for t in grpc_metadata.inputs] == [
        ("x", "FP32", [-1, 1])
    ]


def test_unknown_model_is_not_found_and_an_unknown_label_invalid(
    http: httpclient.InferenceServerClient, grpc_client: grpcclient.InferenceServerClient
) -> None:
    # Triton's example clients test "Request for unknown model" in the message.
    with pytest.raises(
        InferenceServerException, match="Request for unknown model: 'no_such_model' is not found"
    ):
        http.get_model_metadata("no_such_model")
    with pytest.raises(
        InferenceServerException,
        match="failed to get model version from specified version string 'nightly'",
    ) as caught:
        grpc_client.get_model_metadata("two_versions", "nightly")
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"


# --- inference -------------------------------------------------------------------------------


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_http_infer(http: httpclient.InferenceServerClient, binary: bool) -> None:
    x = httpclient.InferInput("x", list(X.shape), "FP32")
    x.set_data_from_numpy(X, binary_data=binary)
    y = httpclient.InferRequestedOutput("y", binary_data=binary)
    result = http.infer("half_plus_two", [x], outputs=[y], request_id="req-7")
    np.testing.assert_allclose(result.as_numpy("y"), Y)
    response = result.get_response()
    assert response["id"] == "req-7"
    assert response["model_name"] == "half_plus_two" and response["model_version"] == "123"


def test_http_infer_without_requested_outputs_returns_all_in_binary(
    http: httpclient.InferenceServerClient,
) -> None:
    x = httpclient.InferInput("x", list(X.shape), "FP32")
    x.set_data_from_numpy(X)
    result = http.infer("two_versions", [x], model_version="canary")
    np.testing.assert_allclose(result.as_numpy("y"), Y)
    assert result.get_response()["model_version"] == "124"
    assert result.get_output("y")["parameters"]["binary_data_size"] == Y.nbytes


def test_grpc_infer_with_raw_contents(grpc_client: grpcclient.InferenceServerClient) -> None:
    x = grpcclient.InferInput("x", list(X.shape), "FP32")
    x.set_data_from_numpy(X)
    result = grpc_client.infer(
        "two_versions",
        [x],
        model_version="123",
        outputs=[grpcclient.InferRequestedOutput("y")],
        request_id="g1",
    )
    np.testing.assert_allclose(result.as_numpy("y"), Y)
    response = result.get_response()
    assert response.id == "g1" and response.model_version == "123"


def test_grpc_infer_with_typed_contents(server: ServerProcess) -> None:
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = service_pb2.ModelInferRequest(model_name="half_plus_two")
        tensor = request.inputs.add(name="x", datatype="FP32", shape=[3, 1])
        tensor.contents.fp32_contents.extend(X.ravel().tolist())
        response = stub.ModelInfer(request)
    (output,) = response.outputs
    assert (output.name, output.datatype, list(output.shape)) == ("y", "FP32", [3, 1])
    np.testing.assert_allclose(
        np.frombuffer(response.raw_output_contents[0], "<f4").reshape(3, 1), Y
    )


def test_json_infer_without_content_type(server: ServerProcess) -> None:
    body = json.dumps(
        {
            "id": "plain",
            "inputs": [{"name": "x", "shape": [3, 1], "datatype": "FP32", "data": [[1], [2], [5]]}],
        }
    )
    status, response = raw_post(server, "/v2/models/half_plus_two/infer", body.encode())
    assert status == 200, response
    assert response["id"] == "plain"
    assert response["outputs"] == [
        {"name": "y", "datatype": "FP32", "shape": [3, 1], "data": Y.ravel().tolist()}
    ]


def test_v2_requests_are_counted_in_tf_serving_metrics(
    server: ServerProcess, http: httpclient.InferenceServerClient
) -> None:
    x = httpclient.InferInput("x", [1, 1], "FP32")
    x.set_data_from_numpy(X[:1])
    http.infer("half_plus_two", [x])
    status, text = server.http("GET", "/metrics")
    assert status == 200
    assert re.search(
        r':tensorflow:serving:request_count\{model_name="half_plus_two",status="OK"\} [1-9]', text
    )
    assert 'API="ModelInfer",entrypoint="V2"' in text


# --- bad input -----------------------------------------------------------------------------


def test_wrong_datatype_is_invalid_argument(
    http: httpclient.InferenceServerClient, grpc_client: grpcclient.InferenceServerClient
) -> None:
    ints = np.array([[1], [2]], dtype=np.int32)
    for client, module in ((http, httpclient), (grpc_client, grpcclient)):
        x = module.InferInput("x", [2, 1], "INT32")
        x.set_data_from_numpy(ints)
        with pytest.raises(
            InferenceServerException,
            match="input 'x' has datatype INT32 but the model expects FP32",
        ) as caught:
            client.infer("half_plus_two", [x])
        assert caught.value.status() in ("400", "StatusCode.INVALID_ARGUMENT")


def test_shape_not_matching_the_data_is_rejected(
    server: ServerProcess, grpc_client: grpcclient.InferenceServerClient
) -> None:
    body = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]}
    status, response = raw_post(server, "/v2/models/half_plus_two/infer", json.dumps(body).encode())
    assert status == 400 and "shape [2, 2] needs 4 elements, but data has 3" in response["error"]
    x = grpcclient.InferInput("x", [4, 1], "FP32")
    x._raw_content = X.tobytes()  # 3 floats sent for a [4, 1] shape
    with pytest.raises(
        InferenceServerException,
        match=r"12 bytes of binary data, but shape \[4, 1\] of FP32 needs 16",
    ) as caught:
        grpc_client.infer("half_plus_two", [x])
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"


def test_binary_size_not_matching_the_header_is_rejected(server: ServerProcess) -> None:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [3, 1],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 12},
                }
            ]
        }
    ).encode()
    for extra, message in (
        (b"", "runs past the 8 bytes"),
        (b"\0" * 8, "take 12 bytes of binary data but the body has 16"),
    ):
        payload = X.tobytes()[:8] if not extra else X.tobytes() + b"\0" * 4
        status, response = raw_post(
            server,
            "/v2/models/half_plus_two/infer",
            header + payload,
            {"Inference-Header-Content-Length": str(len(header))},
        )
        assert status == 400 and message in response["error"], response


def test_unknown_input_and_output_are_named(http: httpclient.InferenceServerClient) -> None:
    x = httpclient.InferInput("nope", [3, 1], "FP32")
    x.set_data_from_numpy(X)
    with pytest.raises(InferenceServerException, match="unknown input 'nope'"):
        http.infer("half_plus_two", [x])
    x = httpclient.InferInput("x", [3, 1], "FP32")
    x.set_data_from_numpy(X)
    with pytest.raises(
        InferenceServerException, match="output tensor alias not found in signature: missing"
    ):
        http.infer("half_plus_two", [x], outputs=[httpclient.InferRequestedOutput("missing")])


def test_unknown_datatype_and_unknown_version(
    server: ServerProcess, grpc_client: grpcclient.InferenceServerClient
) -> None:
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP8", "data": [1]}]}
    status, response = raw_post(server, "/v2/models/half_plus_two/infer", json.dumps(body).encode())
    assert status == 400 and "unsupported datatype 'FP8'" in response["error"]
    x = grpcclient.InferInput("x", [3, 1], "FP32")
    x.set_data_from_numpy(X)
    with pytest.raises(InferenceServerException, match="version 7 is not found") as caught:
        grpc_client.infer("half_plus_two", [x], model_version="7")
    assert caught.value.status() == "StatusCode.NOT_FOUND"
