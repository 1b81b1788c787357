"""``triton_python_backend_utils``: Triton's Python-backend interface, for models run here.

A ``model.py`` written for Triton does ``import triton_python_backend_utils as pb_utils``;
the Python platform makes that name resolve to this module before it runs the file. What
is here has Triton's names, arguments and behaviour, so such a model runs unchanged:

- ``Tensor(name, array)``: ``name()``, ``as_numpy()``, ``shape()``, ``is_cpu()`` (always
  true), ``to_dlpack()`` / ``Tensor.from_dlpack(name, capsule)``. BYTES tensors are numpy
  ``object`` arrays of ``bytes``, as in Triton.
- ``InferenceRequest``: what ``execute(requests)`` receives (``inputs()``,
  ``requested_output_names()``, ``parameters()`` as a JSON string, ``model_name``...), and
  what a model builds to call another model of this server: ``exec()`` blocks,
  ``async_exec()`` is awaitable. Both return an ``InferenceResponse`` that carries the
  other call's error (``has_error()``) instead of raising, as Triton's do.
- ``InferenceResponse(output_tensors, error=None)``, ``TritonError(message, code)`` and
  ``TritonModelException``.
- ``get_input_tensor_by_name``, ``get_output_tensor_by_name``, ``get_input_config_by_name``,
  ``get_output_config_by_name``, ``triton_string_to_numpy``, ``numpy_to_triton_type``,
  ``triton_to_numpy_type`` and ``ModelConfig`` (what ``auto_complete_config`` receives).

The model caller that ``exec()`` uses is set per call by the Python servable
(``calling_models_with``), in a context variable: two servers in one process never share
it, and a request built outside a model's call fails with UNAVAILABLE.

Not here (Triton features this server does not run): decoupled models and response
senders, GPU tensors, the model-loading API (``load_model``), and stub logging levels
(``Logger`` prints through the ``logging`` module).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import numpy as np

from protocol.status import Code, ServingError
from servables.model_caller import ModelCaller

_caller: contextvars.ContextVar[ModelCaller | None] = contextvars.ContextVar(
    "triton_model_caller", default=None
)
_timeout: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "triton_request_timeout", default=None
)

_NUMPY_TYPES: Final[Mapping[str, Any]] = {
    "TYPE_BOOL": np.bool_,
    "TYPE_UINT8": np.uint8,
    "TYPE_UINT16": np.uint16,
    "TYPE_UINT32": np.uint32,
    "TYPE_UINT64": np.uint64,
    "TYPE_INT8": np.int8,
    "TYPE_INT16": np.int16,
    "TYPE_INT32": np.int32,
    "TYPE_INT64": np.int64,
    "TYPE_FP16": np.float16,
    "TYPE_FP32": np.float32,
    "TYPE_FP64": np.float64,
    "TYPE_STRING": np.object_,
}
# Triton's TRITONSERVER_DataType numbers, for numpy_to_triton_type / triton_to_numpy_type.
_TYPE_NUMBERS: Final[Mapping[int, Any]] = {
    1: np.bool_,
    2: np.uint8,
    3: np.uint16,
    4: np.uint32,
    5: np.uint64,
    6: np.int8,
    7: np.int16,
    8: np.int32,
    9: np.int64,
    10: np.float16,
    11: np.float32,
    12: np.float64,
    13: np.object_,
}

log = logging.getLogger("triton_python_backend_utils")


@contextlib.contextmanager
def calling_models_with(
    caller: ModelCaller | None, timeout_seconds: float | None
) -> Iterator[None]:
    """``exec()`` inside this block calls other models through ``caller``."""
    caller_token = _caller.set(caller)
    timeout_token = _timeout.set(timeout_seconds)
    try:
        yield
    finally:
        _caller.reset(caller_token)
        _timeout.reset(timeout_token)


class TritonError(Exception):
    """An error a model returns in a response (or a BLS call returned); ``code`` is Triton's."""

    UNKNOWN = 0
    INTERNAL = 1
    NOT_FOUND = 2
    INVALID_ARG = 3
    UNAVAILABLE = 4
    UNSUPPORTED = 5
    ALREADY_EXISTS = 6
    CANCELLED = 7

    def __init__(self, message: str, code: int = INTERNAL) -> None:
        super().__init__(message)
        self._message = message
        self._code = code

    def message(self) -> str:
        return self._message

    def code(self) -> int:
        return self._code


class TritonModelException(Exception):  # noqa: N818 - Triton's name, which models import
    """Raised by a model to fail the requests of one ``execute`` call."""

    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


