"""Loader and servable for PyTorch models (``model_platform: "pytorch"``), run with torch on CPU.

A version folder holds one of:

- ``model.pt``: TorchScript (``torch.jit.save``), run with ``torch.jit.load``;
- ``model.pt2``: a ``torch.export`` ExportedProgram (``torch.export.save``) or an
  AOTInductor package (``torch._inductor.aoti_compile_and_package``). Both are PT2 zip
  archives; a package holding ``data/aotinductor/`` is AOTInductor, any other is an
  ExportedProgram.

Signatures (one, ``serving_default``, method ``tensorflow/serving/predict``):

- A ``config.pbtxt`` in the model folder (Triton's, beside the version folders) names
  the inputs and outputs, their types and dims; it is checked against the artifact where
  the artifact knows them. Names follow Triton's libtorch backend: ``<name>__<index>``
  (``INPUT__0``, ``OUTPUT__0``) is the tensor at that position; an input named like a
  ``forward`` argument is that argument; otherwise inputs are taken in config order and
  outputs in return order.
- Without one: an ExportedProgram gives its user inputs and outputs with their names,
  dtypes and shapes (a dynamic dimension is -1). TorchScript gives the ``forward``
  argument names, and outputs ``output_0``, ``output_1``, ... by its return type; it
  carries no element types, so they are DT_FLOAT (give a ``config.pbtxt`` for others).
  An AOTInductor package carries neither names nor types, so it needs a ``config.pbtxt``.

Threads: ``TorchOptions.intra_op_threads`` sets ``torch.set_num_threads`` and
``inter_op_threads`` ``torch.set_num_interop_threads`` (process-wide, applied by the first
torch load; 0 lets torch choose). Calls run under ``torch.inference_mode()`` and may run
from several executor threads at once. Batching: the batcher concatenates requests along
the first dimension as for every platform; a ``config.pbtxt`` with ``dynamic_batching``
gives the model its own batching settings.

Errors: a missing or corrupt file raises from ``load()`` with torch's reason. At run time
torch's ``RuntimeError`` for a tensor that does not fit (wrong rank or size) is
INVALID_ARGUMENT naming torch's reason.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import zipfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import torch

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

PLATFORM: Final = "pytorch"
_INDEXED_NAME: Final = re.compile(r"^.+__(\d+)$")
_THREADS_LOCK = threading.Lock()
_threads_set = False

TORCH_DTYPES: Final[Mapping[torch.dtype, DType]] = {
    torch.float32: DType.DT_FLOAT,
    torch.float64: DType.DT_DOUBLE,
    torch.float16: DType.DT_HALF,
    torch.bfloat16: DType.DT_BFLOAT16,
    torch.int8: DType.DT_INT8,
    torch.int16: DType.DT_INT16,
    torch.int32: DType.DT_INT32,
    torch.int64: DType.DT_INT64,
    torch.uint8: DType.DT_UINT8,
    torch.bool: DType.DT_BOOL,
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TorchOptions:
    """How every PyTorch version runs; 0 threads lets torch choose."""

    intra_op_threads: int = 0
    inter_op_threads: int = 0
    extras: VersionExtras = dataclasses.field(default_factory=VersionExtras)


def _set_threads(options: TorchOptions) -> None:
    global _threads_set
    with _THREADS_LOCK:
        if _threads_set:
            return
        _threads_set = True
        if options.intra_op_threads:
            torch.set_num_threads(options.intra_op_threads)
        if options.inter_op_threads:
            try:
                torch.set_num_interop_threads(options.inter_op_threads)
            except RuntimeError as error:  # torch allows it once, before parallel work
                log.warning("torch inter-op threads left as they are: %s", error)


def is_aoti_package(path: str) -> bool:
    """Whether the PT2 archive at ``path`` is an AOTInductor package (see the module docstring)."""
    with zipfile.ZipFile(path) as archive:
        return any("data/aotinductor/" in name for name in archive.namelist())


def _shape(shape: Sequence[object]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else -1 for d in shape)


def _spec(name: str, value: Any) -> TensorSpec:
    element = getattr(value, "dtype", None)
    dtype = TORCH_DTYPES.get(element) if isinstance(element, torch.dtype) else None
    if dtype is None:
        raise ValueError(
            f"tensor '{name}' has type {getattr(value, 'dtype', value)!r}, which no API can carry"
        )
    return TensorSpec(alias=name, tensor_name=name, dtype=dtype, shape=_shape(value.shape))


def exported_program_signature(program: Any) -> Signature:
    """The signature of an ExportedProgram's user inputs and outputs (names, dtypes, shapes)."""
    from torch.export.graph_signature import InputKind, OutputKind

    nodes = {node.name: node for node in program.graph.nodes}
    inputs: dict[str, TensorSpec] = {}
    for spec in program.graph_signature.input_specs:
        if spec.kind == InputKind.USER_INPUT:
            inputs[spec.arg.name] = _spec(spec.arg.name, nodes[spec.arg.name].meta["val"])
    output_node = next(node for node in program.graph.nodes if node.op == "output")
    values = {getattr(arg, "name", None): arg for arg in output_node.args[0]}
    outputs: dict[str, TensorSpec] = {}
    for spec in program.graph_signature.output_specs:
        if spec.kind == OutputKind.USER_OUTPUT:
            name = spec.arg.name
            outputs[name] = _spec(name, values[name].meta["val"])
    return Signature(
        name=DEFAULT_SIGNATURE, method_name=PREDICT_METHOD, inputs=inputs, outputs=outputs
    )


