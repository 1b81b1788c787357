"""What V2 REST and V2 gRPC share: resolution with V2's error codes, metadata, inference.

Inference goes through ``DataPlane.predict`` like TF Serving's APIs, so V2 requests share
the batcher, deadlines, load shedding and in-flight accounting with them.

- Versions: see ``protocol.v2_codec.parse_version`` (digits a number, else a label, empty the
  latest AVAILABLE version, as TF Serving's API resolves it).
- Signature: the request parameter ``signature_name`` (REST ``parameters``, gRPC
  ``parameters`` as a string), else ``serving_default``. Metadata describes that signature.
- Model repository extension (index, load, unload): ``dataplane.repository``; the
  semantics of load and unload, and how they meet the poller and config reloads, are
  documented there and in ``actors.path_poller``.
- Model configuration: what we know of the latest AVAILABLE version: platform,
  ``max_batch_size`` (the batching settings' ``max_batch_size`` when the model's requests
  are batched, else 0; with batching, ``dims`` leave out the batch dimension, as Triton's
  do), and the signature's inputs and outputs with Triton's ``TYPE_*`` names.
- Statistics: per model (every version together, version ""), from the metrics' tally:
  inference successes and failures with their wall time, and executions (batches run
  when batched, else one per successful request).
- Errors, remapped from the data plane's TF Serving codes to V2's: an unknown label is
  NOT_FOUND (404); a configured model, or an existing version, that is not AVAILABLE is
  UNAVAILABLE (503); wrong datatype, unknown input or output, shape/data mismatch are
  INVALID_ARGUMENT (400) naming the tensor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import numpy as np

from dataplane.dataplane import DataPlane
from dataplane.health import Health
from dataplane.repository import Repository
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
class ModelConfig:
    name: str
    platform: str
    max_batch_size: int
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]
    """Shapes here are Triton's ``dims``: without the batch dimension when batched."""


class ModelTally(Protocol):
    """One model's inference tally (``app.metrics.ModelStats``)."""

    # Read-only: the frontends only read a tally, and the frozen _NoTally must satisfy it too.
    @property
    def success_count(self) -> int: ...
    @property
    def success_ns(self) -> int: ...
    @property
    def fail_count(self) -> int: ...
    @property
    def fail_ns(self) -> int: ...
    @property
    def batch_count(self) -> int: ...
    @property
    def last_inference_ms(self) -> int: ...


StatsSource = Callable[[], Mapping[str, ModelTally]]


@dataclasses.dataclass(frozen=True, slots=True)
class _NoTally:
    success_count: int = 0
    success_ns: int = 0
    fail_count: int = 0
    fail_ns: int = 0
    batch_count: int = 0
    last_inference_ms: int = 0


def config_type(datatype: str) -> str:
    """A V2 datatype as Triton's model configuration names it (``FP32`` -> ``TYPE_FP32``)."""
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def check_load_parameters(parameters: object) -> None:
    """INVALID_ARGUMENT for load parameters that would override the model config or files."""
    if parameters is None:
        return
    if not isinstance(parameters, dict):
        raise invalid_argument("'parameters' must be a JSON object")
    for key in parameters:
        if key == "config" or key.startswith("file:"):
            raise invalid_argument(
                f"load parameter '{key}' is not supported: models come from the model config file"
            )


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

    def __init__(
        self,
        *,
        plane: DataPlane,
        health: Health,
        repository: Repository | None = None,
        stats: StatsSource | None = None,
    ) -> None:
        self.plane = plane
        self.health = health
        self._repository = repository
        self._stats = stats

    @property
    def repository(self) -> Repository:
        if self._repository is None:
            raise ServingError(Code.UNIMPLEMENTED, "the model repository extension is not enabled")
        return self._repository

    def model_config(self, ref: ModelRef) -> ModelConfig:
        servable = self.resolve(ref)
        signature = servable.signature("")
        batching = self.plane.batching_for(servable)
        max_batch_size = batching.max_batch_size if batching is not None else 0

        def dims(tensors: tuple[TensorMetadata, ...]) -> tuple[TensorMetadata, ...]:
            if not max_batch_size:
                return tensors
            return tuple(dataclasses.replace(t, shape=t.shape[1:]) for t in tensors)

        return ModelConfig(
            name=servable.model_name,
            platform=_PLATFORMS.get(servable.platform, servable.platform),
            max_batch_size=max_batch_size,
            inputs=dims(_tensors(signature.inputs)),
            outputs=dims(_tensors(signature.outputs)),
        )

    def statistics(self, model_name: str = "") -> dict[str, ModelTally]:
        """Every model's tally, or one model's (NOT_FOUND when it is neither configured nor known)."""
        tallies = dict(self._stats()) if self._stats is not None else {}
        if not model_name:
            names = [
                *self.health.configured(),
                *sorted(n for n in tallies if not self.health.is_configured(n)),
            ]
            return {name: tallies.get(name, _NoTally()) for name in names}
        if model_name not in tallies:
            self.model_ready(ModelRef(name=model_name))  # NOT_FOUND for an unknown model
        return {model_name: tallies.get(model_name, _NoTally())}

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