# Triton's error codes <-> the server's status codes.
ERROR_CODES: Final[Mapping[int, Code]] = {
    TritonError.UNKNOWN: Code.UNKNOWN,
    TritonError.INTERNAL: Code.INTERNAL,
    TritonError.NOT_FOUND: Code.NOT_FOUND,
    TritonError.INVALID_ARG: Code.INVALID_ARGUMENT,
    TritonError.UNAVAILABLE: Code.UNAVAILABLE,
    TritonError.UNSUPPORTED: Code.UNIMPLEMENTED,
    TritonError.ALREADY_EXISTS: Code.ALREADY_EXISTS,
    TritonError.CANCELLED: Code.CANCELLED,
}
_TRITON_CODES: Final[Mapping[Code, int]] = {v: k for k, v in ERROR_CODES.items()}


class Tensor:
    """A named tensor held as a numpy array (BYTES as an ``object`` array of ``bytes``)."""

    def __init__(self, name: str, array: Any) -> None:
        if not isinstance(name, str):
            raise TritonModelException(f"tensor name must be a str, got {type(name).__name__}")
        array = np.asarray(array)
        if array.dtype.kind in "SU":
            array = (
                np.vectorize(_as_bytes, otypes=[object])(array)
                if array.size
                else array.astype(object)
            )
        self._name = name
        self._array: np.ndarray = array

    def name(self) -> str:
        return self._name

    def as_numpy(self) -> np.ndarray:
        return self._array

    def shape(self) -> list[int]:
        return list(self._array.shape)

    def triton_dtype(self) -> int:
        return numpy_to_triton_type(self._array.dtype)

    def is_cpu(self) -> bool:
        return True

    def to_dlpack(self) -> Any:
        return self._array.__dlpack__()

    @classmethod
    def from_dlpack(cls, name: str, capsule: Any) -> Tensor:
        """A tensor from an object with ``__dlpack__`` (a torch tensor, a numpy array) or
        from a DLPack capsule (``torch.utils.dlpack.to_dlpack``, which only torch reads)."""
        if hasattr(capsule, "__dlpack__"):
            return cls(name, np.from_dlpack(capsule))
        from torch.utils import dlpack  # a bare capsule comes from torch; torch is loaded

        return cls(name, dlpack.from_dlpack(capsule).numpy())

    def __repr__(self) -> str:
        return f"Tensor({self._name!r}, shape={self.shape()}, dtype={self._array.dtype})"


def _as_bytes(item: object) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode("utf-8")


class InferenceResponse:
    """The outputs of one request, or its error."""

    def __init__(
        self,
        output_tensors: Sequence[Tensor] | None = None,
        error: TritonError | None = None,
        parameters: Mapping[str, object] | str | None = None,
    ) -> None:
        self._outputs = list(output_tensors or [])
        self._error = error
        self._parameters = parameters

    def output_tensors(self) -> list[Tensor]:
        return self._outputs

    def has_error(self) -> bool:
        return self._error is not None

    def error(self) -> TritonError | None:
        return self._error

    def parameters(self) -> str:
        if isinstance(self._parameters, str):
            return self._parameters
        return json.dumps(dict(self._parameters or {}))


