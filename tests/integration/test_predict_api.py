"""Predict, metadata and status through the official stubs and plain HTTP.

The session's shared ``tf_serving_models_server`` serves TF Serving's half_plus_two test
models (TF1 and TF2 exports, two versions, labels) and the counter; every test checks TF
Serving's answers: values, model specs, status codes and error messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf.message import Message
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

from tests.integration.server_process import ServerProcess


@pytest.fixture(scope="module")
def server(tf_serving_models_server: ServerProcess) -> ServerProcess:
    """The session's shared server (``tests/integration/conftest.py``)."""
    return tf_serving_models_server


def predict_request(model: str, x: np.ndarray, **spec: object) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = int(value)  # type: ignore[call-overload]
        else:
            setattr(request.model_spec, key, value)
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
    return request


def grpc_error(call: Callable[..., object], request: Message) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=30)
    return raised.value


# --- gRPC Predict ----------------------------------------------------------------------


def test_grpc_predict_latest_version(server: ServerProcess) -> None:
    response = server.prediction.Predict(
        predict_request("half_plus_two", np.array([[2.0], [10.0]], np.float32)), timeout=30
    )
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[3.0], [7.0]])
    assert response.model_spec.name == "half_plus_two"
    assert response.model_spec.version.value == 123
    assert response.model_spec.signature_name == "serving_default"


def test_grpc_predict_is_lenient_about_shapes_like_tf_serving(server: ServerProcess) -> None:
    response = server.prediction.Predict(
        predict_request("half_plus_two", np.array([2.0, 3.0, 4.0], np.float32)), timeout=30
    )
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [3.0, 3.5, 4.0])


def test_grpc_predict_tf2_export(server: ServerProcess) -> None:
    response = server.prediction.Predict(
        predict_request("tf2", np.array([[2.0], [10.0]], np.float32)), timeout=30
    )
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[3.0], [7.0]])


@pytest.mark.parametrize(
    ("spec", "version"),
    [
        ({"version": 123}, 123),
        ({"version": 124}, 124),
        ({"version_label": "stable"}, 123),
        ({"version_label": "canary"}, 124),
        ({}, 124),
    ],
)
def test_grpc_predict_by_version_and_label(
    server: ServerProcess, spec: dict[str, object], version: int
) -> None:
    response = server.prediction.Predict(
        predict_request("two_versions", np.array([[1.0]], np.float32), **spec), timeout=30
    )
    assert response.model_spec.version.value == version
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[2.5]])


def test_grpc_predict_with_tensor_content_and_output_filter(server: ServerProcess) -> None:
    request = predict_request("half_plus_two", np.zeros((1, 1), np.float32))
    request.inputs["x"].Clear()
    request.inputs["x"].dtype = tf.float32.as_datatype_enum
    request.inputs["x"].tensor_shape.dim.add().size = 3
    request.inputs["x"].tensor_shape.dim.add().size = 1
    request.inputs["x"].tensor_content = np.array([1, 2, 3], np.float32).tobytes()
    request.output_filter.append("y")
    response = server.prediction.Predict(request, timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[2.5], [3.0], [3.5]])


def test_grpc_predict_stateful_counter_without_inputs(server: ServerProcess) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "counter"
    request.model_spec.signature_name = "reset_counter"
    server.prediction.Predict(request, timeout=30)
    request.model_spec.signature_name = "incr_counter"
    server.prediction.Predict(request, timeout=30)
    response = server.prediction.Predict(request, timeout=30)
    assert tf.make_ndarray(response.outputs["output"]) == 2.0


