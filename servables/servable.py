"""A ``Servable``: one loaded, immutable version of one model, on any platform.

Contract:
- ``signatures`` maps names to plain ``Signature`` values derived from the artifact.
- ``run(signature, inputs, output_names)`` blocks the calling thread (it is called in the
  executor pool, or inline for calls measured cheap) and may be called from several
  threads at once. It returns exactly ``output_names`` (every output when empty) and raises
  ``ServingError`` for anything the caller got wrong. ``signature`` is usually one of
  ``signatures``; the tf.Example APIs may pass a merged one.
- ``unload()`` releases resources. The version manager calls it once, after the version
  left the routing snapshot and its in-flight count reached zero.
- The in-flight count is touched only on the event loop: the data plane takes it when a
  request is resolved to this servable (``begin_request``), and whoever finishes that
  request's model work releases it (``end_request``), even when the client gave up first,
  so a version is never unloaded under a running call.
- ``takes_parameters`` True: the servable reads a request's own parameters (V2's request
  ``parameters``); the data plane calls ``run_with_parameters`` for a request that has
  some. The default ``run_with_parameters`` ignores them and calls ``run``.
- ``may_run_inline`` False keeps every call off the event loop, however cheap.
- ``triton_config`` is the Triton configuration the loader read (``None`` without one);
  ``servables.triton_signature.triton_model_config`` renders any servable in its shape.
- ``batching`` holds per-model batching settings when the loader found some; ``None``
  means the server-wide settings apply.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from protocol.signatures import DEFAULT_SIGNATURE, Signature
from protocol.status import Reason, failed_precondition

if TYPE_CHECKING:
    from config.batching_config import BatchingSettings
    from config.triton_model_config import TritonModelConfig


class Servable(abc.ABC):
    """One loaded, immutable model version (contract in the module docstring)."""

    model_name: str
    version: int
    platform: str = "tensorflow"
    may_run_inline: bool = True
    """False for a servable whose calls may block on other calls (a Python model's BLS):
    it then always runs on the executor, never on the event loop."""
    takes_parameters: bool = False
    """True for a servable whose ``run`` reads a request's parameters (a Python model)."""
    signatures: Mapping[str, Signature]
    batching: BatchingSettings | None = None
    triton_config: TritonModelConfig | None = None
    """The model's Triton ``config.pbtxt`` when it was loaded with one (after auto-complete)."""
    _in_flight: int = 0
    _drained_event: asyncio.Event | None = None

    def begin_request(self) -> None:
        self._in_flight += 1

    def end_request(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0 and self._drained_event is not None:
            self._drained_event.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def drained(self) -> None:
        """Returns once no request is running on this servable."""
        while self._in_flight:
            self._drained_event = asyncio.Event()
            await self._drained_event.wait()

    def signature(self, name: str) -> Signature:
        """The signature called ``name`` (empty means ``serving_default``).

        Raises FAILED_PRECONDITION, as TF Serving's Predict does, when it does not exist
        (``Reason.UNKNOWN_SIGNATURE``: REST words it its own way).
        """
        signature = self.signatures.get(name or DEFAULT_SIGNATURE)
        if signature is None:
            raise failed_precondition(
                f'Serving signature key "{name or DEFAULT_SIGNATURE}" not found.',
                Reason.UNKNOWN_SIGNATURE,
            )
        return signature

    @abc.abstractmethod
    def run(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
    ) -> dict[str, np.ndarray]:
        """Run one (possibly batched) call of ``signature``; blocks the calling thread."""

    def run_with_parameters(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
        parameters: Mapping[str, object],
    ) -> dict[str, np.ndarray]:
        """``run`` for a request that carries ``parameters``; this default ignores them."""
        return self.run(signature, inputs, output_names)

    @abc.abstractmethod
    def unload(self) -> None:
        """Release resources. Called once, after the version left the routing table."""