class InferenceRequest:
    """One request: received by ``execute``, or built by a model to call another model."""

    def __init__(
        self,
        model_name: str = "",
        requested_output_names: Sequence[str] = (),
        inputs: Sequence[Tensor] = (),
        model_version: int = -1,
        flags: int = 0,
        correlation_id: int | str = 0,
        parameters: Mapping[str, object] | str | None = None,
        timeout: int = 0,
        request_id: str = "",
        **unused: object,  # preferred_memory, trace: GPU and tracing options Triton has
    ) -> None:
        if isinstance(model_name, bytes):
            model_name = model_name.decode("utf-8")
        self.model_name = model_name
        self.model_version = model_version
        self.flags = flags
        self._correlation_id = correlation_id
        self.timeout = timeout
        self._request_id = request_id
        self._requested = list(requested_output_names)
        self._inputs = list(inputs)
        if isinstance(parameters, str):
            parameters = json.loads(parameters) if parameters else {}
        self._parameters = dict(parameters or {})

    def inputs(self) -> list[Tensor]:
        return self._inputs

    def requested_output_names(self) -> list[str]:
        return self._requested

    def parameters(self) -> str:
        """The request's parameters as a JSON object string, as Triton gives them."""
        return json.dumps(self._parameters)

    def request_id(self) -> str:
        return self._request_id

    def correlation_id(self) -> int | str:
        return self._correlation_id

    def is_cancelled(self) -> bool:
        return False

    def get_response_sender(self) -> Any:
        raise TritonModelException("decoupled models are not supported by this server")

    def exec(self, decoupled: bool = False) -> InferenceResponse:
        """Call the named model of this server; blocks. Errors come back in the response."""
        if decoupled:
            raise TritonModelException("decoupled BLS calls are not supported by this server")
        caller = _caller.get()
        if caller is None:
            return InferenceResponse(
                error=TritonError(
                    "no model caller: this model runs outside a server, so it cannot call other models",
                    TritonError.UNAVAILABLE,
                )
            )
        version = self.model_version if self.model_version >= 0 else None
        timeout = self.timeout / 1e6 if self.timeout else _timeout.get()
        inputs = {tensor.name(): tensor.as_numpy() for tensor in self._inputs}
        try:
            outputs = caller(self.model_name, version, inputs, self._requested, timeout)
        except ServingError as error:
            code = _TRITON_CODES.get(error.code, TritonError.INTERNAL)
            return InferenceResponse(error=TritonError(error.message, code))
        return InferenceResponse(output_tensors=[Tensor(n, a) for n, a in outputs.items()])

    async def async_exec(self, decoupled: bool = False) -> InferenceResponse:
        """``exec()`` in a worker thread, awaitable from an ``async def execute``."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            None, context.run, self.exec, decoupled
        )


def get_input_tensor_by_name(request: InferenceRequest, name: str) -> Tensor | None:
    return next((t for t in request.inputs() if t.name() == name), None)


def get_output_tensor_by_name(response: InferenceResponse, name: str) -> Tensor | None:
    return next((t for t in response.output_tensors() if t.name() == name), None)


def get_input_config_by_name(model_config: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    return next((t for t in model_config.get("input", []) if t.get("name") == name), None)


def get_output_config_by_name(model_config: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    return next((t for t in model_config.get("output", []) if t.get("name") == name), None)


def triton_string_to_numpy(triton_type_string: str) -> Any:
    """``TYPE_FP32`` -> ``numpy.float32``; ``TYPE_STRING`` -> ``numpy.object_``."""
    return _NUMPY_TYPES[triton_type_string]


def triton_to_numpy_type(data_type: int) -> Any:
    return _TYPE_NUMBERS[data_type]


def numpy_to_triton_type(data_type: Any) -> int:
    kind = np.dtype(data_type)
    for number, numpy_type in _TYPE_NUMBERS.items():
        if kind == np.dtype(numpy_type) or (numpy_type is np.object_ and kind.kind in "OSU"):
            return number
    raise TritonModelException(f"numpy type {kind} has no Triton type")


class ModelConfig:
    """The configuration ``auto_complete_config`` reads and completes (Triton's JSON shape)."""

    def __init__(self, model_config: Mapping[str, Any] | str) -> None:
        config = json.loads(model_config) if isinstance(model_config, str) else dict(model_config)
        config.setdefault("input", [])
        config.setdefault("output", [])
        config.setdefault("max_batch_size", 0)
        self._config: dict[str, Any] = config

    def as_dict(self) -> dict[str, Any]:
        return self._config

    def set_max_batch_size(self, max_batch_size: int) -> None:
        current = int(self._config.get("max_batch_size") or 0)
        if current and current != max_batch_size:
            raise ValueError(
                f"configuration specified max_batch_size {current}, but auto-complete "
                f"tries to set it to {max_batch_size}"
            )
        self._config["max_batch_size"] = max_batch_size

    def set_dynamic_batching(self) -> None:
        self._config.setdefault("dynamic_batching", {})

    def add_input(self, tensor: Mapping[str, Any]) -> None:
        self._add("input", tensor)

    def add_output(self, tensor: Mapping[str, Any]) -> None:
        self._add("output", tensor)

    def set_model_transaction_policy(self, policy: Mapping[str, Any]) -> None:
        self._config["model_transaction_policy"] = dict(policy)

    def _add(self, kind: str, tensor: Mapping[str, Any]) -> None:
        if "name" not in tensor:
            raise ValueError(f"an {kind} given to auto-complete has no name")
        for existing in self._config[kind]:
            if existing["name"] == tensor["name"]:
                for key in ("data_type", "dims"):
                    if key in tensor and key in existing and existing[key] != tensor[key]:
                        raise ValueError(
                            f"{kind} '{tensor['name']}': {key} {existing[key]} in the "
                            f"configuration, but auto-complete sets {tensor[key]}"
                        )
                existing.update(tensor)
                return
        self._config[kind].append(dict(tensor))


class Logger:
    """Triton's ``pb_utils.Logger``: messages go to this server's log."""

    @staticmethod
    def log_info(message: str) -> None:
        log.info("%s", message)

    @staticmethod
    def log_warn(message: str) -> None:
        log.warning("%s", message)

    @staticmethod
    def log_error(message: str) -> None:
        log.error("%s", message)

    @staticmethod
    def log_verbose(message: str) -> None:
        log.debug("%s", message)