@pytest.mark.parametrize(
    ("request_factory", "code", "message"),
    [
        (
            lambda: predict_request("nope", np.ones((1, 1), np.float32)),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            lambda: predict_request("half_plus_two", np.ones((1, 1), np.float32), version=7),
            grpc.StatusCode.NOT_FOUND,
            "Specific(half_plus_two, 7)",
        ),
        (
            lambda: predict_request(
                "two_versions", np.ones((1, 1), np.float32), version_label="beta"
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: beta",
        ),
        (
            lambda: predict_request(
                "half_plus_two", np.ones((1, 1), np.float32), signature_name="nope"
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "nope",
        ),
        (
            lambda: predict_request("half_plus_two", np.array([["a"]], object)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "x",
        ),
    ],
)
def test_grpc_predict_errors(
    server: ServerProcess,
    request_factory: Callable[[], Message],
    code: grpc.StatusCode,
    message: str,
) -> None:
    error = grpc_error(server.prediction.Predict, request_factory())
    assert error.code() == code
    assert message in error.details()


def test_grpc_predict_missing_extra_and_malformed_inputs(server: ServerProcess) -> None:
    request = predict_request("half_plus_two", np.ones((1, 1), np.float32))
    request.inputs["x2"].CopyFrom(tf.make_tensor_proto(np.ones((1, 1), np.float32)))
    error = grpc_error(server.prediction.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Sent extra: {x2}" in error.details()

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    error = grpc_error(server.prediction.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Missing but required: {x}" in error.details()

    request = predict_request("half_plus_two", np.ones((1, 1), np.float32))
    request.inputs["x"].Clear()
    request.inputs["x"].dtype = tf.float32.as_datatype_enum
    request.inputs["x"].tensor_shape.dim.add().size = 4
    request.inputs["x"].tensor_content = b"\x00" * 12
    error = grpc_error(server.prediction.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_grpc_bad_request_does_not_disturb_the_next(server: ServerProcess) -> None:
    grpc_error(server.prediction.Predict, predict_request("nope", np.ones((1, 1), np.float32)))
    response = server.prediction.Predict(
        predict_request("half_plus_two", np.array([[4.0]], np.float32)), timeout=30
    )
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[4.0]])


# --- gRPC metadata and status ------------------------------------------------------------


def test_grpc_metadata_holds_the_signature_def_map(server: ServerProcess) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "half_plus_two"
    response = server.prediction.GetModelMetadata(request, timeout=30)
    assert response.model_spec.version.value == 123
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    assert set(signature_defs.signature_def) >= {
        "serving_default",
        "classify_x_to_y",
        "regress_x_to_y",
    }
    assert signature_defs.signature_def["serving_default"].inputs["x"].name == "x:0"


def test_grpc_model_status(server: ServerProcess) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "two_versions"
    response = server.models.GetModelStatus(request, timeout=30)
    states = {s.version: s.state for s in response.model_version_status}
    assert states == {
        123: get_model_status_pb2.ModelVersionStatus.AVAILABLE,
        124: get_model_status_pb2.ModelVersionStatus.AVAILABLE,
    }
    request.model_spec.name = "nope"
    error = grpc_error(server.models.GetModelStatus, request)
    assert error.code() == grpc.StatusCode.NOT_FOUND


# --- REST --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/v1/models/half_plus_two:predict", "/v1/models/half_plus_two/versions/123:predict"],
)
def test_rest_predict_row_format(server: ServerProcess, path: str) -> None:
    status, body = server.http("POST", path, {"instances": [[2.0], [10.0]]})
    assert (status, body) == (200, {"predictions": [[3.0], [7.0]]})


def test_rest_predict_columnar_and_labels(server: ServerProcess) -> None:
    status, body = server.http(
        "POST", "/v1/models/two_versions/labels/canary:predict", {"inputs": {"x": [[1.0]]}}
    )
    assert (status, body) == (200, {"outputs": [[2.5]]})
    status, body = server.http(
        "POST",
        "/v1/models/two_versions/labels/stable:predict",
        {"signature_name": "serving_default", "inputs": [[1.0], [3.0]]},
    )
    assert (status, body) == (200, {"outputs": [[2.5], [3.5]]})


def test_rest_predict_named_instances(server: ServerProcess) -> None:
    status, body = server.http(
        "POST", "/v1/models/half_plus_two:predict", {"instances": [{"x": [2.0]}, {"x": [4.0]}]}
    )
    assert (status, body) == (200, {"predictions": [[3.0], [4.0]]})


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        ("POST", "/v1/models/nope:predict", {"instances": [[1.0]]}, 404, "nope"),
        (
            "POST",
            "/v1/models/half_plus_two/versions/9:predict",
            {"instances": [[1.0]]},
            404,
            "half_plus_two",
        ),
        (
            "POST",
            "/v1/models/two_versions/labels/beta:predict",
            {"instances": [[1.0]]},
            400,
            "beta",
        ),
        (
            "POST",
            "/v1/models/half_plus_two/versions/abc:predict",
            {"instances": [[1.0]]},
            400,
            "Malformed request",
        ),
        ("POST", "/v1/models/half_plus_two:predict", "{not json", 400, ""),
        ("POST", "/v1/models/half_plus_two:predict", "[1, 2]", 400, ""),
        (
            "POST",
            "/v1/models/half_plus_two:predict",
            {"instances": [[1.0]], "inputs": [[1.0]]},
            400,
            "",
        ),
        (
            "POST",
            "/v1/models/half_plus_two:predict",
            {"signature_name": "serving_default"},
            400,
            "",
        ),
        ("POST", "/v1/models/half_plus_two:predict", {"instances": [[1.0], [1.0, 2.0]]}, 400, ""),
        # json_tensor.cc: the signature's names are looked up; "z" is never read.
        (
            "POST",
            "/v1/models/half_plus_two:predict",
            {"inputs": {"z": [[1.0]]}},
            400,
            "Missing named input: x in 'inputs' object.",
        ),
        (
            "POST",
            "/v1/models/half_plus_two:predict",
            {"signature_name": "nope", "instances": [[1.0]]},
            400,
            "nope",
        ),
        ("GET", "/v1/models/nope", None, 404, "nope"),
        ("GET", "/v1/models/half_plus_two/versions/9", None, 404, "9"),
    ],
)
def test_rest_errors(
    server: ServerProcess, method: str, path: str, body: object, status: int, fragment: str
) -> None:
    got_status, got_body = server.http(method, path, body)  # type: ignore[arg-type]
    assert got_status == status, got_body
    assert isinstance(got_body, dict) and set(got_body) == {"error"}
    assert fragment in got_body["error"]


def test_rest_accepts_nan_and_infinity_tokens(server: ServerProcess) -> None:
    status, body = server.http(
        "POST",
        "/v1/models/half_plus_two:predict",
        '{"instances": [[NaN], [Infinity], [-Infinity]]}',
    )
    assert status == 200
    assert isinstance(body, dict)
    values = [row[0] for row in body["predictions"]]
    assert np.isnan(values[0]) and values[1] == float("inf") and values[2] == float("-inf")


def test_rest_model_status(server: ServerProcess) -> None:
    status, body = server.http("GET", "/v1/models/half_plus_two")
    assert status == 200
    assert body == {
        "model_version_status": [
            {
                "version": "123",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    # TF Serving's GetModelStatus ignores a label and reports every version.
    status, body = server.http("GET", "/v1/models/two_versions/labels/canary")
    assert status == 200 and sorted(s["version"] for s in body["model_version_status"]) == [
        "123",
        "124",
    ]


def test_rest_metadata_matches_tf_serving_byte_for_byte_in_json(
    server: ServerProcess, testdata: Path
) -> None:
    expected = json.loads(
        (testdata / "saved_model_half_plus_two_2_versions_metadata.json").read_text()
    )
    status, body = server.http("GET", "/v1/models/two_versions/versions/123/metadata")
    assert status == 200
    expected["model_spec"]["name"] = "two_versions"
    assert body == expected


def test_rest_metadata_of_tf2_export(server: ServerProcess, testdata: Path) -> None:
    expected = json.loads(
        (testdata / "saved_model_half_plus_two_tf2_2_versions_metadata.json").read_text()
    )
    status, body = server.http("GET", "/v1/models/tf2/metadata")
    assert status == 200
    # TF Serving's printer leaves the empty "defaults" map out for the init op alone (and
    # only there); every other field, including all empty maps elsewhere, must match.
    body["metadata"]["signature_def"]["signature_def"]["__saved_model_init_op"].pop("defaults")
    assert body["metadata"] == expected["metadata"]
