"""Loader and servable for ONNX models (``model_platform: "onnx"``), run with onnxruntime.

A version folder holds ``model.onnx``. Each version gets its own
``onnxruntime.InferenceSession`` (CUDA when this onnxruntime build has it, else CPU),
with the thread counts of ``OnnxOptions`` (0 lets onnxruntime choose). Sessions are
thread-safe, so ``run`` may be called from several executor threads at once.

Signatures are derived from the graph itself: one signature, ``serving_default``, method
``tensorflow/serving/predict``, whose inputs and outputs are the graph's inputs and
outputs under their ONNX names. A free (symbolic or unnamed) dimension becomes -1. Element
types map to ``DType`` (``tensor(float)`` -> DT_FLOAT, ``tensor(string)`` -> DT_STRING, ...);
an input of another type (a sequence, a map, bfloat16) fails the load, naming it, and an
output of another type (skl2onnx's ZipMap ``seq(map(...))``) is left out of the signature
with a warning: convert with ``zipmap=False`` to get probabilities as a tensor.

A Triton ``config.pbtxt`` in the model folder (a ``--model_repository`` model) is checked
against the graph (names, types, dims; the load fails naming the first difference), and
its ``dynamic_batching`` gives the model its own batching settings.

Errors: a missing, corrupt or unsupported file (an opset this onnxruntime does not know)
raises from ``load()``, so the version ends in the error state with onnxruntime's reason.
onnxruntime's INVALID_ARGUMENT and FAIL at run time (a wrong rank or dimension) are the
client's INVALID_ARGUMENT; anything else propagates and is reported as INTERNAL.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from protocol.dtypes import DType
from protocol.signatures import DEFAULT_SIGNATURE, PREDICT_METHOD, Signature, TensorSpec
from protocol.status import invalid_argument
from servables.loader import VersionLoader
from servables.servable import Servable
from servables.triton_signature import (
    check_against_artifact,
    signature_from_triton,
    triton_config_beside,
)
from servables.version_folder import VersionExtras, finish_load, require_artifact

log = logging.getLogger(__name__)

PLATFORM: Final = "onnx"

ONNX_DTYPES: Final[Mapping[str, DType]] = {
    "tensor(float)": DType.DT_FLOAT,
    "tensor(double)": DType.DT_DOUBLE,
    "tensor(float16)": DType.DT_HALF,
    "tensor(int8)": DType.DT_INT8,
    "tensor(int16)": DType.DT_INT16,
    "tensor(int32)": DType.DT_INT32,
    "tensor(int64)": DType.DT_INT64,
    "tensor(uint8)": DType.DT_UINT8,
    "tensor(uint16)": DType.DT_UINT16,
    "tensor(uint32)": DType.DT_UINT32,
    "tensor(uint64)": DType.DT_UINT64,
    "tensor(bool)": DType.DT_BOOL,
    "tensor(string)": DType.DT_STRING,
}

# onnxruntime's errors that mean "the caller's tensors do not fit the graph".
_CLIENT_ERRORS: Final = (ort_state.InvalidArgument, ort_state.Fail)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OnnxOptions:
    """How every ONNX version's session is built; 0 threads lets onnxruntime choose."""

    intra_op_threads: int = 0
    inter_op_threads: int = 0
    extras: VersionExtras = dataclasses.field(default_factory=VersionExtras)


def _shape(dims: Sequence[object] | None) -> tuple[int, ...] | None:
    if dims is None:
        return None
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in dims)


def signature_from_session(session: ort.InferenceSession) -> Signature:
    """The ``serving_default`` signature of a session's graph (see the module docstring)."""
    inputs: dict[str, TensorSpec] = {}
    for node in session.get_inputs():
        dtype = ONNX_DTYPES.get(node.type)
        if dtype is None:
            raise ValueError(
                f"ONNX input {node.name!r} has type {node.type}, which no API can carry"
            )
        inputs[node.name] = TensorSpec(
            alias=node.name, tensor_name=node.name, dtype=dtype, shape=_shape(node.shape)
        )
    outputs: dict[str, TensorSpec] = {}
    for node in session.get_outputs():
        dtype = ONNX_DTYPES.get(node.type)
        if dtype is None:
            log.warning(
                "ONNX output %r has type %s and is left out of the signature", node.name, node.type
            )
            continue
        outputs[node.name] = TensorSpec(
            alias=node.name, tensor_name=node.name, dtype=dtype, shape=_shape(node.shape)
        )
    if not outputs:
        raise ValueError("the ONNX graph has no tensor output")
    return Signature(
        name=DEFAULT_SIGNATURE, method_name=PREDICT_METHOD, inputs=inputs, outputs=outputs
    )


class OnnxServable(Servable):
    """One ONNX version backed by its own ``InferenceSession``."""

    platform = PLATFORM

    def __init__(self, *, model_name: str, version: int, session: ort.InferenceSession) -> None:
        self.model_name = model_name
        self.version = version
        self._session: ort.InferenceSession | None = session
        signature = signature_from_session(session)
        self.signatures = {DEFAULT_SIGNATURE: signature}
        self._string_inputs = frozenset(
            alias for alias, spec in signature.inputs.items() if spec.dtype == DType.DT_STRING
        )

    def run(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
    ) -> dict[str, np.ndarray]:
        session = self._session
        if session is None:
            raise RuntimeError("ONNX servable used after unload")
        outputs = list(output_names) or sorted(signature.outputs)
        feed: dict[str, Any] = {}
        for alias, array in inputs.items():
            if alias in self._string_inputs:  # onnxruntime wants str, we hold bytes
                array = np.vectorize(_text, otypes=[object])(array) if array.size else array
            feed[signature.inputs[alias].tensor_name] = array
        try:
            results = session.run([signature.outputs[n].tensor_name for n in outputs], feed)
        except _CLIENT_ERRORS as error:
            raise invalid_argument(str(error).strip()) from error
        return {name: np.asarray(value) for name, value in zip(outputs, results, strict=True)}

    def unload(self) -> None:
        self._session = None  # the session frees its memory when the last reference goes


def _text(item: object) -> str:
    return item.decode("utf-8") if isinstance(item, bytes) else str(item)


def _providers() -> list[str]:
    available = set(ort.get_available_providers())
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class OnnxLoader(VersionLoader[OnnxOptions]):
    """Loads ``model.onnx`` from one version folder."""

    def load(self) -> OnnxServable:
        file = require_artifact(PLATFORM, self.path)
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = self._options.intra_op_threads
        session_options.inter_op_num_threads = self._options.inter_op_threads
        session = ort.InferenceSession(file, sess_options=session_options, providers=_providers())
        servable = OnnxServable(model_name=self.model_name, version=self.version, session=session)
        config = triton_config_beside(self.path)
        if config is not None:
            if config.inputs or config.outputs:
                declared = signature_from_triton(config)
                check_against_artifact(declared, servable.signatures[DEFAULT_SIGNATURE], file)
            servable.batching = config.batching
            servable.triton_config = config
        finish_load(servable, self.path, self._options.extras)
        return servable
