"""The tf.Example APIs: Classify, Regress and MultiInference plans, for both frontends and warmup.

Contract (TF Serving's ``classifier.cc``, ``regressor.cc``, ``multi_inference.cc`` and
``util.cc``, messages included):

* Input. An ``Input`` holds ``example_list`` or ``example_list_with_context``; no example
  at all is INVALID_ARGUMENT "Input is empty.". Every Example is serialized into one row of
  a DT_STRING ``[N]`` tensor. With a context, each row is the serialized context followed
  by the serialized example, as TF Serving builds it (protobuf parses concatenated
  messages as a merge, so the context's features reach every example). A feature that is
  in both the context and an example takes the example's value, as in TF Serving
  (``util_test.cc`` ExampleListWithOverridingContext): the later message wins the merge.
* Signature. ``model_spec.signature_name`` (empty means ``serving_default``); an unknown
  name is INVALID_ARGUMENT "No signature was found with the name: ..." (Predict answers
  FAILED_PRECONDITION instead). The method name is checked only when
  ``check_method_names`` (``--enable_signature_method_name_check``, off by default, which
  is why TF2 exports whose every ``method_name`` is predict still classify). The signature
  must have exactly one input, aliased ``inputs``; it is fed the serialized Examples
  whatever dtype it declares (half_plus_three declares DT_FLOAT). Classification needs
  one or two outputs among ``classes`` and ``scores``; regression exactly one, ``outputs``.
  A signature that breaks these rules (``serving_default``, whose input is not named
  ``inputs``, say) is INVALID_ARGUMENT, as in TF Serving since 2.4.
* Results. ``classes`` must be DT_STRING ``[N, K]``, ``scores`` DT_FLOAT ``[N, K]`` (both
  rank 2, the same K when both exist); each example gets K classes, with the label empty
  when there is no ``classes`` output and the score 0 when there is no ``scores``.
  ``outputs`` must be DT_FLOAT ``[N]`` or ``[N, 1]``. Anything else is INVALID_ARGUMENT.
  A missing required feature is the model's own parse error, INVALID_ARGUMENT naming it.
* MultiInference. Every task names the same model (INVALID_ARGUMENT otherwise), a distinct
  signature, and a method of classify or regress (UNIMPLEMENTED otherwise). The servable
  is resolved from the first task's spec. As in TF Serving since 2.4, the tasks' signatures
  may read different input tensors (each TF2 signature has its own placeholder): all tasks
  run in ONE model call (``merged_call``) that feeds the same serialized Examples to every
  distinct input tensor and fetches the union of the outputs.
* Responses carry ``model_spec`` with the name, the resolved version and the signature.

A ``Plan`` is the validated work for one request: ONE model call and how to turn its
outputs into the response. ``dataplane.examples`` runs plans through the data plane
(batching, in-flight counting) for both frontends; ``classify_now``, ``regress_now`` and
``multi_inference_now`` run the same plans synchronously on a given ``Servable``: warmup
calls them in a loader thread, before the version is routable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import numpy as np
from google.protobuf import text_format
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    input_pb2,
    regression_pb2,
)

from protocol.dtypes import DType, dtype_name, numpy_to_dtype
from protocol.signatures import (
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    REGRESS_METHOD,
    Signature,
    TensorSpec,
)
from protocol.status import Code, ServingError, invalid_argument
from protocol.tf_serving import fill_model_spec, signature_def
from servables.servable import Servable

EXAMPLES_INPUT = "inputs"
CLASSES_OUTPUT = "classes"
SCORES_OUTPUT = "scores"
REGRESSION_OUTPUT = "outputs"

Outputs = Mapping[str, np.ndarray]
Response = TypeVar("Response")


# --- input -----------------------------------------------------------------------------


def serialized_examples(input_proto: input_pb2.Input) -> np.ndarray:
    """The DT_STRING ``[N]`` tensor TF Serving feeds for ``input_proto`` (see module doc)."""
    kind = input_proto.WhichOneof("kind")
    prefix = b""
    if kind == "example_list":
        examples: Sequence[Any] = input_proto.example_list.examples
    elif kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        examples = with_context.examples
        prefix = with_context.context.SerializeToString()
    else:
        examples = ()
    if not examples:
        raise invalid_argument("Input is empty.")
    rows = np.empty(len(examples), dtype=object)
    rows[:] = [prefix + example.SerializeToString() for example in examples]
    return rows


# --- signatures ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Call:
    """One model call: a signature (fed the Examples as ``inputs``) and the aliases to fetch."""

    signature: Signature
    output_names: tuple[str, ...]


def _find_signature(servable: Servable, name: str, *, missing: str) -> Signature:
    signature = servable.signatures.get(name or DEFAULT_SIGNATURE)
    if signature is None:
        raise invalid_argument(f"{missing}{name or DEFAULT_SIGNATURE}")
    return signature


def _describe(signature: Signature) -> str:
    text: str = text_format.MessageToString(signature_def(signature), as_one_line=True)
    return text


def _check_method(signature: Signature, method: str, kind: str, check: bool) -> None:
    if check and signature.method_name != method:
        raise invalid_argument(
            f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}"
        )


def classification_call(
    servable: Servable, signature: Signature, *, check_method_names: bool
) -> _Call:
    """Validate ``signature`` for Classify (TF Serving's ``PreProcessClassification``)."""
    _check_method(signature, CLASSIFY_METHOD, "classification", check_method_names)
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) not in (1, 2):
        raise invalid_argument(
            f"Expected one or two output Tensors, found {len(signature.outputs)}"
        )
    if EXAMPLES_INPUT not in signature.inputs:
        raise invalid_argument(
            f"No classification inputs found in SignatureDef: {_describe(signature)}"
        )
    outputs = tuple(a for a in (CLASSES_OUTPUT, SCORES_OUTPUT) if a in signature.outputs)
    if not outputs:
        raise invalid_argument(
            f"Expected classification signature outputs to contain at least one of "
            f'"{CLASSES_OUTPUT}" or "{SCORES_OUTPUT}". '
            f"Signature was: {_describe(signature)}"
        )
    return _Call(signature=signature, output_names=outputs)


