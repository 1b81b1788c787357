"""Classify/Regress/MultiInference logic on a numpy model that parses real tf.Examples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    input_pb2,
    regression_pb2,
)

from protocol.dtypes import DType
from protocol.signatures import (
    CLASSIFY_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    Signature,
    TensorSpec,
)
from protocol.status import Code, ServingError
from servables.servable import Servable
from servables.tensorflow.example_apis import (
    classify_now,
    multi_inference_now,
    plan_multi_inference,
    regress_now,
    serialized_examples,
)

STRING, FLOAT = DType.DT_STRING, DType.DT_FLOAT


def _info(alias: str, tensor: str, dtype: int = FLOAT) -> TensorSpec:
    return TensorSpec(alias=alias, tensor_name=tensor, dtype=dtype, shape=None)


def _signature(
    name: str, method: str, inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec]
) -> Signature:
    return Signature(name=name, method_name=method, inputs=inputs, outputs=outputs)


EXAMPLES = {"inputs": _info("inputs", "tf_example:0", STRING)}
SIGNATURES = {
    "classify": _signature(
        "classify",
        CLASSIFY_METHOD,
        EXAMPLES,
        {"classes": _info("classes", "c:0", STRING), "scores": _info("scores", "s:0")},
    ),
    "scores_only": _signature(
        "scores_only", CLASSIFY_METHOD, EXAMPLES, {"scores": _info("scores", "s:0")}
    ),
    "classes_only": _signature(
        "classes_only", CLASSIFY_METHOD, EXAMPLES, {"classes": _info("classes", "c:0", STRING)}
    ),
    "regress": _signature(
        "regress", REGRESS_METHOD, EXAMPLES, {"outputs": _info("outputs", "y:0")}
    ),
    "regress_flat": _signature(
        "regress_flat", REGRESS_METHOD, EXAMPLES, {"outputs": _info("outputs", "flat:0")}
    ),
    "tf2_regress": _signature(
        "tf2_regress", PREDICT_METHOD, EXAMPLES, {"outputs": _info("outputs", "y:0")}
    ),
    "serving_default": _signature(
        "serving_default", PREDICT_METHOD, {"x": _info("x", "x:0")}, {"y": _info("y", "y:0")}
    ),
    "other_input": _signature(
        "other_input",
        REGRESS_METHOD,
        {"inputs": _info("inputs", "x2:0")},
        {"outputs": _info("outputs", "y3:0")},
    ),
    "bad_scores": _signature(
        "bad_scores", CLASSIFY_METHOD, EXAMPLES, {"scores": _info("scores", "bad:0")}
    ),
}


class ExampleModel(Servable):
    """Parses each serialized Example; y = 0.5 x + 2; classes "lo"/"hi" with scores."""

    def __init__(self) -> None:
        self.model_name = "m"
        self.version = 7
        self.signatures = SIGNATURES
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def run(
        self, signature: Signature, inputs: Mapping[str, np.ndarray], output_names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        self.calls.append((signature.name, tuple(output_names)))
        if "+" in signature.name:  # a merged MultiInference call: "<signature>/<alias>" outputs
            merged: dict[str, np.ndarray] = {}
            for name in output_names:
                source, alias = name.split("/")
                merged.update({name: self.run(self.signatures[source], inputs, (alias,))[alias]})
            self.calls[-len(output_names) :] = []
            return merged
        signature_name = signature.name
        xs = []
        for row in inputs["inputs"]:
            example = example_pb2.Example.FromString(row)
            if "x" not in example.features.feature:
                raise ServingError(
                    Code.INVALID_ARGUMENT,
                    "Feature: x (data type: float) is required but could not be found.",
                )
            xs.append(example.features.feature["x"].float_list.value[0])
        x = np.array(xs, np.float32)
        tensors = {
            "classes": np.array([[b"lo", b"hi"]] * len(x), dtype=object),
            "scores": np.stack([1 - x / 10, x / 10], axis=1).astype(np.float32),
            "outputs": (0.5 * x + 2).reshape(-1, 1),
        }
        if signature_name == "regress_flat":
            tensors["outputs"] = tensors["outputs"].reshape(-1)
        if signature_name == "bad_scores":
            tensors["scores"] = x
        return {name: tensors[name] for name in output_names}

    def unload(self) -> None:
        pass


def example(**features: Any) -> example_pb2.Example:
    proto = example_pb2.Example()
    for name, value in features.items():
        if isinstance(value, bytes):
            proto.features.feature[name].bytes_list.value.append(value)
        else:
            proto.features.feature[name].float_list.value.append(value)
    return proto


def examples_input(
    *examples: example_pb2.Example, context: example_pb2.Example | None = None
) -> input_pb2.Input:
    proto = input_pb2.Input()
    if context is None:
        proto.example_list.examples.extend(examples)
    else:
        proto.example_list_with_context.context.CopyFrom(context)
        proto.example_list_with_context.examples.extend(examples)
    return proto


def classify_request(
    signature: str, input_proto: input_pb2.Input
) -> classification_pb2.ClassificationRequest:
    request = classification_pb2.ClassificationRequest(input=input_proto)
    request.model_spec.name = "m"
    request.model_spec.signature_name = signature
    return request


def regress_request(
    signature: str, input_proto: input_pb2.Input
) -> regression_pb2.RegressionRequest:
    request = regression_pb2.RegressionRequest(input=input_proto)
    request.model_spec.name = "m"
    request.model_spec.signature_name = signature
    return request


def expect_error(code: Code, fragment: str, call: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(ServingError) as raised:
        call(*args, **kwargs)
    assert raised.value.code is code, raised.value
    assert fragment in raised.value.message


# --- input -----------------------------------------------------------------------------


def test_example_list_rows_are_the_serialized_examples() -> None:
    rows = serialized_examples(examples_input(example(x=2.0), example(x=10.0)))
    assert rows.dtype == object and rows.shape == (2,)
    assert [
        example_pb2.Example.FromString(r).features.feature["x"].float_list.value[0] for r in rows
    ] == [2.0, 10.0]


def test_context_features_are_merged_into_every_example() -> None:
    rows = serialized_examples(
        examples_input(example(x=2.0), example(x=10.0), context=example(q=b"pizza"))
    )
    for row, x in zip(rows, (2.0, 10.0), strict=True):
        features = example_pb2.Example.FromString(row).features.feature
        assert features["q"].bytes_list.value == [b"pizza"]
        assert features["x"].float_list.value == [x]


def test_a_feature_in_both_context_and_example_takes_the_examples_value() -> None:
    """TF Serving's util_test.cc ExampleListWithOverridingContext."""
    rows = serialized_examples(
        examples_input(example(y=1.0), example(x=2.0), context=example(x=100.0))
    )
    values = [
        example_pb2.Example.FromString(row).features.feature["x"].float_list.value for row in rows
    ]
    assert values == [[100.0], [2.0]]


