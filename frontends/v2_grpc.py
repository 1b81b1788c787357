"""V2 (Open Inference Protocol) gRPC: ``inference.GRPCInferenceService`` beside TF Serving's services.

The servicer base is ``tritonclient.grpc``'s generated module (why: ``protocol.v2_proto``).
Implemented: ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata,
ModelInfer, ModelConfig, ModelStatistics, RepositoryIndex, RepositoryModelLoad,
RepositoryModelUnload (semantics in ``dataplane.v2`` and ``dataplane.repository``; load
and unload wait at most the call's deadline), SystemSharedMemoryRegister, -Unregister
(an empty name: every region) and -Status (``dataplane.shared_memory``), and the CUDA
shared memory calls (register is UNAVAILABLE saying why; unregister succeeds; status is
empty); every other method answers UNIMPLEMENTED (the base class).

Each handler decodes (``protocol.v2_proto``), awaits ``dataplane.v2.V2Plane`` and encodes,
inside ``frontends.grpc_calls.GrpcCalls``: a ``ServingError`` aborts with the gRPC status
of the same name, anything else is INTERNAL. Each RPC naming a model is observed with API
``v2``. ModelReady answers false for an unknown model, as Triton does (REST's is 404).
"""

from __future__ import annotations

from typing import Any

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from dataplane.v2 import V2Plane
from frontends.grpc_calls import GrpcCalls
from frontends.observer import RequestObserver
from protocol.v2_codec import parse_version
from protocol.v2_proto import (
    config_response,
    decode_infer_request,
    index_response,
    infer_response,
    load_parameters,
    metadata_response,
    region_status_response,
    server_metadata_response,
    stats_response,
)


class V2GrpcServicer(service_pb2_grpc.GRPCInferenceServiceServicer):
    """The V2 gRPC handlers: decode, await the V2 plane, encode."""

    def __init__(self, plane: V2Plane, observer: RequestObserver | None = None) -> None:
        self._plane = plane
        self._calls = GrpcCalls(observer, api="v2", count_unnamed=False)

    def register(self, server: grpc.aio.Server) -> None:
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(self, server)

    async def ServerLive(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            return service_pb2.ServerLiveResponse(live=self._plane.live())

        return await self._calls.call("ServerLive", "", context, work, request)

    async def ServerReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            return service_pb2.ServerReadyResponse(ready=self._plane.readiness().ready)

        return await self._calls.call("ServerReady", "", context, work, request)

    async def ServerMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            return server_metadata_response(self._plane.server_metadata())

        return await self._calls.call("ServerMetadata", "", context, work, request)

    async def ModelReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        ref = parse_version(request.name, request.version)

        async def work() -> Any:  # an unknown model is not ready, not an error, as in Triton
            return service_pb2.ModelReadyResponse(ready=self._plane.model_available(ref))

        return await self._calls.call("ModelReady", ref.name, context, work, request)

    async def ModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        ref = parse_version(request.name, request.version)

        async def work() -> Any:
            return metadata_response(self._plane.model_metadata(ref))

        return await self._calls.call("ModelMetadata", ref.name, context, work, request)

    async def ModelInfer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        ref = parse_version(request.model_name, request.model_version)

        async def work() -> Any:
            parsed = decode_infer_request(request)
            result = await self._plane.infer(ref, parsed, context.time_remaining())
            return infer_response(result, request.id)

        return await self._calls.call("ModelInfer", ref.name, context, work, request)

    async def ModelConfig(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        ref = parse_version(request.name, request.version)

        async def work() -> Any:
            return config_response(self._plane.model_config(ref))

        return await self._calls.call("ModelConfig", ref.name, context, work, request)

    async def ModelStatistics(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            return stats_response(self._plane.statistics(request.name))

        return await self._calls.call("ModelStatistics", request.name, context, work, request)

    async def RepositoryIndex(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            return index_response(self._plane.repository_index(ready_only=request.ready))

        return await self._calls.call("RepositoryIndex", "", context, work, request)

    async def RepositoryModelLoad(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            await self._plane.load_model(
                request.model_name, load_parameters(request), context.time_remaining()
            )
            return service_pb2.RepositoryModelLoadResponse()

        return await self._calls.call(
            "RepositoryModelLoad", request.model_name, context, work, request
        )

    async def RepositoryModelUnload(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            await self._plane.unload_model(request.model_name, context.time_remaining())
            return service_pb2.RepositoryModelUnloadResponse()

        return await self._calls.call(
            "RepositoryModelUnload", request.model_name, context, work, request
        )

    # --- shared memory (Triton's system and CUDA shared memory extensions) -------------------

    async def SystemSharedMemoryStatus(  # noqa: N802 - gRPC method name
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> Any:
        async def work() -> Any:
            return region_status_response(self._plane.shared_memory.status(request.name))

        return await self._calls.call("SystemSharedMemoryStatus", "", context, work, request)

    async def SystemSharedMemoryRegister(  # noqa: N802 - gRPC method name
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> Any:
        async def work() -> Any:
            self._plane.shared_memory.register(
                request.name, request.key, request.offset, request.byte_size
            )
            return service_pb2.SystemSharedMemoryRegisterResponse()

        return await self._calls.call("SystemSharedMemoryRegister", "", context, work, request)

    async def SystemSharedMemoryUnregister(  # noqa: N802 - gRPC method name
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> Any:
        async def work() -> Any:
            if request.name:
                self._plane.shared_memory.unregister(request.name)
            else:
                self._plane.shared_memory.unregister_all()
            return service_pb2.SystemSharedMemoryUnregisterResponse()

        return await self._calls.call("SystemSharedMemoryUnregister", "", context, work, request)

    async def CudaSharedMemoryStatus(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC method name
        async def work() -> Any:
            return service_pb2.CudaSharedMemoryStatusResponse()  # never any CUDA region

        return await self._calls.call("CudaSharedMemoryStatus", "", context, work, request)

    async def CudaSharedMemoryRegister(  # noqa: N802 - gRPC method name
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> Any:
        async def work() -> Any:
            self._plane.shared_memory.register_cuda(request.name)  # UNAVAILABLE
            return service_pb2.CudaSharedMemoryRegisterResponse()

        return await self._calls.call("CudaSharedMemoryRegister", "", context, work, request)

    async def CudaSharedMemoryUnregister(  # noqa: N802 - gRPC method name
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> Any:
        async def work() -> Any:
            return service_pb2.CudaSharedMemoryUnregisterResponse()  # nothing to forget

        return await self._calls.call("CudaSharedMemoryUnregister", "", context, work, request)