def regression_call(servable: Servable, signature: Signature, *, check_method_names: bool) -> _Call:
    """Validate ``signature`` for Regress (TF Serving's ``PreProcessRegression``)."""
    _check_method(signature, REGRESS_METHOD, "regression", check_method_names)
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) != 1:
        raise invalid_argument("Expected one output Tensor.")
    if EXAMPLES_INPUT not in signature.inputs:
        raise invalid_argument(
            f"No regression inputs found in SignatureDef: {_describe(signature)}"
        )
    if REGRESSION_OUTPUT not in signature.outputs:
        raise invalid_argument(
            f"No regression outputs found in SignatureDef: {_describe(signature)}"
        )
    return _Call(signature=signature, output_names=(REGRESSION_OUTPUT,))


# --- results ---------------------------------------------------------------------------


def _shape_text(array: np.ndarray) -> str:
    return "[" + ",".join(str(d) for d in array.shape) + "]"


def _dtype_text(array: np.ndarray) -> str:
    try:
        return dtype_name(numpy_to_dtype(array.dtype))
    except ServingError:
        return str(array.dtype)


def _matrix(outputs: Outputs, alias: str, want: int, num_examples: int) -> np.ndarray | None:
    array = outputs.get(alias)
    if array is None:
        return None
    array = np.asarray(array)
    if array.ndim != 2:
        raise invalid_argument(
            f"Expected Tensor shape: [batch_size num_classes] but got {_shape_text(array)}"
        )
    matches = array.dtype.kind in "OSU" if want == DType.DT_STRING else array.dtype == np.float32
    if not matches:
        raise invalid_argument(
            f"Expected {alias} Tensor of {dtype_name(want)}. Got: {_dtype_text(array)}"
        )
    if array.shape[0] != num_examples:
        raise invalid_argument(
            f"Expected {alias} output batch size of {num_examples}. Got: {array.shape[0]}"
        )
    return array


