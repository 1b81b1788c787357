"""Classify, Regress and MultiInference through the official stubs and plain HTTP.

The session's shared ``tf_serving_models_server`` serves TF Serving's half_plus_two (TF1
and TF2 exports) and half_plus_three test models (the method-name check has its own
server); the expected numbers are those in the test data README (x=2 and x=10 give 3 and
7 for ``x_to_y``, 4 and 8 for ``x_to_y2`` and for half_plus_three).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message
from tensorflow_serving.apis import classification_pb2, inference_pb2, input_pb2, regression_pb2

from tests.integration.server_process import ServerProcess

CLASSIFY, REGRESS = "tensorflow/serving/classify", "tensorflow/serving/regress"


@pytest.fixture(scope="module")
def server(tf_serving_models_server: ServerProcess) -> ServerProcess:
    """The session's shared server (``tests/integration/conftest.py``)."""
    return tf_serving_models_server


def examples(*xs: float | None, context: dict[str, float] | None = None) -> input_pb2.Input:
    """Examples with feature ``x`` (None: an Example without it), optionally with a context."""
    proto = input_pb2.Input()
    if context is None:
        target = proto.example_list.examples
    else:
        for name, value in context.items():
            proto.example_list_with_context.context.features.feature[name].float_list.value.append(
                value
            )
        target = proto.example_list_with_context.examples
    for x in xs:
        example = target.add()
        if x is not None:
            example.features.feature["x"].float_list.value.append(x)
    return proto


def classify(
    model: str, signature: str, input_proto: input_pb2.Input
) -> classification_pb2.ClassificationRequest:
    request = classification_pb2.ClassificationRequest(input=input_proto)
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    return request


def regress(
    model: str, signature: str, input_proto: input_pb2.Input
) -> regression_pb2.RegressionRequest:
    request = regression_pb2.RegressionRequest(input=input_proto)
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    return request


def multi(
    *tasks: tuple[str, str, str], input_proto: input_pb2.Input
) -> inference_pb2.MultiInferenceRequest:
    request = inference_pb2.MultiInferenceRequest(input=input_proto)
    for model, signature, method in tasks:
        task = request.tasks.add(method_name=method)
        task.model_spec.name = model
        task.model_spec.signature_name = signature
    return request


def grpc_error(call: Callable[..., object], request: Message) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=30)
    return raised.value


# --- gRPC --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["half_plus_two", "tf2"])
def test_grpc_classify(server: ServerProcess, model: str) -> None:
    response = server.prediction.Classify(
        classify(model, "classify_x_to_y", examples(2.0, 10.0)), timeout=30
    )
    got = [[(c.label, c.score) for c in entry.classes] for entry in response.result.classifications]
    assert got == [[("", 3.0)], [("", 7.0)]]
    assert response.model_spec.name == model
    assert response.model_spec.version.value == 123
    assert response.model_spec.signature_name == "classify_x_to_y"


@pytest.mark.parametrize("model", ["half_plus_two", "tf2"])
@pytest.mark.parametrize(
    ("signature", "expected"), [("regress_x_to_y", [3.0, 7.0]), ("regress_x_to_y2", [4.0, 8.0])]
)
def test_grpc_regress(
    server: ServerProcess, model: str, signature: str, expected: list[float]
) -> None:
    response = server.prediction.Regress(regress(model, signature, examples(2.0, 10.0)), timeout=30)
    assert [r.value for r in response.result.regressions] == expected
    assert response.model_spec.signature_name == signature
    assert response.model_spec.version.value == 123


def test_grpc_regress_on_half_plus_three_feeds_examples_to_a_float_declared_input(
    server: ServerProcess,
) -> None:
    response = server.prediction.Regress(
        regress("half_plus_three", "tensorflow/serving/regress", examples(2.0, 10.0)), timeout=30
    )
    assert [r.value for r in response.result.regressions] == [4.0, 8.0]


