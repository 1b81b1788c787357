"""Classify, Regress and MultiInference through the data plane, for both frontends.

Each call resolves the model, builds the TF platform's validated ``Plan`` (see
``servables.tensorflow.example_apis``: one model call, and how its outputs become the
response), runs the call through ``DataPlane.run`` (batching, in-flight counting) and
finishes the response. REST passes its parsed body's signature name and ``Input``
directly; nothing is converted to a gRPC request and back. A sampled REST classify or
regress is request-logged here, from its ``Input`` and response
(``dataplane.observing``); a gRPC one by the gRPC call wrapper, from its protos.
"""

from __future__ import annotations

from typing import TypeVar

from tensorflow_serving.apis import classification_pb2, inference_pb2, input_pb2, regression_pb2

from dataplane.dataplane import DataPlane
from dataplane.observing import CURRENT_SCOPE
from protocol.model_ref import ModelRef
from protocol.tf_serving import model_ref
from servables.tensorflow.example_apis import (
    Plan,
    check_tasks,
    plan_classify,
    plan_multi_inference,
    plan_regress,
)

Response = TypeVar("Response")


class ExampleAPIs:
    """The tf.Example APIs; ``check_method_names`` is ``--enable_signature_method_name_check``."""

    def __init__(self, plane: DataPlane, *, check_method_names: bool = False) -> None:
        self._plane = plane
        self._check = check_method_names

    async def classify(
        self, ref: ModelRef, signature_name: str, examples: input_pb2.Input, timeout: float | None
    ) -> classification_pb2.ClassificationResponse:
        servable = self._plane.resolve(ref)
        plan = plan_classify(servable, signature_name, examples, check_method_names=self._check)
        response = await self._run(plan, timeout)
        self._capture(ref, signature_name, examples, response)
        return response

    async def regress(
        self, ref: ModelRef, signature_name: str, examples: input_pb2.Input, timeout: float | None
    ) -> regression_pb2.RegressionResponse:
        servable = self._plane.resolve(ref)
        plan = plan_regress(servable, signature_name, examples, check_method_names=self._check)
        response = await self._run(plan, timeout)
        self._capture(ref, signature_name, examples, response)
        return response

    async def multi_inference(
        self, request: inference_pb2.MultiInferenceRequest, timeout: float | None
    ) -> inference_pb2.MultiInferenceResponse:
        check_tasks(request)
        servable = self._plane.resolve(model_ref(request.tasks[0].model_spec))
        plan = plan_multi_inference(servable, request, check_method_names=self._check)
        return await self._run(plan, timeout)

    def _capture(
        self,
        ref: ModelRef,
        signature_name: str,
        examples: input_pb2.Input,
        response: classification_pb2.ClassificationResponse | regression_pb2.RegressionResponse,
    ) -> None:
        """A sampled REST call is logged here (gRPC's wrapper logs its protos itself)."""
        observability = self._plane.observability
        if observability is None:
            return
        scope = CURRENT_SCOPE.get()
        if scope is not None:
            observability.capture_examples(scope, ref, signature_name, examples, response)

    async def _run(self, plan: Plan[Response], timeout: float | None) -> Response:
        call = plan.call
        outputs = await self._plane.run(
            plan.servable, call.signature, plan.feeds(), call.output_names, timeout
        )
        return plan.finish(outputs)