@pytest.mark.parametrize(
    "input_proto",
    [input_pb2.Input(), examples_input(), examples_input(context=example(x=1.0))],
)
def test_empty_input_is_invalid_argument(input_proto: input_pb2.Input) -> None:
    expect_error(Code.INVALID_ARGUMENT, "Input is empty.", serialized_examples, input_proto)
    expect_error(
        Code.INVALID_ARGUMENT,
        "Input is empty.",
        classify_now,
        ExampleModel(),
        classify_request("classify", input_proto),
    )


# --- classify ----------------------------------------------------------------------------


def test_classify_with_classes_and_scores() -> None:
    response = classify_now(
        ExampleModel(), classify_request("classify", examples_input(example(x=2.0), example(x=5.0)))
    )
    assert response.model_spec.name == "m" and response.model_spec.version.value == 7
    assert response.model_spec.signature_name == "classify"
    got = [
        [(c.label, round(c.score, 3)) for c in entry.classes]
        for entry in response.result.classifications
    ]
    assert got == [[("lo", 0.8), ("hi", 0.2)], [("lo", 0.5), ("hi", 0.5)]]


def test_classify_with_scores_only_leaves_labels_empty() -> None:
    response = classify_now(
        ExampleModel(), classify_request("scores_only", examples_input(example(x=2.0)))
    )
    assert [(c.label, round(c.score, 3)) for c in response.result.classifications[0].classes] == [
        ("", 0.8),
        ("", 0.2),
    ]


def test_classify_with_classes_only_leaves_scores_zero() -> None:
    response = classify_now(
        ExampleModel(), classify_request("classes_only", examples_input(example(x=2.0)))
    )
    assert [(c.label, c.score) for c in response.result.classifications[0].classes] == [
        ("lo", 0.0),
        ("hi", 0.0),
    ]


def test_classify_fetches_only_classes_and_scores() -> None:
    model = ExampleModel()
    classify_now(model, classify_request("classify", examples_input(example(x=1.0))))
    assert model.calls == [("classify", ("classes", "scores"))]


@pytest.mark.parametrize(
    ("signature", "code", "fragment"),
    [
        ("nope", Code.INVALID_ARGUMENT, "No signature was found with the name: nope"),
        (
            "serving_default",
            Code.INVALID_ARGUMENT,
            "No classification inputs found in SignatureDef",
        ),
        ("regress", Code.INVALID_ARGUMENT, 'at least one of "classes" or "scores"'),
        (
            "bad_scores",
            Code.INVALID_ARGUMENT,
            "Expected Tensor shape: [batch_size num_classes] but got [1]",
        ),
    ],
)
def test_classify_errors(signature: str, code: Code, fragment: str) -> None:
    expect_error(
        code,
        fragment,
        classify_now,
        ExampleModel(),
        classify_request(signature, examples_input(example(x=1.0))),
    )


def test_empty_signature_name_means_serving_default() -> None:
    expect_error(
        Code.INVALID_ARGUMENT,
        "No classification inputs",
        classify_now,
        ExampleModel(),
        classify_request("", examples_input(example(x=1.0))),
    )


