"""What the request path observes through: tracing, request logging, shadow versions.

One ``Observability`` serves every transport. A call wrapper (``frontends.grpc_calls``,
``frontends.rest_calls``) asks ``open(...)`` when a call arrives; it answers ``None``
when there is nothing to do for the call (tracing off or no span wanted, and the call not
sampled for logging), and otherwise a ``RequestScope``: the call's ``RequestTrace`` (a
SERVER span continuing the client's ``traceparent``; calls that name no model, such as
V2's liveness and server metadata, get none, so health probes do not flood the traces) and its ``RequestLogging`` when the
call was sampled (decided here, per call, before anything is copied; only the inference
entrypoints in ``SAMPLED_ENTRYPOINTS`` are sampled). The wrapper makes the scope current
(``CURRENT_SCOPE``, a context variable, so the data plane reads it without every
frontend passing it along), ends the trace in its ``finally`` and resets the variable.

Who writes a sampled call's record, once, after the model answered:
- gRPC's TF Serving APIs (origin ``grpc``): the wrapper, with the request and response
  protos as they crossed the API (``capture_protos``);
- a REST ``:predict`` and V2 inference over either transport (``rest``, ``v2-rest``,
  ``v2-grpc``): ``DataPlane.predict``, with the decoded inputs and the outputs
  (``capture_tensors``);
- a REST ``:classify``/``:regress``: ``ExampleAPIs``, with the parsed ``Input`` and the
  response (``capture_examples``).

Shadows (``mirror``): ``DataPlane.predict`` asks once the version that answered is known;
a mirrored call's inputs are run again on the shadow version by a task the
``ShadowMirror`` owns, after the reply, outside the call's scope (no spans, no record,
no request count). ``busy(model)`` (the batcher's queue for the model is not empty)
makes the mirror skip under load.

With tracing off, no logging configured and no shadow rule, a call costs one dict
lookup in ``open`` (which then answers None, so no scope is set), a context-variable
read in ``DataPlane.predict`` and ``run``, and one dict lookup in ``mirror``; with
tracing off, no span, context or OpenTelemetry object is ever touched.
"""

from __future__ import annotations

import contextvars
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np
from google.protobuf.message import Message
from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

from actors.request_logger import RequestLogger
from actors.routing import RoutingTable
from actors.shadow_mirror import ShadowMirror
from actors.shadow_policy import Mirror
from config.request_logging import RequestLogging
from protocol.model_ref import ModelRef
from protocol.prediction_log import CaptureContext, Captured, CapturedExamples, CapturedTensors
from protocol.signatures import Signature
from servables.servable import Servable

SPAN_QUEUE_WAIT = "queue_wait"
SPAN_BATCH = "batch"
SPAN_MODEL_EXECUTION = "model_execution"
SPAN_DECODE = "decode"
SPAN_ENCODE = "encode"
ATTR_BATCH_SIZE = "batch.size"
ATTR_TRANSPORT = "aioserving.transport"
"""The child spans' names and attributes the request path records (``app.tracing``'s too)."""

AttributeValue = str | bool | int | float


