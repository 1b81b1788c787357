"""Classify, Regress and MultiInference as TF Serving's own tests expect.

Sources: ``tensorflow_model_server_test.py`` testMultiInferenceTf2 (TF2 signatures each
read their own input tensor, yet one MultiInference serves them), ``util_test.cc``
ExampleListWithOverridingContext (a feature in both the context and an example: the
example's value wins), and ``classifier_test.cc`` / ``regressor_test.cc`` (a signature
without an ``inputs`` input is INVALID_ARGUMENT).
"""

from __future__ import annotations

import grpc
import pytest
from tensorflow_serving.apis import classification_pb2, inference_pb2, input_pb2, regression_pb2

from tests.integration.server_process import ServerProcess

CLASSIFY, REGRESS = "tensorflow/serving/classify", "tensorflow/serving/regress"


def one_example(x: float) -> input_pb2.Input:
    proto = input_pb2.Input()
    proto.example_list.examples.add().features.feature["x"].float_list.value.append(x)
    return proto


def multi(
    model: str, *tasks: tuple[str, str], x: float = 2.0
) -> inference_pb2.MultiInferenceRequest:
    request = inference_pb2.MultiInferenceRequest(input=one_example(x))
    for signature, method in tasks:
        task = request.tasks.add()
        task.model_spec.name = model
        task.model_spec.signature_name = signature
        task.method_name = method
    return request


@pytest.mark.parametrize("model", ["tf2", "half_plus_two"])
def test_multi_inference_regress_and_classify(server: ServerProcess, model: str) -> None:
    """testMultiInference / testMultiInferenceTf2: 3.0 and 3.0 for x=2."""
    request = multi(model, ("regress_x_to_y", REGRESS), ("classify_x_to_y", CLASSIFY))
    result = server.prediction.MultiInference(request, timeout=30)
    assert len(result.results) == 2
    assert result.results[0].regression_result.regressions[0].value == 3.0
    assert result.results[1].classification_result.classifications[0].classes[0].score == 3.0
    for task, answer in zip(request.tasks, result.results, strict=True):
        assert answer.model_spec.name == model
        assert answer.model_spec.signature_name == task.model_spec.signature_name
        assert answer.model_spec.version.value == 123


def test_multi_inference_tf2_three_signatures_with_distinct_inputs(server: ServerProcess) -> None:
    request = multi(
        "tf2",
        ("regress_x_to_y", REGRESS),
        ("regress_x_to_y2", REGRESS),
        ("classify_x_to_y", CLASSIFY),
        x=10.0,
    )
    result = server.prediction.MultiInference(request, timeout=30)
    assert [r.regression_result.regressions[0].value for r in result.results[:2]] == [7.0, 8.0]
    assert result.results[2].classification_result.classifications[0].classes[0].score == 7.0


def test_multi_inference_feeds_examples_to_each_distinct_input(server: ServerProcess) -> None:
    """TF1 ``regress_x2_to_y3`` reads the float placeholder ``x2``, not serialized Examples.

    TF Serving >= 2.4 feeds the Examples to every task's input tensor, so this request
    fails in the model itself (a type mismatch, INVALID_ARGUMENT) instead of the old
    "Input tensor must be the same for all Signatures.".
    """
    request = multi("half_plus_two", ("regress_x_to_y", REGRESS), ("regress_x2_to_y3", REGRESS))
    with pytest.raises(grpc.RpcError) as raised:
        server.prediction.MultiInference(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "same for all Signatures" not in raised.value.details()
    assert "x2" in raised.value.details()


def test_example_value_overrides_the_context(server: ServerProcess) -> None:
    """util_test.cc ExampleListWithOverridingContext: the example's feature wins."""
    proto = input_pb2.Input()
    context = proto.example_list_with_context.context.features.feature
    context["x"].float_list.value.append(100.0)
    examples = proto.example_list_with_context.examples
    examples.add().features.feature["x"].float_list.value.append(2.0)
    examples.add()  # no x of its own: the context's 100 reaches it
    request = regression_pb2.RegressionRequest(input=proto)
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "regress_x_to_y"
    response = server.prediction.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [3.0, 52.0]


def test_rest_example_value_overrides_the_context(server: ServerProcess) -> None:
    body = {
        "signature_name": "regress_x_to_y",
        "context": {"x": 100.0},
        "examples": [{"x": 2.0}, {}],
    }
    assert server.http("POST", "/v1/models/half_plus_two:regress", body) == (
        200,
        {"results": [3.0, 52.0]},
    )


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        ("Classify", "No classification inputs found in SignatureDef"),
        ("Regress", "No regression inputs found in SignatureDef"),
    ],
)
def test_serving_default_without_inputs_is_invalid_argument(
    server: ServerProcess, call: str, fragment: str
) -> None:
    """classifier.cc / regressor.cc PreProcess*: a missing ``inputs`` input is InvalidArgument."""
    kind = (
        classification_pb2.ClassificationRequest
        if call == "Classify"
        else regression_pb2.RegressionRequest
    )
    request = kind(input=one_example(2.0))
    request.model_spec.name = "half_plus_two"
    with pytest.raises(grpc.RpcError) as raised:
        getattr(server.prediction, call)(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in raised.value.details()


@pytest.mark.parametrize("method", ["classify", "regress"])
def test_rest_serving_default_without_inputs_is_400(server: ServerProcess, method: str) -> None:
    status, answer = server.http(
        "POST", f"/v1/models/half_plus_two:{method}", {"examples": [{"x": 2.0}]}
    )
    assert status == 400, answer
    assert "inputs found in SignatureDef" in answer["error"]
