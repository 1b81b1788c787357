"""V2 (Open Inference Protocol) gRPC: ``inference.GRPCInferenceService`` beside TF Serving's services.

The messages and the servicer base are ``tritonclient.grpc``'s generated modules, not a
copy of our own: two separately compiled copies of ``grpc_service.proto`` cannot live in
one process (both register ``inference.*`` in protobuf's default pool), and tritonclient
is what V2 users run. Implemented: ServerLive, ServerReady, ModelReady, ServerMetadata,
ModelMetadata, ModelInfer, ModelConfig, ModelStatistics, RepositoryIndex,
RepositoryModelLoad, RepositoryModelUnload (semantics in ``frontends.v2_service`` and
``dataplane.repository``; load and unload wait at most the call's deadline); every other
method answers UNIMPLEMENTED (the base class).

ModelInfer: inputs come from ``raw_input_contents`` (one per input, in order; numeric data
wrapped with ``np.frombuffer``) or from typed ``contents``; outputs always go back as
``raw_output_contents``, as Triton answers. Errors: a ``ServingError`` aborts with the gRPC
status of the same name; anything else is INTERNAL. Each RPC is observed with API ``v2``.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import grpc
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc

from frontends.grpc_calls import GrpcCalls
from frontends.observer import RequestObserver
from frontends.v2_service import (
    EXTENSIONS,
    SERVER_NAME,
    SERVER_VERSION,
    V2Service,
    check_load_parameters,
    config_type,
)
from protocol.status import invalid_argument
from protocol.v2_codec import (
    CONTENTS_FIELD,
    InferRequest,
    InputTensor,
    RequestedOutput,
    array_from_binary,
    array_from_contents,
    array_to_binary,
    check_shape,
    datatype_name,
    parse_version,
)

log = logging.getLogger(__name__)
Resp = TypeVar("Resp")


def _parameter(value: Any) -> Any:
    choice = value.WhichOneof("parameter_choice")
    return getattr(value, choice) if choice else None


def decode_infer_request(request: service_pb2.ModelInferRequest) -> InferRequest:
    """A ``ModelInferRequest`` as the protocol's ``InferRequest``."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise invalid_argument(
            f"raw_input_contents has {len(raw)} entries but the request has {len(request.inputs)} inputs"
        )
    inputs: list[InputTensor] = []
    seen: set[str] = set()
    for index, tensor in enumerate(request.inputs):
        name = tensor.name
        if name in seen:
            raise invalid_argument(f"input '{name}' appears more than once")
        seen.add(name)
        shape = check_shape(name, list(tensor.shape))
        if raw:
            array = array_from_binary(name, tensor.datatype, shape, raw[index])
        else:
            field = CONTENTS_FIELD.get(tensor.datatype)
            if field is None:
                raise invalid_argument(
                    f"input '{name}': datatype '{tensor.datatype}' needs raw_input_contents"
                )
            array = array_from_contents(
                name, tensor.datatype, shape, getattr(tensor.contents, field)
            )
        inputs.append(InputTensor(name=name, datatype=tensor.datatype, array=array))
    outputs = tuple(RequestedOutput(name=o.name) for o in request.outputs)
    parameters = {key: _parameter(value) for key, value in request.parameters.items()}
    return InferRequest(
        id=request.id or None, inputs=tuple(inputs), outputs=outputs, parameters=parameters
    )


