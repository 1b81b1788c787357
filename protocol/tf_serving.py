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
"""

from __future__ import annotations

from collections.abc import Mapping

from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from protocol.model_ref import ModelRef
from protocol.signatures import Signature, TensorSpec
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
