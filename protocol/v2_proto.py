"""V2 gRPC's messages (``inference.GRPCInferenceService``) <-> our plain values.

Translation only. The message classes are ``tritonclient.grpc``'s generated modules:
two separately compiled copies of ``grpc_service.proto`` cannot live in one process
(both register ``inference.*`` in protobuf's default pool), and tritonclient is what V2
users run.

``decode_infer_request``: inputs come from ``raw_input_contents`` (one per input, in
order; numeric data wrapped with ``np.frombuffer``) or from typed ``contents``, never
both (INVALID_ARGUMENT with Triton's message, as the protocol forbids it); a
datatype with no ``contents`` field (FP16, BF16) needs raw contents. An input whose
parameters name a ``shared_memory_region`` has no data here (and takes no
``raw_input_contents`` entry); tensors' and outputs' parameters are kept as plain values.
The other functions build the answers; outputs go back as ``raw_output_contents``, as
Triton answers; an output written into shared memory has an empty entry there (one entry
per output, as Triton keeps them) and no parameters, as Triton answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from google.protobuf import json_format
from tritonclient.grpc import model_config_pb2, service_pb2

from protocol.status import invalid_argument
from protocol.v2_codec import (
    CONTENTS_FIELD,
    SHARED_MEMORY_REGION,
    InferRequest,
    InputTensor,
    RequestedOutput,
    array_from_binary,
    array_from_contents,
    array_to_binary,
    check_shape,
    datatype_name,
)
from protocol.v2_messages import (
    IndexEntry,
    InferResult,
    ModelConfig,
    ModelMetadata,
    ModelStatistics,
    RegionStatus,
    ServerMetadata,
    config_type,
)


def _parameter(value: Any) -> Any:
    choice = value.WhichOneof("parameter_choice")
    return getattr(value, choice) if choice else None


def _parameters(parameters: Any) -> dict[str, Any]:
    """A ``map<string, InferParameter>`` as plain values by name."""
    return {key: _parameter(value) for key, value in parameters.items()}


def decode_infer_request(request: service_pb2.ModelInferRequest) -> InferRequest:
    """A ``ModelInferRequest`` as the protocol's ``InferRequest``.

    Written for the common request (a few inputs in raw contents, no parameters): each
    repeated field is read once, an empty parameter map is not walked, and the shape is
    taken as protobuf's integers (never bools), so only its signs need a check.
    """
    raw = request.raw_input_contents
    tensors = list(request.inputs)
    in_shared_memory = [SHARED_MEMORY_REGION in tensor.parameters for tensor in tensors]
    for tensor, shared in zip(tensors, in_shared_memory, strict=True):
        # Triton's wording (grpc infer_handler.cc), checked input by input before the
        # count of raw contents, as Triton does: the protocol forbids both at once.
        if (shared or raw) and tensor.HasField("contents"):
            if shared:
                raise invalid_argument(
                    "unexpected 'content' provided when using shared memory for input tensor "
                    f"'{tensor.name}' for model '{request.model_name}'"
                )
            raise invalid_argument(
                "contents field must not be specified when using raw_input_contents for "
                f"'{tensor.name}' for model '{request.model_name}'"
            )
    # Inputs in shared memory take no raw_input_contents entry (as tritonclient sends them).
    needs_raw = in_shared_memory.count(False)
    if raw and len(raw) != needs_raw:
        outside = " outside shared memory" if any(in_shared_memory) else ""
        raise invalid_argument(
            f"raw_input_contents has {len(raw)} entries but the request has {needs_raw} "
            f"inputs{outside}"
        )
    inputs: list[InputTensor] = []
    seen: set[str] = set()
    raw_index = 0
    for tensor, shared in zip(tensors, in_shared_memory, strict=True):
        name = tensor.name
        if name in seen:
            raise invalid_argument(f"input '{name}' appears more than once")
        seen.add(name)
        shape = tuple(tensor.shape)
        if shape and min(shape) < 0:
            check_shape(name, list(shape))  # raises, with the message every decoder gives
        array: np.ndarray | None
        if shared:
            array = None
        elif raw:
            array = array_from_binary(name, tensor.datatype, shape, raw[raw_index])
            raw_index += 1
        else:
            field = CONTENTS_FIELD.get(tensor.datatype)
            if field is None:
                raise invalid_argument(
                    f"input '{name}': datatype '{tensor.datatype}' needs raw_input_contents"
                )
            array = array_from_contents(
                name, tensor.datatype, shape, getattr(tensor.contents, field)
            )
        parameters = tensor.parameters
        inputs.append(
            InputTensor(
                name=name,
                datatype=tensor.datatype,
                shape=shape,
                array=array,
                parameters=_parameters(parameters) if parameters else {},
            )
        )
    outputs = tuple(
        RequestedOutput(name=o.name, parameters=_parameters(o.parameters) if o.parameters else {})
        for o in request.outputs
    )
    parameters = request.parameters
    return InferRequest(
        id=request.id or None,
        inputs=tuple(inputs),
        outputs=outputs,
        parameters=_parameters(parameters) if parameters else {},
    )


def load_parameters(request: service_pb2.RepositoryModelLoadRequest) -> dict[str, Any]:
    """A load request's parameters by name, each the value its ``parameter_choice`` holds
    (``config`` a string; ``file:...`` bytes)."""
    return {key: _parameter(value) for key, value in request.parameters.items()}


def infer_response(result: InferResult, request_id: str = "") -> service_pb2.ModelInferResponse:
    response = service_pb2.ModelInferResponse(
        model_name=result.model_name, model_version=result.model_version
    )
    if request_id:
        response.id = request_id
    for output in result.outputs:
        array = output.array
        response.outputs.add(
            name=output.name, datatype=datatype_name(output.dtype), shape=array.shape
        )
        if output.in_shared_memory:
            # Triton keeps one raw entry per output, so that indexes line up: empty here.
            response.raw_output_contents.append(b"")
        else:
            response.raw_output_contents.append(array_to_binary(array))
    return response


def server_metadata_response(metadata: ServerMetadata) -> service_pb2.ServerMetadataResponse:
    return service_pb2.ServerMetadataResponse(
        name=metadata.name, version=metadata.version, extensions=metadata.extensions
    )


def metadata_response(metadata: ModelMetadata) -> service_pb2.ModelMetadataResponse:
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


def config_response(config: ModelConfig) -> service_pb2.ModelConfigResponse:
    if config.triton_document is not None:
        document = model_config_pb2.ModelConfig()
        json_format.ParseDict(config.triton_document, document)
        return service_pb2.ModelConfigResponse(config=document)
    message = model_config_pb2.ModelConfig(
        name=config.name, platform=config.platform, max_batch_size=config.max_batch_size
    )
    for target, tensors in ((message.input, config.inputs), (message.output, config.outputs)):
        for t in tensors:
            target.add(
                name=t.name,
                data_type=model_config_pb2.DataType.Value(config_type(t.datatype)),
                dims=t.shape,
            )
    return service_pb2.ModelConfigResponse(config=message)


def stats_response(statistics: Iterable[ModelStatistics]) -> service_pb2.ModelStatisticsResponse:
    response = service_pb2.ModelStatisticsResponse()
    for s in statistics:
        entry = response.model_stats.add(
            name=s.name,
            version="",
            last_inference=s.last_inference_ms,
            inference_count=s.success_count,
            execution_count=s.execution_count,
        )
        entry.inference_stats.success.count = s.success_count
        entry.inference_stats.success.ns = s.success_ns
        entry.inference_stats.fail.count = s.fail_count
        entry.inference_stats.fail.ns = s.fail_ns
    return response


def index_response(entries: Iterable[IndexEntry]) -> service_pb2.RepositoryIndexResponse:
    response = service_pb2.RepositoryIndexResponse()
    for e in entries:
        response.models.add(name=e.name, version=e.version, state=e.state, reason=e.reason)
    return response


def region_status_response(
    regions: Iterable[RegionStatus],
) -> service_pb2.SystemSharedMemoryStatusResponse:
    """``SystemSharedMemoryStatusResponse``: the regions by name."""
    response = service_pb2.SystemSharedMemoryStatusResponse()
    for r in regions:
        status = response.regions[r.name]
        status.name = r.name
        status.key = r.key
        status.offset = r.offset
        status.byte_size = r.byte_size
    return response
