"""The data plane: resolve, validate, run; status and metadata. Not an actor.

TF Serving's calls, once for gRPC and REST: ``predict``; ``model_status``
(GetModelStatus: ``VersionStatus`` values, newest first); ``model_metadata``
(GetModelMetadata: a ``ServableMetadata`` value with the servable's signatures). Each
frontend encodes these plain values itself (``protocol.tf_serving``): nothing is packed
into a wire message and unpacked again. Classify, Regress and MultiInference are
``dataplane.examples``; V2's calls are ``dataplane.v2``.

Both frontends call it, so gRPC and REST answer the same errors:
- an unknown model, version or label, as ``RoutingSnapshot.resolve`` says;
- an unknown signature: FAILED_PRECONDITION (Predict);
- missing or extra inputs, a dtype that differs from the signature's, an unknown
  ``output_filter`` alias: INVALID_ARGUMENT, naming the culprit (``servables.validation``).
Shapes are not checked against the signature, as TF Serving does not check them either.

The request path. ``predict`` resolves the servable, decodes the inputs with the
frontend's ``decode`` (which may need the signature's dtypes, as REST's JSON does) and
validates them once; ``run`` then takes the servable's in-flight count (one per request;
nothing is awaited between resolution and this point, so the version cannot leave in
between, except when ``decode`` returns an awaitable: REST decodes a large body in a
worker thread, and ``predict`` holds the servable's in-flight count while it awaits, so
the version it resolved is not unloaded under the decode) and:
- batching off for this servable (``batching_for`` is None: no batcher, or a Triton
  ``max_batch_size: 0`` model): a signature measured cheap (``actors.call_costs``,
  ``--inline_call_threshold_micros``) runs right here on the loop, with no await at all,
  when its inputs total under ``INLINE_MAX_INPUT_BYTES`` (a large batch is not the call
  that was measured), and so does now and then a call of a signature whose calls use
  little CPU but measured slow on the executor (``CallCost.inline_now``'s probe: under
  load the executor's timing includes the wait for the GIL); any other call goes
  straight to the executor's inference lane, and the handler awaits its future;
- batching on: an ``InferenceRequest`` goes to the batcher, whose batch completion
  answers the future.
Whoever finishes the model work releases the in-flight count, also when the client gave
up first, so a version being unloaded finishes every request it accepted and is never
unloaded under a running call.

Observability (``observe_with``; ``dataplane.observing``): with none, or with no scope
open for the call (tracing off, call not sampled), the path above pays one ``is None``
test per step. A traced call records ``decode`` and, in ``run``, ``queue_wait``,
``batch`` and ``model_execution`` child spans (from the batcher's ``BatchTimes`` when
batched). After the model answered, ``predict`` logs a sampled REST or V2 call's arrays
and hands the call to the shadow mirror, which runs it again on the shadow version
outside the call's scope.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from actors.batcher import Batcher
from actors.call_costs import CallCosts
from actors.messages import BatchTimes, InferenceRequest
from actors.routing import RoutingTable
from config.batching_config import BatchingSettings
from dataplane.observing import (
    ATTR_BATCH_SIZE,
    CURRENT_SCOPE,
    SPAN_BATCH,
    SPAN_DECODE,
    SPAN_MODEL_EXECUTION,
    SPAN_QUEUE_WAIT,
    Observability,
    RequestTrace,
)
from protocol.model_ref import ModelRef
from protocol.signatures import SIGNATURE_DEF_FIELD, Signature
from protocol.status import invalid_argument
from protocol.versions import VersionStatus
from servables.servable import Servable
from servables.validation import check_inputs, check_outputs

INLINE_MAX_INPUT_BYTES = 64 * 1024
"""Inputs this large never run inline, however cheap their signature measured."""

Outputs = dict[str, np.ndarray]
Inputs = Mapping[str, np.ndarray]
Decode = Callable[[Signature], Inputs | Awaitable[Inputs]]


class InferenceExecutor(Protocol):
    def run_inference(
        self, fn: Callable[..., Outputs], *args: object, release: Callable[[], None] | None = None
    ) -> object: ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServableMetadata:
    """GetModelMetadata's answer: the servable resolved and its signatures by name."""

    model_name: str
    version: int
    signatures: Mapping[str, Signature]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PredictResult:
    servable: Servable
    signature: Signature
    outputs: Mapping[str, np.ndarray]


