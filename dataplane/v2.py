"""The Open Inference Protocol (V2) calls over the data plane, for V2 REST and V2 gRPC.

``V2Plane`` answers every V2 call once, with plain values (``protocol.v2_messages``) that
each frontend encodes: server metadata, liveness and readiness, model readiness,
metadata, configuration and statistics, inference, and the model repository extension.
Inference goes through ``DataPlane.predict`` like TF Serving's APIs, so V2 requests share
the batcher, deadlines, load shedding and in-flight accounting with them.

- Versions: see ``protocol.v2_codec.parse_version`` (digits a number, else a label, empty the
  latest AVAILABLE version, as TF Serving's API resolves it).
- Signature: the request parameter ``signature_name`` (REST ``parameters``, gRPC
  ``parameters`` as a string), else ``serving_default``. Metadata describes that signature.
- Request parameters other than the server's own (``SERVER_PARAMETERS``: ``signature_name``,
  ``binary_data_output``, Triton's sequence, priority and timeout ones) reach a model that
  reads them (a Python model's ``request.parameters()``; see ``DataPlane.run``).
- Model repository extension (index, load, unload): ``dataplane.repository``; the
  semantics of load and unload, and how they meet the poller and config reloads, are
  documented there and in ``actors.path_poller``. A load's ``config`` parameter (a model
  configuration in Triton's JSON shape, as Triton's ``simple_*_model_control`` clients
  send) overrides the model's ``config.pbtxt`` until the next load; one that does not
  parse is INVALID_ARGUMENT "failed to load 'M': ...". ``file:...`` parameters (model
  files in the request) are INVALID_ARGUMENT: models come from their folders. Any load
  error's message starts "failed to load 'M'", as Triton's does.
- Model configuration: of the latest AVAILABLE version. A model loaded with a Triton
  ``config.pbtxt`` (a repository model, after auto-complete) answers that whole
  configuration in Triton's JSON shape (``servables.triton_signature.triton_model_config``).
  Any other model answers what we know: platform, ``max_batch_size`` (the batching
  settings' ``max_batch_size`` when the model's requests are batched, else 0; with
  batching, ``dims`` leave out the batch dimension, as Triton's do), and the signature's
  inputs and outputs.
- Statistics: per model (every version together, version ""), from the metrics' tally:
  inference successes and failures with their wall time, and executions (batches run
  when batched, else one per successful request).
- Errors, re-worded from the data plane's TF Serving errors by their
  ``protocol.status.Reason``, in Triton's words (``model_repository_manager.cc`` prefixes
  ``model_lifecycle.cc``'s messages with "Request for unknown model: ", which Triton's own
  example clients test): an unknown model is NOT_FOUND "Request for unknown model: 'M' is
  not found", an unknown version NOT_FOUND "... 'M' version N is not found"; an existing
  version that is not AVAILABLE is UNAVAILABLE "... is not at ready state"; a configured
  model with no AVAILABLE version is UNAVAILABLE (503; Triton says NOT_FOUND "has no
  available versions", we keep 503 so that a client retries a model still loading). A
  version string that is neither a number nor one of the model's labels is
  INVALID_ARGUMENT "failed to get model version from specified version string ..."
  (Triton's ``GetModelVersionFromString``). Wrong datatype, unknown input or output,
  shape/data mismatch are INVALID_ARGUMENT (400) naming the tensor. Every other error
  passes through unchanged.
- System shared memory (Triton's ``system_shared_memory`` extension): the plane owns
  the ``dataplane.shared_memory`` registry, which the frontends' register, unregister and
  status calls reach directly. An input naming a region (``shared_memory_region``,
  ``shared_memory_offset``, ``shared_memory_byte_size``) is read from it: its byte size
  must equal shape x datatype size (BYTES: the serialized elements must fill it), and the
  bytes are copied out (once the model and input are known, before the model runs), so
  the region's view is released at once.
  An output naming a region is written there after the model runs (a region too small
  is INVALID_ARGUMENT with Triton's words; Triton says INTERNAL) and answered with its
  name, datatype and shape only, as Triton answers. An unknown region is NOT_FOUND, and
  a window past the region's end INVALID_ARGUMENT, before the model runs.
  ``close()`` unmaps every region at server stop. CUDA shared memory is not offered.
- Server metadata lists the extensions implemented: ``binary_tensor_data``,
  ``model_configuration``, ``statistics``, ``system_shared_memory``, and
  ``model_repository`` when the repository is enabled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final, Protocol

import numpy as np

from config.errors import ConfigError
from config.triton_model_config import TritonModelConfig, parse_triton_config_json
from dataplane.dataplane import DataPlane
from dataplane.health import Health
from dataplane.readiness import Readiness
from dataplane.repository import Repository
from dataplane.shared_memory import (
    SharedMemoryReference,
    SharedMemoryRegistry,
    shared_memory_reference,
)
from protocol.dtypes import NUMPY_DTYPES, DType
from protocol.model_ref import ModelRef
from protocol.signatures import Signature, TensorSpec
from protocol.status import (
    Code,
    Reason,
    ServingError,
    invalid_argument,
    not_found,
    unavailable,
)
from protocol.v2_codec import (
    InferRequest,
    InputTensor,
    array_from_binary,
    array_to_binary,
    datatype_dtype,
    datatype_name,
)
from protocol.v2_messages import (
    IndexEntry,
    InferOutput,
    InferResult,
    ModelConfig,
    ModelMetadata,
    ModelStatistics,
    ServerMetadata,
    TensorMetadata,
)
from protocol.versions import VersionState
from servables.servable import Servable
from servables.triton_signature import triton_model_config

SERVER_NAME: Final = "aioserving"
SERVER_VERSION: Final = "0.1.0"
# Triton's extension names (its server metadata), for what this server implements.
EXTENSIONS: Final = ("binary_tensor_data", "model_configuration", "statistics")
REPOSITORY_EXTENSION: Final = "model_repository"
SHARED_MEMORY_EXTENSION: Final = "system_shared_memory"
UNKNOWN_MODEL_PREFIX: Final = "Request for unknown model: "
SIGNATURE_PARAMETER: Final = "signature_name"
_FAILED_TO_LOAD: Final = "failed to load '{}'"
# Request parameters the server itself reads (Triton's, and ours): a model never sees them.
SERVER_PARAMETERS: Final = frozenset(
    {
        SIGNATURE_PARAMETER,
        "binary_data_output",
        "sequence_id",
        "sequence_start",
        "sequence_end",
        "priority",
        "timeout",
    }
)

# Triton's platform names where one exists; our own otherwise.
_PLATFORMS: Final = {"tensorflow": "tensorflow_savedmodel", "onnx": "onnxruntime_onnx"}


class ModelTally(Protocol):
    """One model's inference tally (``app.metrics.ModelStats``)."""

    # Read-only: the plane only reads a tally.
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