def test_missing_feature_error_comes_back_from_the_model() -> None:
    expect_error(
        Code.INVALID_ARGUMENT,
        "Feature: x",
        classify_now,
        ExampleModel(),
        classify_request("classify", examples_input(example(z=1.0))),
    )


# --- regress -----------------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["regress", "regress_flat", "tf2_regress"])
def test_regress_accepts_n_and_n_by_1_outputs_and_predict_method_names(signature: str) -> None:
    response = regress_now(
        ExampleModel(), regress_request(signature, examples_input(example(x=2.0), example(x=10.0)))
    )
    assert [r.value for r in response.result.regressions] == [3.0, 7.0]
    assert response.model_spec.signature_name == signature


def test_method_name_check_when_enabled() -> None:
    request = regress_request("tf2_regress", examples_input(example(x=2.0)))
    expect_error(
        Code.INVALID_ARGUMENT,
        "Expected regression signature method_name to be tensorflow/serving/regress. Was: tensorflow/serving/predict",
        regress_now,
        ExampleModel(),
        request,
        check_method_names=True,
    )
    assert regress_now(
        ExampleModel(),
        regress_request("regress", examples_input(example(x=2.0))),
        check_method_names=True,
    )


def test_regress_on_a_classify_signature_fails() -> None:
    expect_error(
        Code.INVALID_ARGUMENT,
        "Expected one output Tensor.",
        regress_now,
        ExampleModel(),
        regress_request("classify", examples_input(example(x=2.0))),
    )


# --- multi inference -----------------------------------------------------------------------


def multi_request(
    *tasks: tuple[str, str, str], input_proto: input_pb2.Input | None = None
) -> inference_pb2.MultiInferenceRequest:
    request = inference_pb2.MultiInferenceRequest()
    request.input.CopyFrom(input_proto or examples_input(example(x=2.0), example(x=10.0)))
    for model, signature, method in tasks:
        task = request.tasks.add(method_name=method)
        task.model_spec.name = model
        task.model_spec.signature_name = signature
    return request


def test_multi_inference_answers_every_task_in_order() -> None:
    model = ExampleModel()
    response = multi_inference_now(
        model,
        multi_request(("m", "scores_only", CLASSIFY_METHOD), ("m", "regress", REGRESS_METHOD)),
    )
    first, second = response.results
    assert first.model_spec.signature_name == "scores_only" and first.model_spec.version.value == 7
    assert [round(c.classes[1].score, 3) for c in first.classification_result.classifications] == [
        0.2,
        1.0,
    ]
    assert second.model_spec.signature_name == "regress"
    assert [r.value for r in second.regression_result.regressions] == [3.0, 7.0]
    # One model call fetches both tasks' outputs.
    assert model.calls == [("scores_only+regress", ("scores_only/scores", "regress/outputs"))]


@pytest.mark.parametrize(
    ("tasks", "code", "fragment"),
    [
        ((), Code.INVALID_ARGUMENT, "at least one task"),
        (
            (("m", "regress", REGRESS_METHOD), ("other", "classify", CLASSIFY_METHOD)),
            Code.INVALID_ARGUMENT,
            "must access the same model name",
        ),
        (
            (("m", "regress", REGRESS_METHOD), ("", "classify", CLASSIFY_METHOD)),
            Code.INVALID_ARGUMENT,
            "empty model name",
        ),
        (
            (("m", "regress", REGRESS_METHOD), ("m", "regress", REGRESS_METHOD)),
            Code.INVALID_ARGUMENT,
            "Duplicate evaluation of signature: regress",
        ),
        (
            (("m", "nope", REGRESS_METHOD),),
            Code.INVALID_ARGUMENT,
            "Requested signature not found in model graph: nope",
        ),
        (
            (("m", "serving_default", PREDICT_METHOD),),
            Code.UNIMPLEMENTED,
            "Unsupported signature method_name",
        ),
    ],
)
def test_multi_inference_errors(
    tasks: tuple[tuple[str, str, str], ...], code: Code, fragment: str
) -> None:
    expect_error(code, fragment, multi_inference_now, ExampleModel(), multi_request(*tasks))


def test_multi_inference_feeds_the_examples_to_every_distinct_input_tensor() -> None:
    """TF Serving >= 2.4: tasks may read different input tensors; each is fed the same rows."""
    request = multi_request(
        ("m", "regress", REGRESS_METHOD),
        ("m", "classify", CLASSIFY_METHOD),
        ("m", "other_input", REGRESS_METHOD),
    )
    plan = plan_multi_inference(ExampleModel(), request, check_method_names=False)
    inputs = plan.call.signature.inputs
    assert {alias: spec.tensor_name for alias, spec in inputs.items()} == {
        "inputs": "tf_example:0",
        "other_input/inputs": "x2:0",
    }
    feeds = plan.feeds()
    assert set(feeds) == {"inputs", "other_input/inputs"}
    assert all(feed is plan.examples for feed in feeds.values())
