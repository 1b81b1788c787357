"""The ``ModelCaller`` a Python model's ``InferenceRequest.exec()`` uses: the data plane.

A BLS call is an ordinary Predict of the named model through the data plane (resolution,
input checks, batching, the inference executor), run on the server's event loop and
awaited by the calling worker thread. ``bind(loop)`` is called once the loop runs;
a call before that, or from the loop's own thread (which would wait on itself), fails
with UNAVAILABLE / FAILED_PRECONDITION instead of hanging.

A BLS call holds its worker thread while the other model runs on another one; a model
that calls models must not be given every executor thread (``--executor_threads``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from dataplane.dataplane import DataPlane
from protocol.model_ref import ModelRef
from protocol.signatures import Signature
from protocol.status import failed_precondition, unavailable


class DataPlaneCaller:
    """Calls a model of this server from a worker thread (see the module docstring)."""

    def __init__(self) -> None:
        self._plane: DataPlane | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def bind(self, plane: DataPlane, loop: asyncio.AbstractEventLoop) -> None:
        self._plane = plane
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def __call__(
        self,
        model_name: str,
        version: int | None,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
        timeout_seconds: float | None,
    ) -> dict[str, np.ndarray]:
        plane, loop = self._plane, self._loop
        if plane is None or loop is None or loop.is_closed():
            raise unavailable("the server is not serving: models cannot be called now")
        if threading.get_ident() == self._loop_thread:
            raise failed_precondition("a model cannot call another model from the event loop")

        def decode(signature: Signature) -> Mapping[str, np.ndarray]:
            return inputs

        async def call() -> dict[str, np.ndarray]:
            ref = ModelRef(name=model_name, version=version)
            result = await plane.predict(ref, "", decode, tuple(output_names), timeout_seconds)
            return dict(result.outputs)

        return asyncio.run_coroutine_threadsafe(call(), loop).result()