def _label(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def classification_result(
    outputs: Outputs, num_examples: int, result: classification_pb2.ClassificationResult
) -> None:
    """Fill ``result`` from the ``classes``/``scores`` outputs (``PostProcessClassificationResult``)."""
    classes = _matrix(outputs, CLASSES_OUTPUT, DType.DT_STRING, num_examples)
    scores = _matrix(outputs, SCORES_OUTPUT, DType.DT_FLOAT, num_examples)
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid_argument(
            f"Tensors class and score should match in dim_size(1). "
            f"Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    reference = classes if classes is not None else scores
    num_classes = reference.shape[1] if reference is not None else 0
    labels = classes.tolist() if classes is not None else None
    values = scores.tolist() if scores is not None else None
    for row in range(num_examples):
        entry = result.classifications.add()
        for column in range(num_classes):
            added = entry.classes.add()
            if labels is not None:
                added.label = _label(labels[row][column])
            if values is not None:
                added.score = values[row][column]


def regression_result(
    outputs: Outputs, num_examples: int, result: regression_pb2.RegressionResult
) -> None:
    """Fill ``result`` from the ``outputs`` output (``PostProcessRegressionResult``)."""
    array = np.asarray(outputs[REGRESSION_OUTPUT])
    if not (array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1)):
        raise invalid_argument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
            f"but got {_shape_text(array)}"
        )
    if array.shape[0] != num_examples:
        raise invalid_argument(
            f"Input batch size did not match output batch size: {num_examples} vs. {array.shape[0]}"
        )
    if array.dtype != np.float32:
        raise invalid_argument(f"Expected output Tensor of DT_FLOAT.  Got: {_dtype_text(array)}")
    for value in array.reshape(-1).tolist():
        result.regressions.add(value=value)


# --- plans: what to run and how to answer, shared by the async and sync paths ------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Plan(Generic[Response]):
    """Validated work: ONE model call on ``examples``, then ``finish`` its outputs."""

    servable: Servable
    examples: np.ndarray
    call: _Call
    finish: Callable[[Outputs], Response]

    def feeds(self) -> dict[str, np.ndarray]:
        """The call's inputs: the serialized Examples under every input alias of its signature."""
        return {alias: self.examples for alias in self.call.signature.inputs}

    def run_now(self) -> Response:
        """Run the call on this thread (warmup); blocks."""
        return self.finish(
            self.servable.run(self.call.signature, self.feeds(), self.call.output_names)
        )


def merged_call(calls: Sequence[_Call]) -> _Call:
    """One call that feeds every task's input tensor and fetches every task's outputs.

    Each distinct input tensor is fed once (a tensor cannot be fed twice); the first keeps
    the alias ``inputs``, the others become ``"<signature>/inputs"``. Output aliases become
    ``"<signature>/<alias>"``; ``task_outputs`` splits them back.
    """
    if len(calls) == 1:
        return calls[0]
    inputs: dict[str, TensorSpec] = {}
    fed: set[str] = set()
    for call in calls:
        spec = call.signature.inputs[EXAMPLES_INPUT]
        if spec.tensor_name in fed:
            continue
        fed.add(spec.tensor_name)
        alias = EXAMPLES_INPUT if not inputs else f"{call.signature.name}/{EXAMPLES_INPUT}"
        inputs[alias] = dataclasses.replace(spec, alias=alias)
    outputs: dict[str, TensorSpec] = {}
    for call in calls:
        for alias in call.output_names:
            key = f"{call.signature.name}/{alias}"
            outputs[key] = dataclasses.replace(call.signature.outputs[alias], alias=key)
    signature = Signature(
        name="+".join(call.signature.name for call in calls),
        method_name="",
        inputs=inputs,
        outputs=outputs,
    )
    return _Call(signature=signature, output_names=tuple(outputs))


def task_outputs(call: _Call, merged: _Call, outputs: Outputs) -> Outputs:
    """The outputs of ``call`` (one task) inside the results of ``merged``."""
    if merged is call:
        return outputs
    return {alias: outputs[f"{call.signature.name}/{alias}"] for alias in call.output_names}


def _plan_one_signature(
    servable: Servable,
    signature_name: str,
    input_proto: input_pb2.Input,
    *,
    validate: Callable[..., _Call],
    response_type: Callable[[], Response],
    fill_result: Callable[[Outputs, int, Any], None],
    check_method_names: bool,
) -> Plan[Response]:
    """Classify and Regress: one signature, its result written into ``response.result``."""
    signature = _find_signature(
        servable, signature_name, missing="No signature was found with the name: "
    )
    call = validate(servable, signature, check_method_names=check_method_names)
    examples = serialized_examples(input_proto)

    def finish(outputs: Outputs) -> Response:
        response = response_type()
        fill_model_spec(response.model_spec, servable.model_name, servable.version, signature.name)  # type: ignore[attr-defined]  # Response is an unbound TypeVar
        fill_result(outputs, len(examples), response.result)  # type: ignore[attr-defined]  # Response is an unbound TypeVar
        return response

    return Plan(servable=servable, examples=examples, call=call, finish=finish)


