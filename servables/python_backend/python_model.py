"""Python models (``model_platform: "python"``) written for Triton's Python backend.

A version folder holds ``model.py`` defining ``TritonPythonModel``, unchanged from Triton:
``initialize(args)``, ``execute(requests)`` (plain or ``async def``), ``finalize()`` and the
optional static ``auto_complete_config(config)``. Inside it ``import
triton_python_backend_utils as pb_utils`` resolves to
``servables.python_backend.triton_python_backend_utils``.

Loading: the model's ``config.pbtxt`` (beside its version folders, see
``servables.triton_signature``), or an empty configuration named after the model, is
passed through ``auto_complete_config`` when the class has one; the result must declare
the inputs and outputs, which become the one ``serving_default`` signature (a leading -1
batch dimension when ``max_batch_size`` > 0, and a ``dynamic_batching`` block gives the
model its own batching settings). Then one ``TritonPythonModel`` instance is created and
``initialize`` gets Triton's ``args`` (``model_config`` as a JSON string,
``model_instance_kind`` "CPU", ``model_repository``, ``model_version``, ``model_name``...).
Any exception there fails the load with its message. The module runs in this server's
process and interpreter: it sees the server's environment variables and imports what the
server's Python environment has (torch included).

Running: each call is one ``InferenceRequest`` (a batch the batcher formed is one
request with the concatenated tensors; a request with V2 parameters runs alone, and
``request.parameters()`` gives them as a JSON object string, as Triton does) passed to ``execute`` in the executor thread that
runs the call; an ``async def execute`` runs to completion on that thread's own event
loop. One instance serves every call, possibly from several threads at once, as a
Triton model with several instances would be called; a model that keeps state guards it.
The servable never runs inline on the server's event loop (``may_run_inline = False``):
``InferenceRequest.exec()`` blocks its thread on another model's call.

Errors, to the client of that request only: a response carrying a ``TritonError`` gives
its message with the status its code maps to (INTERNAL by default, INVALID_ARG ->
INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, UNSUPPORTED -> UNIMPLEMENTED); any exception
from ``execute`` (``TritonModelException`` included) is INTERNAL with its message; a
response without a requested output, or a response count other than one, is INTERNAL
naming what is missing. ``finalize()`` runs when the version unloads (at shutdown too);
its exceptions are logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import inspect
import itertools
import json
import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
from google.protobuf import json_format
from tritonclient.grpc import model_config_pb2

from config.triton_model_config import (
    TritonModelConfig,
    model_config_json,
    triton_config_from_proto,
)
from protocol.signatures import DEFAULT_SIGNATURE, Signature
from protocol.status import Code, ServingError, internal
from servables.loader import VersionLoader
from servables.model_caller import ModelCaller
from servables.python_backend import triton_python_backend_utils as pb_utils
from servables.servable import Servable
from servables.triton_signature import signature_from_triton, triton_config_beside
from servables.version_folder import VersionExtras, finish_load, require_artifact

log = logging.getLogger(__name__)

PLATFORM: Final = "python"
UTILS_MODULE: Final = "triton_python_backend_utils"
_module_numbers = itertools.count(1)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PythonModelOptions:
    """What every Python model version gets: the version extras and the BLS caller."""

    extras: VersionExtras = dataclasses.field(default_factory=VersionExtras)
    model_caller: ModelCaller | None = None


def import_model_file(path: str) -> Any:
    """Run ``model.py`` as a fresh module (never cached under a shared name) and return it."""
    sys.modules.setdefault(UTILS_MODULE, pb_utils)
    name = f"_aioserving_python_model_{next(_module_numbers)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "TritonPythonModel"):
        raise ValueError(f"{path} defines no TritonPythonModel class")
    return module


def completed_config(
    model_class: type, config: TritonModelConfig, source: str
) -> TritonModelConfig:
    """``config`` after the class's ``auto_complete_config``, when it has one."""
    complete = getattr(model_class, "auto_complete_config", None)
    if complete is None:
        return config
    given = pb_utils.ModelConfig(model_config_json(config.proto))
    result = complete(given)
    rendered = (result if result is not None else given).as_dict()
    proto = json_format.ParseDict(
        rendered, model_config_pb2.ModelConfig(), ignore_unknown_fields=True
    )
    return triton_config_from_proto(proto, source)


