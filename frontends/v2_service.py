"""What V2 REST and V2 gRPC share: resolution with V2's error codes, metadata, inference.

Inference goes through ``DataPlane.predict`` like TF Serving's APIs, so V2 requests share
the batcher, deadlines, load shedding and in-flight accounting with them.

- Versions: see ``protocol.v2_codec.parse_version`` (digits a number, else a label, empty the
  latest AVAILABLE version, as TF Serving's API resolves it).
- Signature: the request parameter ``signature_name`` (REST ``parameters``, gRPC
  ``parameters`` as a string), else ``serving_default``. Metadata describes that signature.
- Errors, remapped from the data plane's TF Serving codes to V2's: an unknown label is
  NOT_FOUND (404); a configured model, or an existing version, that is not AVAILABLE is
  UNAVAILABLE (503); wrong datatype, unknown input or output, shape/data mismatch are
  INVALID_ARGUMENT (400) naming the tensor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

import numpy as np

from dataplane.dataplane import DataPlane
from dataplane.health import Health
from protocol.model_ref import ModelRef
from protocol.signatures import Signature
from protocol.status import Code, ServingError, invalid_argument, not_found, unavailable
from protocol.v2_codec import InferRequest, datatype_dtype, datatype_name
from protocol.versions import VersionState
from servables.servable import Servable

SERVER_NAME: Final = "aioserving"
SERVER_VERSION: Final = "0.1.0"
EXTENSIONS: Final = ("binary_tensor_data",)
SIGNATURE_PARAMETER: Final = "signature_name"

# Triton's platform names where one exists; our own otherwise.
_PLATFORMS: Final = {"tensorflow": "tensorflow_savedmodel", "onnx": "onnxruntime_onnx"}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TensorMetadata:
    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ModelMetadata:
    name: str
    versions: tuple[str, ...]
    platform: str
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InferResult:
    model_name: str
    model_version: str
    outputs: tuple[tuple[str, np.ndarray, int], ...]
    """(name, array, dtype) in response order."""


def _tensors(specs: Mapping[str, Any]) -> tuple[TensorMetadata, ...]:
    return tuple(
        TensorMetadata(
            name=alias,
            datatype=datatype_name(spec.dtype),
            shape=spec.shape if spec.shape is not None else (-1,),
        )
        for alias, spec in specs.items()
    )


class V2Service:
    """Protocol-level V2 operations over the data plane; no wire types."""

    def __init__(self, *, plane: DataPlane, health: Health) -> None:
        self.plane = plane
        self.health = health

    def _remap(self, error: ServingError, ref: ModelRef) -> ServingError:
        if error.code is Code.INVALID_ARGUMENT and error.message.startswith(
            "Unrecognized servable version label"
        ):
            return not_found(f"model '{ref.name}' has no version labelled '{ref.label}'")
        if error.code is Code.NOT_FOUND:
            if ref.version is None and ref.label is None and self.health.is_configured(ref.name):
                return unavailable(f"model '{ref.name}' is not ready: no version is AVAILABLE")
            if ref.version is not None:
                try:
                    statuses = self.plane.statuses(ref)
                except ServingError:
                    return not_found(f"model '{ref.name}' version {ref.version} is unknown")
                if statuses and statuses[0].state is not VersionState.AVAILABLE:
                    return unavailable(
                        f"model '{ref.name}' version {ref.version} is not ready ({statuses[0].state.name})"
                    )
                return not_found(f"model '{ref.name}' version {ref.version} is unknown")
            return not_found(f"model '{ref.name}' is unknown")
        return error

    def resolve(self, ref: ModelRef) -> Servable:
        try:
            return self.plane.resolve(ref)
        except ServingError as error:
            raise self._remap(error, ref) from None

    def model_ready(self, ref: ModelRef) -> bool:
        """True when AVAILABLE; NOT_FOUND for a model that is neither configured nor known."""
        if self.health.model_ready(ref):
            return True
        if not self.health.is_configured(ref.name):
            try:
                self.plane.statuses(ModelRef(name=ref.name))
            except ServingError:
                raise not_found(f"model '{ref.name}' is unknown") from None
        return False

    def model_metadata(self, ref: ModelRef, signature_name: str = "") -> ModelMetadata:
        servable = self.resolve(ref)
        signature = servable.signature(signature_name)
        versions = tuple(
            str(s.version)
            for s in self.plane.statuses(ModelRef(name=ref.name))
            if s.state is VersionState.AVAILABLE
        )
        return ModelMetadata(
            name=servable.model_name,
            versions=tuple(sorted(versions, key=int)),
            platform=_PLATFORMS.get(servable.platform, servable.platform),
            inputs=_tensors(signature.inputs),
            outputs=_tensors(signature.outputs),
        )

    async def infer(
        self, ref: ModelRef, request: InferRequest, timeout_seconds: float | None
    ) -> InferResult:
        def decode(signature: Signature) -> dict[str, np.ndarray]:
            arrays: dict[str, np.ndarray] = {}
            for tensor in request.inputs:
                spec = signature.inputs.get(tensor.name)
                if spec is None:
                    raise invalid_argument(
                        f"unknown input '{tensor.name}'; the model's inputs are {sorted(signature.inputs)}"
                    )
                if datatype_dtype(tensor.datatype) != spec.dtype:
                    raise invalid_argument(
                        f"input '{tensor.name}' has datatype {tensor.datatype} but the model expects "
                        f"{datatype_name(spec.dtype)}"
                    )
                arrays[tensor.name] = tensor.array
            return arrays

        signature_name = str(request.parameters.get(SIGNATURE_PARAMETER) or "")
        try:
            result = await self.plane.predict(
                ref, signature_name, decode, tuple(o.name for o in request.outputs), timeout_seconds
            )
        except ServingError as error:
            raise self._remap(error, ref) from None
        specs = result.signature.outputs
        return InferResult(
            model_name=result.servable.model_name,
            model_version=str(result.servable.version),
            outputs=tuple(
                (name, np.asarray(array), specs[name].dtype)
                for name, array in result.outputs.items()
            ),
        )