def plan_classify(
    servable: Servable,
    signature_name: str,
    input_proto: input_pb2.Input,
    *,
    check_method_names: bool,
) -> Plan[classification_pb2.ClassificationResponse]:
    return _plan_one_signature(
        servable,
        signature_name,
        input_proto,
        validate=classification_call,
        response_type=classification_pb2.ClassificationResponse,
        fill_result=classification_result,
        check_method_names=check_method_names,
    )


def plan_regress(
    servable: Servable,
    signature_name: str,
    input_proto: input_pb2.Input,
    *,
    check_method_names: bool,
) -> Plan[regression_pb2.RegressionResponse]:
    return _plan_one_signature(
        servable,
        signature_name,
        input_proto,
        validate=regression_call,
        response_type=regression_pb2.RegressionResponse,
        fill_result=regression_result,
        check_method_names=check_method_names,
    )


def check_tasks(request: inference_pb2.MultiInferenceRequest) -> None:
    """The model-name rules of MultiInference, checked before anything is resolved."""
    if not request.tasks:
        raise invalid_argument("MultiInferenceRequest must contain at least one task.")
    first = request.tasks[0].model_spec.name
    for task in request.tasks:
        if not task.model_spec.name:
            raise invalid_argument("Found ModelSpec with an empty model name.")
        if task.model_spec.name != first:
            raise invalid_argument(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name."
            )


def plan_multi_inference(
    servable: Servable, request: inference_pb2.MultiInferenceRequest, *, check_method_names: bool
) -> Plan[inference_pb2.MultiInferenceResponse]:
    check_tasks(request)
    calls: list[_Call] = []
    methods: list[str] = []
    for task in request.tasks:
        name = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if any(call.signature.name == name for call in calls):
            raise invalid_argument(f"Duplicate evaluation of signature: {name}")
        signature = _find_signature(
            servable, name, missing="Requested signature not found in model graph: "
        )
        if task.method_name == CLASSIFY_METHOD:
            call = classification_call(servable, signature, check_method_names=check_method_names)
        elif task.method_name == REGRESS_METHOD:
            call = regression_call(servable, signature, check_method_names=check_method_names)
        else:
            raise ServingError(
                Code.UNIMPLEMENTED, f"Unsupported signature method_name: {task.method_name}"
            )
        calls.append(call)
        methods.append(task.method_name)
    examples = serialized_examples(request.input)
    merged = merged_call(calls)

    def finish(outputs: Outputs) -> inference_pb2.MultiInferenceResponse:
        response = inference_pb2.MultiInferenceResponse()
        for call, method in zip(calls, methods, strict=True):
            own = task_outputs(call, merged, outputs)
            result = response.results.add()
            fill_model_spec(
                result.model_spec, servable.model_name, servable.version, call.signature.name
            )
            if method == CLASSIFY_METHOD:
                classification_result(own, len(examples), result.classification_result)
            else:
                regression_result(own, len(examples), result.regression_result)
        return response

    return Plan(servable=servable, examples=examples, call=merged, finish=finish)


# --- synchronous entry points (warmup) ----------------------------------------------------


def classify_now(
    servable: Servable,
    request: classification_pb2.ClassificationRequest,
    *,
    check_method_names: bool = False,
) -> classification_pb2.ClassificationResponse:
    """Classify on ``servable`` in this thread; ``request.model_spec`` only picks the signature."""
    spec = request.model_spec
    return plan_classify(
        servable, spec.signature_name, request.input, check_method_names=check_method_names
    ).run_now()


def regress_now(
    servable: Servable,
    request: regression_pb2.RegressionRequest,
    *,
    check_method_names: bool = False,
) -> regression_pb2.RegressionResponse:
    """Regress on ``servable`` in this thread; ``request.model_spec`` only picks the signature."""
    spec = request.model_spec
    return plan_regress(
        servable, spec.signature_name, request.input, check_method_names=check_method_names
    ).run_now()


def multi_inference_now(
    servable: Servable,
    request: inference_pb2.MultiInferenceRequest,
    *,
    check_method_names: bool = False,
) -> inference_pb2.MultiInferenceResponse:
    """MultiInference on ``servable`` in this thread (the task model names are still checked)."""
    return plan_multi_inference(servable, request, check_method_names=check_method_names).run_now()