class RequestTrace(Protocol):
    """One call's SERVER span (``app.tracing.RequestTrace``)."""

    def set_model(self, *, version: int, signature_name: str) -> None: ...

    def record(
        self,
        name: str,
        start_monotonic_seconds: float,
        end_monotonic_seconds: float,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None: ...

    def phase(self, name: str) -> AbstractContextManager[None]: ...

    def end(
        self, error: BaseException | None = None, *, status_code: str | None = None
    ) -> None: ...


class Tracer(Protocol):
    """What the request path asks of tracing (``app.tracing.Tracing``)."""

    name: str

    def start_request(
        self,
        name: str,
        *,
        parent: Any,
        api: str,
        model_name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> RequestTrace: ...

    def parent_from_grpc(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Any: ...

    def parent_from_http(self, headers: Mapping[str, str]) -> Any: ...

    async def start(self) -> None: ...

    async def stop(self, grace_seconds: float = 10.0) -> None: ...


Outputs = Mapping[str, np.ndarray[Any, Any]]
Inputs = Mapping[str, np.ndarray[Any, Any]]
RunCall = Callable[[Servable, Signature, Inputs, tuple[str, ...]], Awaitable[Outputs]]

SAMPLED_ENTRYPOINTS = frozenset({"Predict", "Classify", "Regress", "MultiInference", "ModelInfer"})
"""The calls whose payloads are logged (the others carry no model input)."""

_GRPC_SERVICES = {
    "grpc": {
        "GetModelStatus": "tensorflow.serving.ModelService",
        "HandleReloadConfigRequest": "tensorflow.serving.ModelService",
    },
}
_GRPC_DEFAULT_SERVICE = {
    "grpc": "tensorflow.serving.PredictionService",
    "v2": "inference.GRPCInferenceService",
}


@dataclasses.dataclass(slots=True, kw_only=True)
class RequestScope:
    """One call's trace and logging decision (not a message: it lives for one call)."""

    origin: str
    """``grpc``, ``rest``, ``v2-grpc`` or ``v2-rest`` (``log_metadata.request_origin``)."""
    trace: RequestTrace | None
    logging: RequestLogging | None


CURRENT_SCOPE: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar(
    "aioserving_request_scope", default=None
)


def grpc_span_name(api: str, entrypoint: str) -> str:
    """``package.Service/Method``, as OpenTelemetry names RPC spans."""
    service = _GRPC_SERVICES.get(api, {}).get(entrypoint) or _GRPC_DEFAULT_SERVICE.get(api, api)
    return f"{service}/{entrypoint}"


class Observability:
    """See the module docstring."""

    def __init__(
        self,
        *,
        routing: RoutingTable,
        tracing: Tracer | None,
        request_logger: RequestLogger,
        shadows: ShadowMirror,
        saved_model_tags: Callable[[str], tuple[str, ...]],
        busy: Callable[[str], bool] = lambda _model: False,
    ) -> None:
        self._routing = routing
        self.tracing = tracing
        self.request_logger = request_logger
        self.shadows = shadows
        self._saved_model_tags = saved_model_tags
        self._busy = busy

    # --- the call wrappers -------------------------------------------------------------------

    def open(
        self,
        *,
        origin: str,
        entrypoint: str,
        span_name: str,
        model_name: str,
        parent: Callable[[Tracer], Any],
    ) -> RequestScope | None:
        """The call's scope, or None when nothing is traced or logged for it.

        ``parent(tracer)`` returns the client's trace context (``tracer.parent_from_*``);
        it is called only when tracing is on.
        """
        logging = (
            self.request_logger.sample(model_name) if entrypoint in SAMPLED_ENTRYPOINTS else None
        )
        tracing = self.tracing
        if tracing is None or not model_name:  # no spans for health probes and server calls
            if logging is None:
                return None
            return RequestScope(origin=origin, trace=None, logging=logging)
        trace = tracing.start_request(
            span_name,
            parent=parent(tracing),
            api=entrypoint,
            model_name=model_name,
            attributes={ATTR_TRANSPORT: origin},
        )
        return RequestScope(origin=origin, trace=trace, logging=logging)

    def capture_protos(self, scope: RequestScope, request: object, response: object) -> None:
        """Log a TF Serving gRPC call: its request and response, as they crossed the API."""
        logging = scope.logging
        if logging is None or not isinstance(request, Message):
            return
        if not isinstance(response, Message):
            return
        spec = _answered_spec(response)
        if spec is None:
            return
        name = spec.name
        self.request_logger.offer(
            Captured(
                context=self._context(
                    name, spec.version.value, spec.signature_name, logging, scope.origin
                ),
                request=request,
                response=response,
            )
        )

    # --- the data plane ------------------------------------------------------------------------

    def capture_tensors(
        self,
        scope: RequestScope,
        ref: ModelRef,
        servable: Servable,
        signature: Signature,
        requested_signature: str,
        inputs: Inputs,
        outputs: Outputs,
    ) -> None:
        """Log a REST predict or a V2 inference as a Predict of its arrays."""
        logging = scope.logging
        if logging is None or scope.origin == "grpc":  # gRPC's wrapper logs the protos
            return
        self.request_logger.offer(
            CapturedTensors(
                context=self._context(
                    servable.model_name, servable.version, signature.name, logging, scope.origin
                ),
                inputs=inputs,
                outputs=outputs,
                requested_version=ref.version,
                requested_label=ref.label or None,
                requested_signature=requested_signature,
            )
        )

    def capture_examples(
        self,
        scope: RequestScope,
        ref: ModelRef,
        requested_signature: str,
        examples: input_pb2.Input,
        response: classification_pb2.ClassificationResponse | regression_pb2.RegressionResponse,
    ) -> None:
        """Log a REST classify or regress as the request TF Serving converts it to."""
        logging = scope.logging
        if logging is None or scope.origin != "rest":
            return
        spec = response.model_spec
        self.request_logger.offer(
            CapturedExamples(
                context=self._context(
                    spec.name, spec.version.value, spec.signature_name, logging, scope.origin
                ),
                input=examples,
                response=response,
                requested_version=ref.version,
                requested_label=ref.label or None,
                requested_signature=requested_signature,
            )
        )

    def mirror(
        self,
        servable: Servable,
        signature: Signature,
        inputs: Inputs,
        output_names: tuple[str, ...],
        outputs: Outputs,
        run: RunCall,
    ) -> None:
        """Mirror this answered call to its shadow version when a rule samples it."""
        name = servable.model_name
        if not self.shadows.covers(name):
            return
        route = self._routing.snapshot.models.get(name)
        labels = route.labels if route is not None else {}
        decision = self.shadows.decide(
            name, servable.version, labels, primary_busy=self._busy(name)
        )
        if not isinstance(decision, Mirror):
            return
        routing = self._routing

        async def shadow_run() -> Outputs:
            CURRENT_SCOPE.set(None)  # the shadow's task copied the call's context
            shadow = routing.snapshot.resolve(name, decision.version)
            return await run(shadow, shadow.signature(signature.name), inputs, output_names)

        self.shadows.submit(name, servable.version, decision, outputs, shadow_run)

    # --- helpers -------------------------------------------------------------------------------

    def _context(
        self,
        model_name: str,
        version: int,
        signature_name: str,
        logging: RequestLogging,
        origin: str,
    ) -> CaptureContext:
        return CaptureContext(
            model_name=model_name,
            version=version,
            signature_name=signature_name,
            sampling_rate=logging.sampling_rate,
            request_origin=origin,
            timestamp_secs=int(time.time()),
            saved_model_tags=self._saved_model_tags(model_name),
        )

    @property
    def parts(self) -> list[Tracer | RequestLogger | ShadowMirror]:
        """Started in this order before the frontends, so they stop after them."""
        parts: list[Tracer | RequestLogger | ShadowMirror] = []
        if self.tracing is not None:
            parts.append(self.tracing)
        parts += [self.request_logger, self.shadows]
        return parts


def _answered_spec(response: Message) -> Any:
    """The ``ModelSpec`` a TF Serving response names (MultiInference: its first result)."""
    spec = getattr(response, "model_spec", None)
    if spec is not None:
        return spec
    results = getattr(response, "results", None)
    if results:
        return results[0].model_spec
    return None
