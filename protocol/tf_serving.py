"""Translation between TF Serving's API protos and our plain types.

- ``model_ref`` reads a ``ModelSpec`` into a ``ModelRef`` (INVALID_ARGUMENT without a
  name); ``fill_model_spec`` writes the resolved name, version and signature back.
- ``version_status_proto`` writes a ``VersionStatus`` as GetModelStatus reports it: a
  status is always present (OK included), and a failed load carries its error with the
  loader's own code (TF Serving's ``get_model_status_impl``).
- ``signature_def`` / ``signature_def_map`` build TF's ``SignatureDef`` messages from
  ``Signature`` values, for GetModelMetadata and for error messages; every platform is
  described this way, so TF Serving's clients see ONNX or scikit-learn models too. An
  unknown rank is written as ``unknown_rank: true``, an unknown dimension as -1.
- ``model_status_response`` / ``model_metadata_response`` build gRPC's
  GetModelStatus and GetModelMetadata answers (the metadata's ``signature_def`` packed in
  an ``Any``, as TF Serving does); ``model_status_json`` / ``model_metadata_json`` write
  REST's documents straight from the same values, byte for byte as TF Serving prints them
  (proto field names, every field, one-space indent; the metadata shows the unpacked
  ``SignatureDefMap``, with no ``@type``); its maps (signatures, inputs, outputs) in the
  servable's order, where a proto map's order is unspecified.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import any_pb2, json_format
from google.protobuf.message import Message
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from protocol.model_ref import ModelRef
from protocol.signatures import SIGNATURE_DEF_FIELD, Signature, TensorSpec
from protocol.status import invalid_argument
from protocol.versions import VersionState, VersionStatus


def model_ref(spec: model_pb2.ModelSpec) -> ModelRef:
    """The model a ``ModelSpec`` names; version and label are mutually exclusive."""
    if not spec.name:
        raise invalid_argument("Missing ModelSpec.name")
    version = spec.version.value if spec.HasField("version") else None
    return ModelRef(name=spec.name, version=version, label=spec.version_label or None)


def fill_model_spec(
    spec: model_pb2.ModelSpec, name: str, version: int, signature_name: str
) -> None:
    spec.name = name
    spec.version.value = version
    spec.signature_name = signature_name


def version_status_proto(status: VersionStatus) -> get_model_status_pb2.ModelVersionStatus:
    proto = get_model_status_pb2.ModelVersionStatus(
        version=status.version, state=status.state.value
    )
    proto.status.SetInParent()  # TF Serving always reports a status, OK included
    if status.error is not None and status.state is VersionState.END:
        proto.status.error_code = status.error_code.value
        proto.status.error_message = status.error
    return proto


def _tensor_info(spec: TensorSpec, out: meta_graph_pb2.TensorInfo) -> None:
    out.name = spec.tensor_name
    out.dtype = spec.dtype
    if spec.shape is None:
        out.tensor_shape.unknown_rank = True
    else:
        out.tensor_shape.SetInParent()
        for size in spec.shape:
            out.tensor_shape.dim.add(size=size)


def signature_def(signature: Signature) -> meta_graph_pb2.SignatureDef:
    definition = meta_graph_pb2.SignatureDef(method_name=signature.method_name)
    for alias, spec in signature.inputs.items():
        _tensor_info(spec, definition.inputs[alias])
    for alias, spec in signature.outputs.items():
        _tensor_info(spec, definition.outputs[alias])
    return definition


def signature_def_map(
    signatures: Mapping[str, Signature],
) -> get_model_metadata_pb2.SignatureDefMap:
    result = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in signatures.items():
        result.signature_def[name].CopyFrom(signature_def(signature))
    return result


def model_status_response(
    statuses: Iterable[VersionStatus],
) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    response.model_version_status.extend(version_status_proto(s) for s in statuses)
    return response


def model_status_json(statuses: Iterable[VersionStatus]) -> bytes:
    """REST's ``GET /v1/models/NAME`` document."""
    text: str = json_format.MessageToJson(
        model_status_response(statuses),
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        indent=1,
    )
    return text.encode()


def _resolved_spec(name: str, version: int) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name)
    spec.version.value = version
    return spec


def model_metadata_response(
    name: str, version: int, signatures: Mapping[str, Signature]
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.CopyFrom(_resolved_spec(name, version))
    packed = any_pb2.Any()
    packed.Pack(signature_def_map(signatures))
    response.metadata[SIGNATURE_DEF_FIELD].CopyFrom(packed)
    return response


def _proto_json(message: Message) -> dict[str, Any]:
    document: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return document


def _signature_json(signature: Signature) -> dict[str, Any]:
    """A ``SignatureDef`` as JSON, its maps in the signature's own order.

    A proto map's iteration order is unspecified (it changed from one process to the
    next), so the signatures, inputs and outputs are laid out here, in a stable order.
    """
    document = _proto_json(signature_def(signature))
    for key, specs in (("inputs", signature.inputs), ("outputs", signature.outputs)):
        document[key] = {alias: document[key][alias] for alias in specs}
    return document


def model_metadata_json(name: str, version: int, signatures: Mapping[str, Signature]) -> bytes:
    """REST's ``GET /v1/models/NAME/metadata`` document (the unpacked SignatureDefMap)."""
    signature_defs = {name: _signature_json(sig) for name, sig in signatures.items()}
    document = {
        "model_spec": _proto_json(_resolved_spec(name, version)),
        "metadata": {SIGNATURE_DEF_FIELD: {SIGNATURE_DEF_FIELD: signature_defs}},
    }
    return json.dumps(document, indent=1).encode()
