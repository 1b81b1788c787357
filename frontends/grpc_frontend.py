"""gRPC frontend: ``tensorflow.serving.PredictionService`` and ``ModelService`` on grpc.aio.

Wire-compatible with the official ``tensorflow-serving-api`` stubs: the servicers' methods
come from the package's own generated ``add_*_to_server`` helpers. Each handler
decodes the request (``protocol.tf_serving``, ``protocol.tensors``), awaits the data
plane (or the config reloader), and encodes the answer (status and metadata:
``protocol.tf_serving``), inside ``frontends.grpc_calls.GrpcCalls``: a ``ServingError``
becomes the gRPC status of the same name, with its message, and anything else INTERNAL.

``GrpcFrontend`` also serves the ``extra_services`` it is given, on the same port (V2's
``frontends.v2_grpc``, ``grpc.health.v1.Health`` from ``frontends.grpc_health``: each
registers itself, so this module imports neither). Every service's methods are served
through one generic handler, with no interceptor (``frontends.grpc_methods``): the
closing gate, authentication (``auth``, ``frontends.auth.GrpcAuth``) and the answer to a
request whose bytes are not a valid message (INVALID_ARGUMENT naming the message type,
``frontends.grpc_decode``) are checked in each method's handler. It binds its TCP port
(and ``--grpc_socket_path``, a UNIX socket, when set) in ``start()``, without
``SO_REUSEPORT`` (a port in use fails start-up with OSError) unless ``reuse_port=True``
(``--workers`` > 1 only), which lets the server's own worker processes bind the same TCP
port, the kernel spreading connections among them; ``stop(grace_seconds)`` stops
accepting and gives in-flight RPCs that long. After a Predict whose serialized request
reaches the ``trimmer``'s threshold, freed memory is handed back to the OS
(``frontends.memory_trim``).

``HandleReloadConfigRequest`` answers its ``metric_names`` as TF Serving does: one
``metric`` entry per distinct name, in order, with the metric's increase over the reload
(``actors.config_reloader.metric_increases``; 0 for an unknown name, and for every name
when the servicer was given no ``metric_values`` reader).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar, cast

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from actors.config_reloader import metric_increases
from dataplane.dataplane import DataPlane, PredictResult, check_metadata_fields
from dataplane.examples import ExampleAPIs
from dataplane.observing import CURRENT_SCOPE, SPAN_ENCODE
from frontends.auth import GrpcAuth
from frontends.grpc_calls import GrpcCalls
from frontends.grpc_methods import ServerMethods
from frontends.memory_trim import MemoryTrimmer
from frontends.observer import RequestObserver
from protocol.status import Code, ServingError
from protocol.tensors import decode_inputs, ndarray_to_tensor_proto
from protocol.tf_serving import (
    fill_model_spec,
    model_metadata_response,
    model_ref,
    model_status_response,
)

log = logging.getLogger(__name__)

Resp = TypeVar("Resp")


class ServiceRegistrar(Protocol):
    """Another gRPC service served on the same port (``register`` adds it to the server)."""

    def register(self, server: grpc.aio.Server) -> None: ...


class ConfigReloader(Protocol):
    async def reload(self, config: model_server_config_pb2.ModelServerConfig) -> None: ...


def encode_predict(result: PredictResult) -> predict_pb2.PredictResponse:
    """The ``PredictResponse`` of a data plane answer."""
    response = predict_pb2.PredictResponse()
    servable, signature = result.servable, result.signature
    fill_model_spec(response.model_spec, servable.model_name, servable.version, signature.name)
    for alias, array in result.outputs.items():
        ndarray_to_tensor_proto(
            array, dtype_enum=signature.outputs[alias].dtype, out=response.outputs[alias]
        )
    return response


MetricValues = Callable[[Sequence[str]], Mapping[str, int]]
"""The current value of each named metric (``app.metrics.ServerMetrics.metric_values``)."""


def _timeout(context: grpc.aio.ServicerContext) -> float | None:
    remaining: float | None = context.time_remaining()
    return remaining


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(
        self,
        plane: DataPlane,
        examples: ExampleAPIs | None = None,
        observer: RequestObserver | None = None,
        max_request_tensor_bytes: int | None = None,
        trimmer: MemoryTrimmer | None = None,
    ) -> None:
        self._plane = plane
        self._examples = examples
        self._handlers = GrpcCalls(observer, api="grpc")
        self._max_request_tensor_bytes = max_request_tensor_bytes
        self._trimmer = trimmer

    async def Predict(  # noqa: N802 - gRPC method name
        self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> predict_pb2.PredictResponse:
        async def work() -> predict_pb2.PredictResponse:
            spec = request.model_spec
            result = await self._plane.predict(
                model_ref(spec),
                spec.signature_name,
                lambda _signature: decode_inputs(
                    request.inputs, max_bytes=self._max_request_tensor_bytes
                ),
                tuple(request.output_filter),
                _timeout(context),
            )
            scope = CURRENT_SCOPE.get() if self._plane.observability is not None else None
            if scope is not None and scope.trace is not None:
                with scope.trace.phase(SPAN_ENCODE):
                    return encode_predict(result)
            return encode_predict(result)

        try:
            return await self._handlers.call(
                "Predict", request.model_spec.name, context, work, request
            )
        finally:
            if self._trimmer is not None:
                self._trimmer.after_request(request.ByteSize())

    async def GetModelMetadata(  # noqa: N802 - gRPC method name
        self,
        request: get_model_metadata_pb2.GetModelMetadataRequest,
        context: grpc.aio.ServicerContext,
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        async def work() -> get_model_metadata_pb2.GetModelMetadataResponse:
            fields = request.metadata_field
            check_metadata_fields(fields)  # before the ModelSpec, as TF Serving checks them
            metadata = self._plane.model_metadata(model_ref(request.model_spec), fields)
            return model_metadata_response(
                metadata.model_name, metadata.version, metadata.signatures
            )

        return await self._handlers.call(
            "GetModelMetadata", request.model_spec.name, context, work, request
        )

    async def Classify(  # noqa: N802 - gRPC method name
        self, request: classification_pb2.ClassificationRequest, context: grpc.aio.ServicerContext
    ) -> classification_pb2.ClassificationResponse:
        spec = request.model_spec
        return await self._handlers.call(
            "Classify",
            spec.name,
            context,
            lambda: self._examples_api("Classify").classify(
                model_ref(spec), spec.signature_name, request.input, _timeout(context)
            ),
            request=request,
        )

    async def Regress(  # noqa: N802 - gRPC method name
        self, request: regression_pb2.RegressionRequest, context: grpc.aio.ServicerContext
    ) -> regression_pb2.RegressionResponse:
        spec = request.model_spec
        return await self._handlers.call(
            "Regress",
            spec.name,
            context,
            lambda: self._examples_api("Regress").regress(
                model_ref(spec), spec.signature_name, request.input, _timeout(context)
            ),
            request=request,
        )

    async def MultiInference(  # noqa: N802 - gRPC method name
        self, request: inference_pb2.MultiInferenceRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.MultiInferenceResponse:
        name = request.tasks[0].model_spec.name if request.tasks else ""
        return await self._handlers.call(
            "MultiInference",
            name,
            context,
            lambda: self._examples_api("MultiInference").multi_inference(
                request, _timeout(context)
            ),
            request=request,
        )

    def _examples_api(self, method: str) -> ExampleAPIs:
        """The tf.Example APIs (UNIMPLEMENTED when this server was built without them)."""
        if self._examples is None:
            raise ServingError(Code.UNIMPLEMENTED, f"{method} is not available on this server")
        return self._examples


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(
        self,
        plane: DataPlane,
        reloader: ConfigReloader | None = None,
        observer: RequestObserver | None = None,
        metric_values: MetricValues | None = None,
    ) -> None:
        self._plane = plane
        self._reloader = reloader
        self._metric_values = metric_values
        self._handlers = GrpcCalls(observer, api="grpc")

    async def GetModelStatus(  # noqa: N802 - gRPC method name
        self, request: get_model_status_pb2.GetModelStatusRequest, context: grpc.aio.ServicerContext
    ) -> get_model_status_pb2.GetModelStatusResponse:
        async def work() -> get_model_status_pb2.GetModelStatusResponse:
            return model_status_response(self._plane.model_status(model_ref(request.model_spec)))

        return await self._handlers.call(
            "GetModelStatus", request.model_spec.name, context, work, request
        )

    async def HandleReloadConfigRequest(  # noqa: N802 - gRPC method name
        self, request: model_management_pb2.ReloadConfigRequest, context: grpc.aio.ServicerContext
    ) -> model_management_pb2.ReloadConfigResponse:
        async def work() -> model_management_pb2.ReloadConfigResponse:
            if self._reloader is None:
                raise ServingError(Code.UNIMPLEMENTED, "config reload is not available")
            names = list(request.metric_names)
            read = self._metric_values
            before = read(names) if read is not None and names else {}
            await self._reloader.reload(request.config)
            after = read(names) if read is not None and names else {}
            response = model_management_pb2.ReloadConfigResponse()
            response.status.error_code = 0
            for name, increase in metric_increases(names, before, after):
                response.metric.add(name=name, int64_value_increase=increase)
            return response

        return await self._handlers.call("HandleReloadConfigRequest", "", context, work, request)


class GrpcFrontend:
    """Owns the grpc.aio server: ``start`` binds and serves; ``stop`` drains."""

    name = "grpc_frontend"

    def __init__(
        self,
        *,
        prediction: PredictionServicer,
        model: ModelServicer,
        address: str,
        socket_path: str | None = None,
        options: Sequence[tuple[str, object]] = (),
        credentials: grpc.ServerCredentials | None = None,
        extra_services: Sequence[ServiceRegistrar] = (),
        auth: GrpcAuth | None = None,
        reuse_port: bool = False,
    ) -> None:
        self._methods = ServerMethods(auth)
        self._prediction = prediction
        self._extra_services = list(extra_services)
        self._model = model
        self.address = address
        self._socket_path = socket_path
        self._options = list(options)
        if reuse_port:  # --workers: this server's own worker processes share the port
            self._options.append(("grpc.so_reuseport", 1))
        self._credentials = credentials
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        """Bind the port (OSError when it cannot be bound) and serve."""
        if self._server is not None:
            raise RuntimeError("GrpcFrontend.start() was already called; create a new frontend")
        # grpc enables SO_REUSEPORT by default: a second server on the same port would then
        # start without error and take half of the new connections. Off unless asked for.
        options = dict([("grpc.so_reuseport", 0), *self._options])
        server = grpc.aio.server(options=list(options.items()))
        # The generated helpers only call add_generic_rpc_handlers and
        # add_registered_method_handlers on what they are given: ServerMethods has both.
        sink = cast(grpc.aio.Server, self._methods)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(self._prediction, sink)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(self._model, sink)
        for service in self._extra_services:  # V2's GRPCInferenceService, grpc.health.v1
            service.register(sink)
        server.add_generic_rpc_handlers((self._methods,))
        self._server = server
        addresses = [self.address]
        if self._socket_path:
            addresses.append(f"unix:{self._socket_path}")
        for index, address in enumerate(addresses):
            try:
                if self._credentials is None:
                    port = server.add_insecure_port(address)
                else:
                    port = server.add_secure_port(address, self._credentials)
            except RuntimeError as error:  # grpc's "Failed to bind"
                raise OSError(
                    f"could not bind the gRPC port at {address} (in use?): {error}"
                ) from error
            if port == 0 and not address.startswith("unix:"):
                raise OSError(f"could not bind the gRPC port at {address} (in use?)")
            if index == 0:
                self.port = port
        await server.start()

    async def stop(self, grace_seconds: float) -> None:
        """Stop accepting; in-flight RPCs get ``grace_seconds`` to finish. Safe before start.

        gRPC's own shutdown cancels (CANCELLED) the calls that reached the server but no
        handler yet, which a client cannot tell from a failed request. So new unary calls
        are first answered UNAVAILABLE (safe to retry elsewhere) for a moment, letting the
        calls already on their way reach the gate, and only then does the server stop.
        """
        if self._server is None:
            return
        self._methods.closing = True
        await asyncio.sleep(min(_GATE_SECONDS, grace_seconds))
        await self._server.stop(grace_seconds)


_GATE_SECONDS = 0.3