def test_grpc_context_is_merged_and_the_example_wins_a_conflict(server: ServerProcess) -> None:
    # TF Serving's util_test.cc ExampleListWithOverridingContext: the example's value wins.
    response = server.prediction.Regress(
        regress("half_plus_two", "regress_x_to_y", examples(None, context={"x": 10.0})), timeout=30
    )
    assert [r.value for r in response.result.regressions] == [7.0]
    response = server.prediction.Regress(
        regress("half_plus_two", "regress_x_to_y", examples(2.0, None, context={"x": 100.0})),
        timeout=30,
    )
    assert [r.value for r in response.result.regressions] == [3.0, 52.0]


def test_grpc_multi_inference(server: ServerProcess) -> None:
    request = multi(
        ("half_plus_two", "classify_x_to_y", CLASSIFY),
        ("half_plus_two", "regress_x_to_y2", REGRESS),
        input_proto=examples(2.0, 10.0),
    )
    response = server.prediction.MultiInference(request, timeout=30)
    first, second = response.results
    assert [c.classes[0].score for c in first.classification_result.classifications] == [3.0, 7.0]
    assert (
        first.model_spec.name,
        first.model_spec.version.value,
        first.model_spec.signature_name,
    ) == ("half_plus_two", 123, "classify_x_to_y")
    assert [r.value for r in second.regression_result.regressions] == [4.0, 8.0]
    assert second.model_spec.signature_name == "regress_x_to_y2"


def test_grpc_multi_inference_on_the_tf2_export(server: ServerProcess) -> None:
    # Each TF2 signature has its own input placeholder; since TF Serving 2.4 each is fed
    # the same serialized Examples (testMultiInferenceTf2).
    request = multi(
        ("tf2", "classify_x_to_y", CLASSIFY),
        ("tf2", "regress_x_to_y2", REGRESS),
        input_proto=examples(2.0),
    )
    first, second = server.prediction.MultiInference(request, timeout=30).results
    assert first.classification_result.classifications[0].classes[0].score == 3.0
    assert second.regression_result.regressions[0].value == 4.0
    response = server.prediction.MultiInference(
        multi(("tf2", "regress_x_to_y2", REGRESS), input_proto=examples(2.0, 10.0)), timeout=30
    )
    assert [r.value for r in response.results[0].regression_result.regressions] == [4.0, 8.0]