def load_config(model_name: str, parameters: object) -> TritonModelConfig | None:
    """The configuration a load request's ``config`` parameter gives, or None without one.

    INVALID_ARGUMENT for parameters that are not an object, for model files in the request
    (``file:...``), and for a ``config`` that is not a model configuration in Triton's JSON.
    """
    if parameters is None:
        return None
    if not isinstance(parameters, Mapping):
        raise invalid_argument("'parameters' must be a JSON object")
    for key in parameters:
        if str(key).startswith("file:"):
            raise invalid_argument(
                f"load parameter '{key}' is not supported: model files come from the model's "
                "folder, not from the request"
            )
    text = parameters.get("config")
    if text is None:
        return None
    if not isinstance(text, str):
        raise invalid_argument(
            f"failed to load '{model_name}': the 'config' parameter must be a string holding "
            "the model configuration in JSON"
        )
    try:
        return parse_triton_config_json(text, "the 'config' parameter")
    except ConfigError as error:
        raise invalid_argument(f"failed to load '{model_name}': {error}") from None


def _tensors(specs: Mapping[str, TensorSpec]) -> tuple[TensorMetadata, ...]:
    return tuple(
        TensorMetadata(
            name=alias,
            datatype=datatype_name(spec.dtype),
            shape=spec.shape if spec.shape is not None else (-1,),
        )
        for alias, spec in specs.items()
    )