class PythonModelServable(Servable):
    """One Python model version: one ``TritonPythonModel`` instance."""

    platform = PLATFORM
    may_run_inline = False
    takes_parameters = True

    def __init__(
        self,
        *,
        model_name: str,
        version: int,
        instance: Any,
        config: TritonModelConfig,
        caller: ModelCaller | None,
    ) -> None:
        self.model_name = model_name
        self.version = version
        self.triton_config = self.config = config
        self.signatures = {DEFAULT_SIGNATURE: signature_from_triton(config)}
        self._instance: Any = instance
        self._caller = caller
        self._async_execute = inspect.iscoroutinefunction(instance.execute)
        self._loops = threading.local()

    def run(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
    ) -> dict[str, np.ndarray]:
        return self.run_with_parameters(signature, inputs, output_names, {})

    def run_with_parameters(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
        parameters: Mapping[str, object],
    ) -> dict[str, np.ndarray]:
        """``run``, with ``request.parameters()`` giving ``parameters`` to the model."""
        instance = self._instance
        if instance is None:
            raise RuntimeError("Python model used after unload")
        wanted = list(output_names) or list(signature.outputs)
        request = pb_utils.InferenceRequest(
            model_name=self.model_name,
            model_version=self.version,
            requested_output_names=wanted,
            inputs=[pb_utils.Tensor(name, array) for name, array in inputs.items()],
            parameters=parameters,
        )
        with pb_utils.calling_models_with(self._caller, None):
            try:
                responses = self._execute(instance, [request])
            except ServingError:
                raise
            except Exception as error:  # the model's own failure, for this request only
                message = (
                    error.message()
                    if isinstance(error, pb_utils.TritonModelException)
                    else f"{type(error).__name__}: {error}"
                )
                raise internal(f"Python model '{self.model_name}' failed: {message}") from error
        return self._outputs(responses, wanted)

    def _execute(self, instance: Any, requests: list[pb_utils.InferenceRequest]) -> Any:
        if not self._async_execute:
            return instance.execute(requests)
        loop: asyncio.AbstractEventLoop | None = getattr(self._loops, "loop", None)
        if loop is None:
            loop = self._loops.loop = asyncio.new_event_loop()
        return loop.run_until_complete(instance.execute(requests))

    def _outputs(self, responses: Any, wanted: Sequence[str]) -> dict[str, np.ndarray]:
        if not isinstance(responses, (list, tuple)) or len(responses) != 1:
            count = (
                len(responses) if isinstance(responses, (list, tuple)) else type(responses).__name__
            )
            raise internal(
                f"Python model '{self.model_name}': execute() must return one response per "
                f"request (1), returned {count}"
            )
        (response,) = responses
        if response.has_error():
            error = response.error()
            code = pb_utils.ERROR_CODES.get(error.code(), Code.INTERNAL)
            raise ServingError(code, error.message())
        produced = {tensor.name(): tensor.as_numpy() for tensor in response.output_tensors()}
        missing = [name for name in wanted if name not in produced]
        if missing:
            raise internal(
                f"Python model '{self.model_name}' returned no output {missing} "
                f"(it returned {sorted(produced)})"
            )
        return {name: produced[name] for name in wanted}

    def unload(self) -> None:
        instance, self._instance = self._instance, None
        finalize = getattr(instance, "finalize", None)
        if finalize is not None:
            try:
                finalize()
            except Exception:
                log.exception(
                    "Python model %s version %d: finalize() failed", self.model_name, self.version
                )


class PythonModelLoader(VersionLoader[PythonModelOptions]):
    """Loads ``model.py`` from one version folder."""

    def load(self) -> PythonModelServable:
        file = require_artifact(PLATFORM, self.path)
        config = triton_config_beside(self.path)
        source = os.path.join(os.path.dirname(os.path.normpath(self.path)), "config.pbtxt")
        if config is None:
            config = triton_config_from_proto(
                model_config_pb2.ModelConfig(name=self.model_name, backend="python"), source
            )
        model_class = import_model_file(file).TritonPythonModel
        config = completed_config(model_class, config, source)
        if not config.inputs or not config.outputs:
            raise ValueError(
                f"Python model '{self.model_name}' declares no inputs or no outputs: list them "
                f"in {source} or add them in auto_complete_config"
            )
        if not config.proto.name:
            config.proto.name = self.model_name
        instance = model_class()
        initialize = getattr(instance, "initialize", None)
        if initialize is not None:
            with pb_utils.calling_models_with(self._options.model_caller, None):
                initialize(self._initialize_args(config))
        servable = PythonModelServable(
            model_name=self.model_name,
            version=self.version,
            instance=instance,
            config=config,
            caller=self._options.model_caller,
        )
        if config.batching is not None:
            servable.batching = config.batching
        finish_load(servable, self.path, self._options.extras)
        return servable

    def _initialize_args(self, config: TritonModelConfig) -> dict[str, str]:
        return {
            "model_config": json.dumps(model_config_json(config.proto)),
            "model_instance_kind": "CPU",
            "model_instance_name": f"{self.model_name}_0_0",
            "model_instance_device_id": "0",
            "model_repository": os.path.dirname(os.path.normpath(self.path)),
            "model_version": str(self.version),
            "model_name": self.model_name,
        }
