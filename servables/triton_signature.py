"""A Triton ``config.pbtxt`` beside a model's versions, as our ``Signature`` and settings.

Triton keeps a model's configuration in ``<model>/config.pbtxt`` next to its numbered
version folders; a ``models.config`` base path may hold one too. A loader that needs
what its artifact does not carry (TorchScript's dtypes, an AOTInductor package's names,
a Python model's tensors) calls ``triton_config_beside(version_path)``.

- ``CONFIG_OVERRIDES`` holds the configurations a V2 repository ``load`` request gave
  (its ``config`` parameter), by model folder: while one is set, ``triton_config_beside``
  answers it instead of that folder's ``config.pbtxt``, for every version loaded from
  then on. ``dataplane.repository`` sets and clears them (and reloads the model); the
  loaders that read a configuration (``READS_TRITON_CONFIG``: ONNX, PyTorch, Python) see
  them without being told. It is process-wide because the loaders' factories take only
  a model name, version and path; it is locked, since loads run in executor threads.

- ``signature_from_triton`` is the one ``serving_default`` predict signature of a
  configuration: its inputs and outputs under their ``config.pbtxt`` names, ``TYPE_*``
  mapped to ``DType`` (``TYPE_STRING`` is DT_STRING), and a leading -1 batch dimension
  when ``max_batch_size`` > 0.
- ``triton_model_config(servable)`` is Triton's JSON shape of ``model_config`` (what
  ``GET /v2/models/<m>/config`` answers): the servable's ``config.pbtxt`` when it has one
  (its inputs or outputs, when it lists none, completed from the servable's signature,
  without the batch dimension when ``max_batch_size`` > 0), else one derived from its ``serving_default`` signature (``max_batch_size`` 0, dims the
  full shape with -1 for a free dimension, Triton's platform name for ours).
- ``check_against_artifact`` fails a load whose configuration contradicts the artifact:
  a name the artifact lacks, another element type, or another rank or fixed dimension.

Nothing here imports a machine-learning framework.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any, Final

from config.triton_model_config import (
    CONFIG_FILE,
    TritonModelConfig,
    TritonTensor,
    model_config_json,
    read_triton_config,
)
from protocol.dtypes import DType, dtype_name
from protocol.signatures import DEFAULT_SIGNATURE, PREDICT_METHOD, Signature, TensorSpec
from servables.servable import Servable

TRITON_DTYPES: Final[Mapping[str, DType]] = {
    "TYPE_BOOL": DType.DT_BOOL,
    "TYPE_UINT8": DType.DT_UINT8,
    "TYPE_UINT16": DType.DT_UINT16,
    "TYPE_UINT32": DType.DT_UINT32,
    "TYPE_UINT64": DType.DT_UINT64,
    "TYPE_INT8": DType.DT_INT8,
    "TYPE_INT16": DType.DT_INT16,
    "TYPE_INT32": DType.DT_INT32,
    "TYPE_INT64": DType.DT_INT64,
    "TYPE_FP16": DType.DT_HALF,
    "TYPE_FP32": DType.DT_FLOAT,
    "TYPE_FP64": DType.DT_DOUBLE,
    "TYPE_STRING": DType.DT_STRING,
    "TYPE_BF16": DType.DT_BFLOAT16,
}
TRITON_TYPE_NAMES: Final[Mapping[DType, str]] = {v: k for k, v in TRITON_DTYPES.items()}
# Our platform -> Triton's (platform, backend) names for it.
TRITON_NAMES: Final[Mapping[str, tuple[str, str]]] = {
    "onnx": ("onnxruntime_onnx", "onnxruntime"),
    "tensorflow": ("tensorflow_savedmodel", "tensorflow"),
    "pytorch": ("pytorch_libtorch", "pytorch"),
    "python": ("", "python"),
}


def _triton_type(dtype: int) -> str:
    try:
        return TRITON_TYPE_NAMES.get(DType(dtype), "TYPE_INVALID")
    except ValueError:  # a DataType no API carries (a resource)
        return "TYPE_INVALID"


def _tensors(specs: Mapping[str, TensorSpec], batched: bool) -> list[dict[str, Any]]:
    def dims(spec: TensorSpec) -> list[int]:
        if spec.shape is None:
            return [-1]
        return list(spec.shape[1:] if batched and spec.shape else spec.shape)

    return [
        {"name": name, "data_type": _triton_type(spec.dtype), "dims": dims(spec)}
        for name, spec in specs.items()
    ]


def triton_model_config(servable: Servable) -> dict[str, Any]:
    """Triton's JSON ``model_config`` of ``servable`` (see the module docstring)."""
    platform, backend = TRITON_NAMES.get(servable.platform, ("", servable.platform))
    signature = servable.signatures.get(DEFAULT_SIGNATURE) or next(
        iter(servable.signatures.values())
    )
    if servable.triton_config is not None:
        rendered = model_config_json(servable.triton_config.proto)
        rendered["name"] = servable.model_name
        if not rendered.get("platform") and not rendered.get("backend"):
            rendered["platform"], rendered["backend"] = platform, backend
        batched = servable.triton_config.max_batch_size > 0
        for key, specs in (("input", signature.inputs), ("output", signature.outputs)):
            if not rendered.get(key):  # completed from the artifact, as Triton's auto-complete
                rendered[key] = _tensors(specs, batched)
        return rendered

    return {
        "name": servable.model_name,
        "platform": platform,
        "backend": backend,
        "max_batch_size": 0,
        "input": _tensors(signature.inputs, batched=False),
        "output": _tensors(signature.outputs, batched=False),
    }