def _statistics(name: str, tally: ModelTally | None) -> ModelStatistics:
    if tally is None:
        return ModelStatistics(name=name)
    return ModelStatistics(
        name=name,
        last_inference_ms=tally.last_inference_ms,
        success_count=tally.success_count,
        success_ns=tally.success_ns,
        fail_count=tally.fail_count,
        fail_ns=tally.fail_ns,
        execution_count=tally.batch_count or tally.success_count,
    )


class V2Plane:
    """Every V2 call, protocol-level; no wire types."""

    def __init__(
        self,
        *,
        plane: DataPlane,
        health: Health,
        repository: Repository | None = None,
        stats: StatsSource | None = None,
        shared_memory: SharedMemoryRegistry | None = None,
    ) -> None:
        self.plane = plane
        self.health = health
        self._repository = repository
        self._stats = stats
        self.shared_memory = shared_memory if shared_memory is not None else SharedMemoryRegistry()
        """The system shared memory regions (register, unregister and status go straight
        to it); ``close()`` unmaps them at server stop."""

    def close(self) -> None:
        """Unmap every shared memory region (at server stop, after the frontends)."""
        self.shared_memory.close()

    # --- server ------------------------------------------------------------------------------

    def server_metadata(self) -> ServerMetadata:
        extensions: tuple[str, ...] = (*EXTENSIONS, SHARED_MEMORY_EXTENSION)
        if self._repository is not None:
            extensions = (*extensions, REPOSITORY_EXTENSION)
        return ServerMetadata(name=SERVER_NAME, version=SERVER_VERSION, extensions=extensions)

    def live(self) -> bool:
        return self.health.live()

    def readiness(self) -> Readiness:
        """Server readiness with its reasons (``dataplane.readiness``)."""
        return self.health.readiness()

    # --- models --------------------------------------------------------------------------------

    def model_available(self, ref: ModelRef) -> bool:
        """True when the version ``ref`` names is AVAILABLE; False otherwise, even unknown.

        A version string that is no label of a known model is INVALID_ARGUMENT (module doc).
        """
        if self.health.model_ready(ref):
            return True
        self._check_label(ref)
        return False

    def model_ready(self, ref: ModelRef) -> bool:
        """True when AVAILABLE; NOT_FOUND for a model that is neither configured nor known;
        INVALID_ARGUMENT for a version string that is no label of the model."""
        if self.health.model_ready(ref):
            return True
        self._check_label(ref)
        if not self.health.is_configured(ref.name):
            try:
                self.plane.statuses(ModelRef(name=ref.name))
            except ServingError:
                raise _unknown_model(ref.name) from None
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

    def model_config(self, ref: ModelRef) -> ModelConfig:
        servable = self.resolve(ref)
        signature = servable.signature("")
        batching = self.plane.batching_for(servable)
        max_batch_size = batching.max_batch_size if batching is not None else 0

        def dims(tensors: tuple[TensorMetadata, ...]) -> tuple[TensorMetadata, ...]:
            if not max_batch_size:
                return tensors
            return tuple(
                TensorMetadata(name=t.name, datatype=t.datatype, shape=t.shape[1:]) for t in tensors
            )

        return ModelConfig(
            name=servable.model_name,
            platform=_PLATFORMS.get(servable.platform, servable.platform),
            max_batch_size=max_batch_size,
            inputs=dims(_tensors(signature.inputs)),
            outputs=dims(_tensors(signature.outputs)),
            triton_document=(
                triton_model_config(servable) if servable.triton_config is not None else None
            ),
        )

    def statistics(self, model_name: str = "") -> tuple[ModelStatistics, ...]:
        """Every model's tally (configured ones first, in config order), or one model's.

        One model that is neither configured nor known is NOT_FOUND.
        """
        tallies = dict(self._stats()) if self._stats is not None else {}
        if not model_name:
            names = [
                *self.health.configured(),
                *sorted(n for n in tallies if not self.health.is_configured(n)),
            ]
            return tuple(_statistics(name, tallies.get(name)) for name in names)
        if model_name not in tallies:
            self.model_ready(ModelRef(name=model_name))  # NOT_FOUND for an unknown model
        return (_statistics(model_name, tallies.get(model_name)),)

    # --- inference -----------------------------------------------------------------------------

    async def infer(
        self, ref: ModelRef, request: InferRequest, timeout_seconds: float | None
    ) -> InferResult:
        output_memory = {
            output.name: reference
            for output in request.outputs
            if (reference := shared_memory_reference(output.name, output.parameters)) is not None
        }

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
                # Read from shared memory only once the model and the input are known.
                arrays[tensor.name] = self._input_array(tensor)
            for reference in output_memory.values():  # a bad window fails before the model runs
                self.shared_memory.check(reference.region, reference.offset, reference.byte_size)
            return arrays

        signature_name = str(request.parameters.get(SIGNATURE_PARAMETER) or "")
        try:
            result = await self.plane.predict(
                ref,
                signature_name,
                decode,
                tuple(o.name for o in request.outputs),
                timeout_seconds,
                parameters=model_parameters(request.parameters),
            )
        except ServingError as error:
            raise self._reworded(error, ref) from None
        specs = result.signature.outputs
        outputs: list[InferOutput] = []
        for name, value in result.outputs.items():
            array = np.asarray(value)
            reference = output_memory.get(name)
            if reference is not None:
                self._write_output(name, array, reference)
            outputs.append(
                InferOutput(
                    name=name,
                    array=array,
                    dtype=specs[name].dtype,
                    in_shared_memory=reference is not None,
                )
            )
        return InferResult(
            model_name=result.servable.model_name,
            model_version=str(result.servable.version),
            outputs=tuple(outputs),
        )

    def _input_array(self, tensor: InputTensor) -> np.ndarray:
        """The input's array: as decoded, or copied out of the shared memory it names.

        The bytes are copied (Triton reads them in place) so that the region's view is
        released before the request runs: an unregister or a client's next write cannot
        reach a request already under way.
        """
        if tensor.array is not None:
            return tensor.array
        reference = shared_memory_reference(tensor.name, tensor.parameters)
        if reference is None:  # the decoders only leave out data for a region
            raise invalid_argument(f"input '{tensor.name}' has no data")
        dtype = datatype_dtype(tensor.datatype)
        if dtype is not DType.DT_STRING:
            expected = math.prod(tensor.shape) * NUMPY_DTYPES[dtype].itemsize
            if reference.byte_size != expected:
                raise invalid_argument(
                    f"input '{tensor.name}': shared memory byte size {reference.byte_size} "
                    f"does not match shape {list(tensor.shape)} of {tensor.datatype}, which "
                    f"needs {expected} bytes"
                )
        with self.shared_memory.read(
            reference.region, reference.offset, reference.byte_size
        ) as view:
            array = array_from_binary(tensor.name, tensor.datatype, tensor.shape, view)
            copied = array.copy()
            del array  # its buffer is the view, which the with block releases
        return copied

    def _write_output(self, name: str, array: np.ndarray, reference: SharedMemoryReference) -> None:
        """Write an output's binary form into the region its request named."""
        data = array_to_binary(array)
        if len(data) > reference.byte_size:
            raise invalid_argument(
                f"shared memory size specified with the request for output '{name}' "
                f"({reference.byte_size} bytes) should be at least {len(data)} bytes to hold "
                "the results"
            )
        self.shared_memory.write(reference.region, reference.offset, data)

    # --- repository ------------------------------------------------------------------------

    @property
    def repository(self) -> Repository:
        if self._repository is None:
            raise ServingError(Code.UNIMPLEMENTED, "the model repository extension is not enabled")
        return self._repository

    def repository_index(self, *, ready_only: bool = False) -> list[IndexEntry]:
        return self.repository.index(ready_only=ready_only)

    async def load_model(
        self, model_name: str, parameters: object, timeout_seconds: float | None
    ) -> None:
        """Load (or rescan) a configured model; ``parameters`` as the request sent them."""
        repository = self.repository
        config = load_config(model_name, parameters)
        try:
            await repository.load(model_name, timeout_seconds, config)
        except ServingError as error:
            if error.message.startswith(_FAILED_TO_LOAD.format(model_name)):
                raise
            raise ServingError(
                error.code, f"{_FAILED_TO_LOAD.format(model_name)}: {error.message}", error.reason
            ) from None

    async def unload_model(self, model_name: str, timeout_seconds: float | None) -> None:
        await self.repository.unload(model_name, timeout_seconds)

    # --- resolution ------------------------------------------------------------------------

    def resolve(self, ref: ModelRef) -> Servable:
        """The servable ``ref`` names, with V2's errors (see the module doc)."""
        try:
            return self.plane.resolve(ref)
        except ServingError as error:
            raise self._reworded(error, ref) from None

    def _reworded(self, error: ServingError, ref: ModelRef) -> ServingError:
        """V2's code and words for a resolution error, chosen by its reason (module doc)."""
        if error.reason is Reason.UNKNOWN_LABEL:
            return invalid_argument(_bad_version_string(ref.label or ""), error.reason)
        if error.code is not Code.NOT_FOUND or error.reason is Reason.GENERIC:
            return error  # not a resolution error (an unknown shared memory region, say)
        if ref.version is None and ref.label is None and self.health.is_configured(ref.name):
            return unavailable(
                f"{UNKNOWN_MODEL_PREFIX}'{ref.name}' has no available versions",
                Reason.NO_AVAILABLE_VERSION,
            )
        if ref.version is not None:
            try:
                statuses = self.plane.statuses(ref)
            except ServingError:
                statuses = []
            if statuses and statuses[0].state is not VersionState.AVAILABLE:
                return unavailable(
                    f"{UNKNOWN_MODEL_PREFIX}'{ref.name}' version {ref.version} is not at ready "
                    f"state ({statuses[0].state.name})",
                    Reason.VERSION_NOT_READY,
                )
            if statuses or self.health.is_configured(ref.name) or self._known(ref.name):
                return not_found(
                    f"{UNKNOWN_MODEL_PREFIX}'{ref.name}' version {ref.version} is not found",
                    Reason.UNKNOWN_VERSION,
                )
        return _unknown_model(ref.name)

    def _check_label(self, ref: ModelRef) -> None:
        """INVALID_ARGUMENT when ``ref`` names a label the (known) model does not have."""
        if ref.label is None:
            return
        try:
            self.plane.resolve(ref)
        except ServingError as error:
            if error.reason is Reason.UNKNOWN_LABEL:
                raise invalid_argument(_bad_version_string(ref.label), error.reason) from None

    def _known(self, model_name: str) -> bool:
        try:
            self.plane.statuses(ModelRef(name=model_name))
        except ServingError:
            return False
        return True


def model_parameters(parameters: Mapping[str, object]) -> dict[str, object]:
    """A request's parameters that are the model's: all but ``SERVER_PARAMETERS``."""
    return {k: v for k, v in parameters.items() if k not in SERVER_PARAMETERS}


def _unknown_model(model_name: str) -> ServingError:
    """Triton's NOT_FOUND for a model it does not know."""
    return not_found(f"{UNKNOWN_MODEL_PREFIX}'{model_name}' is not found", Reason.UNKNOWN_MODEL)


def _bad_version_string(version: str) -> str:
    """Triton's ``GetModelVersionFromString`` message for a version string it cannot use."""
    if version.startswith("-") and version[1:].isdigit():
        return (
            f"invalid model version specified '{version}' , version should be an integral value > 0"
        )
    return (
        f"failed to get model version from specified version string '{version}' "
        "(details: stol), version should be an integral value > 0"
    )