def torchscript_signature(module: Any) -> Signature:
    """Names from ``forward``'s schema; DT_FLOAT and unknown shapes (TorchScript has no types)."""
    arguments = [a.name for a in module.forward.schema.arguments[1:]]  # [0] is self
    returns = str(module.forward.schema.returns[0].type)
    count = returns.count("Tensor") if returns.startswith("Tuple") else 1

    def float_spec(name: str) -> TensorSpec:
        return TensorSpec(alias=name, tensor_name=name, dtype=DType.DT_FLOAT, shape=None)

    return Signature(
        name=DEFAULT_SIGNATURE,
        method_name=PREDICT_METHOD,
        inputs={name: float_spec(name) for name in arguments},
        outputs={f"output_{i}": float_spec(f"output_{i}") for i in range(count)},
    )


def _positions(names: Sequence[str], known: Sequence[str]) -> dict[str, int]:
    """Each name's position: ``<name>__<i>``, else its place in ``known``, else its own order."""
    positions: dict[str, int] = {}
    for order, name in enumerate(names):
        match = _INDEXED_NAME.match(name)
        if match:
            positions[name] = int(match.group(1))
        elif name in known:
            positions[name] = list(known).index(name)
        else:
            positions[name] = order
    return positions


class TorchServable(Servable):
    """One PyTorch version: a callable taking positional tensors, returning tensor(s)."""

    platform = PLATFORM

    def __init__(
        self,
        *,
        model_name: str,
        version: int,
        call: Callable[..., Any],
        signature: Signature,
        argument_names: Sequence[str],
        output_names: Sequence[str],
    ) -> None:
        self.model_name = model_name
        self.version = version
        self._call: Callable[..., Any] | None = call
        self.signatures = {DEFAULT_SIGNATURE: signature}
        self._input_positions = _positions(list(signature.inputs), argument_names)
        self._output_positions = _positions(list(signature.outputs), output_names)

    def run(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
    ) -> dict[str, np.ndarray]:
        call = self._call
        if call is None:
            raise RuntimeError("PyTorch servable used after unload")
        arguments: list[Any] = [None] * len(self._input_positions)
        for name, array in inputs.items():
            arguments[self._input_positions[name]] = torch.from_numpy(np.ascontiguousarray(array))
        try:
            with torch.inference_mode():
                result = call(*arguments)
        # An ExportedProgram checks its shape guards with AssertionError.
        except (RuntimeError, TypeError, ValueError, IndexError, AssertionError) as error:
            raise invalid_argument(f"PyTorch model failed on these inputs: {error}") from error
        results = list(result) if isinstance(result, (tuple, list)) else [result]
        wanted = list(output_names) or list(signature.outputs)
        outputs: dict[str, np.ndarray] = {}
        for name in wanted:
            value = results[self._output_positions[name]]
            outputs[name] = value.detach().cpu().numpy()
        return outputs

    def unload(self) -> None:
        self._call = None


class TorchLoader(VersionLoader[TorchOptions]):
    """Loads ``model.pt`` or ``model.pt2`` from one version folder."""

    def load(self) -> TorchServable:
        _set_threads(self._options)
        file = require_artifact(PLATFORM, self.path)
        config = triton_config_beside(self.path)
        declared = signature_from_triton(config) if config is not None and config.inputs else None
        artifact: Signature | None
        if file.endswith(".pt"):
            module = torch.jit.load(file, map_location="cpu").eval()  # type: ignore[no-untyped-call]
            call: Callable[..., Any] = module
            artifact = torchscript_signature(module)
            arguments = list(artifact.inputs)
            artifact = None if declared is not None else artifact  # it has no types to check
        elif is_aoti_package(file):
            # torch documents AOTInductor under torch._inductor (no public alias in 2.13).
            call = torch._inductor.aoti_load_package(file)  # noqa: SLF001
            artifact, arguments = None, []
            if declared is None:
                raise ValueError(
                    f"{file} is an AOTInductor package, which carries no tensor names or "
                    f"types: put a config.pbtxt in {os.path.dirname(self.path)}"
                )
        else:
            program = torch.export.load(file)
            call = program.module()
            artifact = exported_program_signature(program)
            arguments = list(artifact.inputs)
        if declared is not None and artifact is not None:
            check_against_artifact(declared, _renamed(artifact, declared), file)
        signature = declared or artifact
        assert signature is not None
        servable = TorchServable(
            model_name=self.model_name,
            version=self.version,
            call=call,
            signature=signature,
            argument_names=arguments,
            output_names=list(artifact.outputs) if artifact is not None else [],
        )
        servable.triton_config = config
        if config is not None and config.batching is not None:
            servable.batching = config.batching
        finish_load(servable, self.path, self._options.extras)
        return servable


def _renamed(artifact: Signature, declared: Signature) -> Signature:
    """``artifact`` under ``declared``'s names, matched by position, so the two can be compared."""

    def rename(
        found: Mapping[str, TensorSpec], wanted: Mapping[str, TensorSpec]
    ) -> dict[str, TensorSpec]:
        positions = _positions(list(wanted), list(found))
        specs = list(found.values())
        return {
            name: dataclasses.replace(specs[i], alias=name, tensor_name=name)
            for name, i in positions.items()
            if i < len(specs)
        }

    return dataclasses.replace(
        artifact,
        inputs=rename(artifact.inputs, declared.inputs),
        outputs=rename(artifact.outputs, declared.outputs),
    )