# Our platforms whose loaders read a Triton configuration (``triton_config_beside``).
READS_TRITON_CONFIG: Final = frozenset({"onnx", "pytorch", "python"})


class ConfigOverrides:
    """Configurations that take the place of a model folder's ``config.pbtxt``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_folder: dict[str, TritonModelConfig] = {}

    def get(self, model_folder: str) -> TritonModelConfig | None:
        with self._lock:
            return self._by_folder.get(os.path.normpath(model_folder))

    def set(self, model_folder: str, config: TritonModelConfig | None) -> None:
        """Override ``model_folder``'s ``config.pbtxt`` with ``config``; None clears it."""
        with self._lock:
            if config is None:
                self._by_folder.pop(os.path.normpath(model_folder), None)
            else:
                self._by_folder[os.path.normpath(model_folder)] = config


CONFIG_OVERRIDES: Final = ConfigOverrides()


def triton_config_beside(
    version_path: str, overrides: ConfigOverrides = CONFIG_OVERRIDES
) -> TritonModelConfig | None:
    """The configuration of the model folder that holds ``version_path``: its override
    (``overrides``), else its ``config.pbtxt``, else None."""
    folder = os.path.dirname(os.path.normpath(version_path))
    override = overrides.get(folder)
    if override is not None:
        return override
    path = os.path.join(folder, CONFIG_FILE)
    return read_triton_config(path) if os.path.isfile(path) else None


def _spec(tensor: TritonTensor, batched: bool) -> TensorSpec:
    dtype = TRITON_DTYPES.get(tensor.data_type)
    if dtype is None:
        raise ValueError(f"tensor '{tensor.name}': data type {tensor.data_type} is not supported")
    shape = ((-1,) if batched else ()) + tensor.dims
    return TensorSpec(alias=tensor.name, tensor_name=tensor.name, dtype=dtype, shape=shape)


def signature_from_triton(config: TritonModelConfig) -> Signature:
    """The ``serving_default`` signature ``config`` declares (see the module docstring)."""
    batched = config.max_batch_size > 0
    return Signature(
        name=DEFAULT_SIGNATURE,
        method_name=PREDICT_METHOD,
        inputs={t.name: _spec(t, batched) for t in config.inputs},
        outputs={t.name: _spec(t, batched) for t in config.outputs},
    )


def _compatible(declared: tuple[int, ...] | None, found: tuple[int, ...] | None) -> bool:
    if declared is None or found is None:
        return True
    if len(declared) != len(found):
        return False
    return all(d == f or d == -1 or f == -1 for d, f in zip(declared, found, strict=True))


def check_against_artifact(declared: Signature, artifact: Signature, source: str) -> None:
    """Raise ``ValueError`` naming the tensor where ``declared`` contradicts ``artifact``."""
    for kind, mine, theirs in (
        ("input", declared.inputs, artifact.inputs),
        ("output", declared.outputs, artifact.outputs),
    ):
        for name, spec in mine.items():
            found = theirs.get(name)
            if found is None:
                raise ValueError(
                    f"{source}: {kind} '{name}' is not in the model (it has {sorted(theirs)})"
                )
            if found.dtype != spec.dtype:
                raise ValueError(
                    f"{source}: {kind} '{name}' is {dtype_name(spec.dtype)} in the configuration "
                    f"but {dtype_name(found.dtype)} in the model"
                )
            if not _compatible(spec.shape, found.shape):
                raise ValueError(
                    f"{source}: {kind} '{name}' has shape {list(spec.shape or ())} in the "
                    f"configuration but {list(found.shape or ())} in the model"
                )