@pytest.mark.parametrize(
    ("call", "request_factory", "code", "fragment"),
    [
        (
            "Classify",
            lambda: classify("half_plus_two", "nope", examples(2.0)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "nope",
        ),
        (
            "Regress",
            lambda: regress("half_plus_two", "nope", examples(2.0)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "No signature was found with the name: nope",
        ),
        (
            "Regress",
            lambda: regress("half_plus_two", "regress_x_to_y", input_pb2.Input()),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Input is empty.",
        ),
        (
            "Classify",
            lambda: classify("half_plus_two", "classify_x_to_y", examples(None)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Feature: x",
        ),
        (
            "Regress",
            lambda: regress("tf2", "regress_x_to_y", examples(None)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "x",
        ),
        (
            "Classify",
            lambda: classify("nope", "classify_x_to_y", examples(2.0)),
            grpc.StatusCode.NOT_FOUND,
            "nope",
        ),
        (
            "Classify",
            lambda: classify("half_plus_two", "", examples(2.0)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "No classification inputs found",
        ),
        (
            "Regress",
            lambda: regress("half_plus_two", "classify_x_to_y", examples(2.0)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "No regression outputs found",
        ),
        (
            "MultiInference",
            lambda: multi(
                ("half_plus_two", "regress_x_to_y", REGRESS),
                ("tf2", "classify_x_to_y", CLASSIFY),
                input_proto=examples(2.0),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "must access the same model name",
        ),
        (
            "MultiInference",
            lambda: multi(
                ("half_plus_two", "regress_x_to_y", REGRESS),
                ("half_plus_two", "regress_x_to_y", REGRESS),
                input_proto=examples(2.0),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Duplicate evaluation of signature: regress_x_to_y",
        ),
        (
            "MultiInference",
            lambda: multi(
                ("half_plus_two", "serving_default", "tensorflow/serving/predict"),
                input_proto=examples(2.0),
            ),
            grpc.StatusCode.UNIMPLEMENTED,
            "Unsupported signature method_name",
        ),
    ],
)
def test_grpc_errors(
    server: ServerProcess,
    call: str,
    request_factory: Callable[[], Message],
    code: grpc.StatusCode,
    fragment: str,
) -> None:
    error = grpc_error(getattr(server.prediction, call), request_factory())
    assert error.code() == code, error.details()
    assert fragment in error.details()


def test_grpc_errors_do_not_disturb_the_next_request(server: ServerProcess) -> None:
    grpc_error(
        server.prediction.Regress, regress("half_plus_two", "regress_x_to_y", examples(None))
    )
    response = server.prediction.Regress(
        regress("half_plus_two", "regress_x_to_y", examples(4.0)), timeout=30
    )
    assert [r.value for r in response.result.regressions] == [4.0]


# --- REST --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/half_plus_two:classify",
        "/v1/models/half_plus_two/versions/123:classify",
        "/v1/models/tf2:classify",
    ],
)
def test_rest_classify(server: ServerProcess, path: str) -> None:
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}, {"x": 10.0}]}
    assert server.http("POST", path, body) == (200, {"results": [[["", 3.0]], [["", 7.0]]]})


@pytest.mark.parametrize(
    ("path", "signature", "expected"),
    [
        ("/v1/models/half_plus_two:regress", "regress_x_to_y", [3.0, 7.0]),
        ("/v1/models/tf2:regress", "regress_x_to_y2", [4.0, 8.0]),
        ("/v1/models/half_plus_three:regress", "tensorflow/serving/regress", [4.0, 8.0]),
    ],
)
def test_rest_regress(
    server: ServerProcess, path: str, signature: str, expected: list[float]
) -> None:
    body = {"signature_name": signature, "examples": [{"x": 2.0}, {"x": 10.0}]}
    assert server.http("POST", path, body) == (200, {"results": expected})


def test_rest_regress_with_context(server: ServerProcess) -> None:
    body = {
        "signature_name": "regress_x_to_y",
        "context": {"x": 10.0},
        "examples": [{}, {"x2": 2.0}],
    }
    assert server.http("POST", "/v1/models/half_plus_two:regress", body) == (
        200,
        {"results": [7.0, 7.0]},
    )
    body = {"signature_name": "regress_x_to_y", "context": {"x": 10.0}, "examples": [{"x": 2.0}]}
    assert server.http("POST", "/v1/models/half_plus_two:regress", body) == (
        200,
        {"results": [3.0]},
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v1/models/nope:regress", {"examples": [{"x": 2.0}]}, 404, "nope"),
        (
            "/v1/models/half_plus_two:regress",
            {"signature_name": "nope", "examples": [{"x": 2.0}]},
            400,
            "nope",
        ),
        (
            "/v1/models/half_plus_two:regress",
            {"signature_name": "regress_x_to_y", "examples": []},
            400,
            "empty",
        ),
        (
            "/v1/models/half_plus_two:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 2}]},
            400,
            "x",
        ),
        (
            "/v1/models/half_plus_two:classify",
            {"signature_name": "classify_x_to_y", "examples": [{"y": 2.0}]},
            400,
            "Feature: x",
        ),
        ("/v1/models/half_plus_two:classify", "{not json", 400, "JSON"),
        ("/v1/models/half_plus_two:classify", {"instances": [[1.0]]}, 400, "examples"),
    ],
)
def test_rest_errors(
    server: ServerProcess, path: str, body: object, status: int, fragment: str
) -> None:
    got_status, got_body = server.http("POST", path, body)  # type: ignore[arg-type]
    assert got_status == status, got_body
    assert isinstance(got_body, dict) and set(got_body) == {"error"}
    assert fragment in got_body["error"]


# --- the method-name check -------------------------------------------------------------------


def test_method_name_check_rejects_tf2_predict_signatures(
    start_server: Callable[..., ServerProcess], testdata: Path
) -> None:
    checked = start_server(
        "--model_name=tf2",
        f"--model_base_path={testdata}/saved_model_half_plus_two_tf2_cpu",
        "--enable_signature_method_name_check=true",
    )
    error = grpc_error(
        checked.prediction.Classify, classify("tf2", "classify_x_to_y", examples(2.0))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        "Expected classification signature method_name to be tensorflow/serving/classify"
        in error.details()
    )