class V2GrpcServicer(service_pb2_grpc.GRPCInferenceServiceServicer):
    """The V2 gRPC handlers: convert, await the V2 service, convert back."""

    def __init__(self, service: V2Service, observer: RequestObserver | None = None) -> None:
        self._service = service
        self._calls = GrpcCalls(observer, api="v2", count_unnamed=False)

    def register(self, server: grpc.aio.Server) -> None:
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(self, server)

    async def ServerLive(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        return service_pb2.ServerLiveResponse(live=self._service.health.live())

    async def ServerReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        return service_pb2.ServerReadyResponse(ready=self._service.health.ready())

    async def ServerMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        return service_pb2.ServerMetadataResponse(
            name=SERVER_NAME, version=SERVER_VERSION, extensions=EXTENSIONS
        )

    async def ModelReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        ref = parse_version(request.name, request.version)

        async def work() -> Any:  # an unknown model is not ready, not an error, as in Triton
            return service_pb2.ModelReadyResponse(ready=self._service.health.model_ready(ref))

        return await self._calls.call("ModelReady", ref.name, context, work, request)

    async def ModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        ref = parse_version(request.name, request.version)

        async def work() -> Any:
            metadata = self._service.model_metadata(ref)
            response = service_pb2.ModelMetadataResponse(
                name=metadata.name, versions=metadata.versions, platform=metadata.platform
            )
            for target, tensors in (
                (response.inputs, metadata.inputs),
                (response.outputs, metadata.outputs),
            ):
                for t in tensors:
                    target.add(name=t.name, datatype=t.datatype, shape=t.shape)
            return response

        return await self._calls.call("ModelMetadata", ref.name, context, work, request)

    async def ModelInfer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        ref = parse_version(request.model_name, request.model_version)

        async def work() -> Any:
            parsed = decode_infer_request(request)
            result = await self._service.infer(ref, parsed, context.time_remaining())
            response = service_pb2.ModelInferResponse(
                model_name=result.model_name, model_version=result.model_version
            )
            if request.id:
                response.id = request.id
            for name, array, dtype in result.outputs:
                response.outputs.add(name=name, datatype=datatype_name(dtype), shape=array.shape)
                response.raw_output_contents.append(array_to_binary(array))
            return response

        return await self._calls.call("ModelInfer", ref.name, context, work, request)

    async def ModelConfig(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        ref = parse_version(request.name, request.version)

        async def work() -> Any:
            config = self._service.model_config(ref)
            message = model_config_pb2.ModelConfig(
                name=config.name, platform=config.platform, max_batch_size=config.max_batch_size
            )
            for target, tensors in (
                (message.input, config.inputs),
                (message.output, config.outputs),
            ):
                for t in tensors:
                    target.add(
                        name=t.name,
                        data_type=model_config_pb2.DataType.Value(config_type(t.datatype)),
                        dims=t.shape,
                    )
            return service_pb2.ModelConfigResponse(config=message)

        return await self._calls.call("ModelConfig", ref.name, context, work, request)

    async def ModelStatistics(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            response = service_pb2.ModelStatisticsResponse()
            for name, t in self._service.statistics(request.name).items():
                entry = response.model_stats.add(
                    name=name,
                    version="",
                    last_inference=t.last_inference_ms,
                    inference_count=t.success_count,
                    execution_count=t.batch_count or t.success_count,
                )
                entry.inference_stats.success.count = t.success_count
                entry.inference_stats.success.ns = t.success_ns
                entry.inference_stats.fail.count = t.fail_count
                entry.inference_stats.fail.ns = t.fail_ns
            return response

        return await self._calls.call("ModelStatistics", request.name, context, work, request)

    async def RepositoryIndex(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            response = service_pb2.RepositoryIndexResponse()
            for e in self._service.repository.index(ready_only=request.ready):
                response.models.add(name=e.name, version=e.version, state=e.state, reason=e.reason)
            return response

        return await self._calls.call("RepositoryIndex", "", context, work, request)

    async def RepositoryModelLoad(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            check_load_parameters(dict(request.parameters))
            await self._service.repository.load(request.model_name, context.time_remaining())
            return service_pb2.RepositoryModelLoadResponse()

        return await self._calls.call(
            "RepositoryModelLoad", request.model_name, context, work, request
        )

    async def RepositoryModelUnload(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            await self._service.repository.unload(request.model_name, context.time_remaining())
            return service_pb2.RepositoryModelUnloadResponse()

        return await self._calls.call(
            "RepositoryModelUnload", request.model_name, context, work, request
        )