class DataPlane:
    """Resolves, validates and runs; shared by the gRPC and REST frontends."""

    def __init__(
        self,
        *,
        routing: RoutingTable,
        executor: InferenceExecutor,
        batcher: Batcher | None = None,
        batching: BatchingSettings | None = None,
        costs: CallCosts | None = None,
    ) -> None:
        self._routing = routing
        self._executor = executor
        self._batcher = batcher
        self._batching = batching
        self._costs = costs or CallCosts(0)
        self.observability: Observability | None = None
        """Tracing, request logging and shadows (``dataplane.observing``); None: none."""

    def observe_with(self, observability: Observability) -> None:
        """Trace, log and mirror requests through ``observability`` from now on."""
        self.observability = observability

    # --- resolution, status and metadata ---------------------------------------------------

    def resolve(self, ref: ModelRef) -> Servable:
        """The servable ``ref`` names (NOT_FOUND / INVALID_ARGUMENT as TF Serving answers)."""
        return self._routing.snapshot.resolve(ref.name, ref.version, ref.label)

    def statuses(self, ref: ModelRef) -> list[VersionStatus]:
        """GetModelStatus: the statuses of the versions ``ref`` names, newest first."""
        return self._routing.snapshot.statuses(ref.name, ref.version, ref.label)

    def model_status(self, ref: ModelRef) -> list[VersionStatus]:
        """GetModelStatus (``statuses`` under the API's name)."""
        return self.statuses(ref)

    def model_metadata(
        self, ref: ModelRef, fields: Sequence[str] = (SIGNATURE_DEF_FIELD,)
    ) -> ServableMetadata:
        """GetModelMetadata: the signatures of the servable ``ref`` names.

        ``fields`` are checked first (``check_metadata_fields``).
        """
        check_metadata_fields(fields)
        servable = self.resolve(ref)
        return ServableMetadata(
            model_name=servable.model_name,
            version=servable.version,
            signatures=servable.signatures,
        )

    # --- inference ----------------------------------------------------------------------------

    async def predict(
        self,
        ref: ModelRef,
        signature_name: str,
        decode: Decode,
        output_filter: Sequence[str] = (),
        timeout_seconds: float | None = None,
        *,
        decoded_for_signature: bool = False,
        parameters: Mapping[str, object] | None = None,
    ) -> PredictResult:
        """Predict: resolve, decode, validate and run one request (see the module doc).

        ``decoded_for_signature``: ``decode`` already produced exactly the signature's
        inputs in its dtypes (REST's JSON decoder does, with its own messages), so the
        input check is not repeated. ``decode`` may return an awaitable (a decode run in a
        worker thread, so a large body does not hold the event loop): the servable's
        in-flight count is held while it is awaited. ``parameters``: the request's own
        (V2's), for a servable that takes them (see ``run``).
        """
        observability = self.observability
        scope = CURRENT_SCOPE.get() if observability is not None else None
        trace = scope.trace if scope is not None else None
        servable = self.resolve(ref)
        signature = servable.signature(signature_name)
        if trace is not None:
            with trace.phase(SPAN_DECODE):
                decoded = decode(signature)
        else:
            decoded = decode(signature)
        if inspect.isawaitable(decoded):
            servable.begin_request()
            try:
                inputs = await decoded
            finally:
                # ``run`` takes the count again with no await in between.
                servable.end_request()
        else:
            inputs = decoded
        if not decoded_for_signature:
            check_inputs(signature, inputs)
        outputs = check_outputs(signature, output_filter)
        result = await self.run(
            servable, signature, inputs, outputs, timeout_seconds, parameters=parameters
        )
        if observability is not None:
            if scope is not None:
                observability.capture_tensors(
                    scope, ref, servable, signature, signature_name, inputs, result
                )
            observability.mirror(servable, signature, inputs, outputs, result, self.run)
        return PredictResult(servable=servable, signature=signature, outputs=result)

    def batching_for(self, servable: Servable) -> BatchingSettings | None:
        """The batching settings ``servable``'s requests go through, or None when unbatched.

        A model whose Triton configuration says ``max_batch_size: 0`` takes no batch
        dimension, so its requests are never merged, whatever the server-wide settings.
        """
        if self._batcher is None:
            return None
        triton = servable.triton_config
        if triton is not None and triton.max_batch_size == 0:
            return None
        return servable.batching or self._batching

    async def run(
        self,
        servable: Servable,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: tuple[str, ...],
        timeout_seconds: float | None = None,
        *,
        parameters: Mapping[str, object] | None = None,
    ) -> Outputs:
        """Run one already-validated call of ``signature`` and await its outputs.

        Non-empty ``parameters`` reach a servable that ``takes_parameters`` (a Python
        model's ``request.parameters()``); that request then runs on its own, unbatched,
        since a batch is one call with one set of parameters. Other servables ignore them.
        """
        if self.observability is not None:
            scope = CURRENT_SCOPE.get()
            if scope is not None and scope.trace is not None:
                return await self._run_traced(
                    scope.trace,
                    servable,
                    signature,
                    inputs,
                    output_names,
                    timeout_seconds,
                    parameters=parameters,
                )
        return await self._run(
            servable, signature, inputs, output_names, timeout_seconds, parameters=parameters
        )

    async def _run_traced(
        self,
        trace: RequestTrace,
        servable: Servable,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: tuple[str, ...],
        timeout_seconds: float | None,
        *,
        parameters: Mapping[str, object] | None = None,
    ) -> Outputs:
        """``_run``, recording its queue wait and model execution (or batch) as child spans.

        Unbatched: ``queue_wait`` is the wait for an inference thread (none inline) and
        ``model_execution`` the model call. Batched: ``queue_wait`` until the batcher sent
        the request's batch out, ``batch`` from then until the outputs came back (with
        ``batch.size``, the rows the model ran, padding included) and ``model_execution``
        the model call inside it (``BatchTimes``, filled in by the batcher).
        """
        trace.set_model(version=servable.version, signature_name=signature.name)
        times = [0.0, 0.0]

        def timed(fn: Callable[..., Outputs], *args: object) -> Outputs:  # where the model runs
            times[0] = time.monotonic()
            try:
                return fn(*args)
            finally:
                times[1] = time.monotonic()

        batched = BatchTimes()
        submitted = time.monotonic()
        outputs = await self._run(
            servable,
            signature,
            inputs,
            output_names,
            timeout_seconds,
            wrap=timed,
            times=batched,
            parameters=parameters,
        )
        if batched.dispatched:
            answered = time.monotonic()
            trace.record(SPAN_QUEUE_WAIT, submitted, batched.dispatched)
            trace.record(
                SPAN_BATCH, batched.dispatched, answered, {ATTR_BATCH_SIZE: batched.batch_size}
            )
            if batched.run_started:
                trace.record(SPAN_MODEL_EXECUTION, batched.run_started, batched.run_finished)
        elif times[0]:
            trace.record(SPAN_QUEUE_WAIT, submitted, times[0])
            trace.record(SPAN_MODEL_EXECUTION, times[0], times[1])
        return outputs

    async def _run(
        self,
        servable: Servable,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: tuple[str, ...],
        timeout_seconds: float | None = None,
        *,
        wrap: Callable[..., Outputs] | None = None,
        times: BatchTimes | None = None,
        parameters: Mapping[str, object] | None = None,
    ) -> Outputs:
        """``run`` without tracing; ``wrap(fn, *args)`` runs an unbatched model call and
        the batcher fills ``times`` in for a batched one."""
        servable.begin_request()
        batcher = self._batcher
        given = parameters if parameters and servable.takes_parameters else None
        run = (
            servable.run
            if given is None
            else functools.partial(servable.run_with_parameters, parameters=given)
        )
        if batcher is None or given is not None or self.batching_for(servable) is None:
            cost = self._costs.of(servable, signature.name)
            if _input_bytes(inputs) < INLINE_MAX_INPUT_BYTES and cost.inline_now():
                try:
                    if wrap is not None:
                        return wrap(cost.timed_inline, run, signature, inputs, output_names)
                    return cost.timed_inline(run, signature, inputs, output_names)
                finally:
                    servable.end_request()
            try:
                future = self._executor.run_inference(
                    cost.timed if wrap is None else functools.partial(wrap, cost.timed),
                    run,
                    signature,
                    inputs,
                    output_names,
                    release=servable.end_request,
                )
            except BaseException:
                servable.end_request()
                raise
        else:
            first = next(iter(inputs.values()), None)
            batch_size = int(first.shape[0]) if first is not None and first.ndim else 1
            deadline = time.monotonic() + timeout_seconds if timeout_seconds is not None else None
            future = batcher.submit(
                InferenceRequest(
                    servable=servable,
                    signature=signature,
                    inputs=inputs,
                    output_names=output_names,
                    batch_size=batch_size,
                    deadline=deadline,
                    times=times,
                )
            )
        outputs: Outputs = await future  # type: ignore[misc]  # T is not inferred through cost.timed
        return outputs


def check_metadata_fields(fields: Sequence[str]) -> None:
    """GetModelMetadata's fields: ``signature_def`` is the only one TF Serving defines.

    An empty list or another field is INVALID_ARGUMENT. TF Serving checks them before
    anything else in the request (a gRPC frontend calls this before reading the
    ``ModelSpec``), so a request wrong in both ways gets this answer.
    """
    if not fields:
        raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in fields:
        if field != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field} is not supported")


def _input_bytes(inputs: Mapping[str, np.ndarray]) -> int:
    return sum(array.nbytes for array in inputs.values())
