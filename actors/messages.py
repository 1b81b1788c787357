"""Typed messages that the actors exchange.

Every message is an immutable, slotted, keyword-only dataclass. Commands are imperative
(``LoadVersion``), events are in the past tense (``VersionLoaded``). A reply future never
lives inside a message: it travels beside it in an ``actors.actor.Envelope`` (or, for the
batcher's ``Enqueue``, beside the request). These messages carry loaders and servables,
which is why they live beside the actors and not in ``protocol/``.

The flow of a model version through the system:

    PathPoller --AspiredVersionRequest--> SourceAdapter --AspiredLoadersRequest--> VersionManager
    VersionManager --(load in executor)--> VersionLoaded | VersionLoadFailed --> VersionManager

and of an inference request:

    frontend -> DataPlane --(batching off)--> ExecutorPool --> reply future
    frontend -> DataPlane --InferenceRequest--> Batcher --batch--> ExecutorPool --> reply futures
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from protocol.status import Code

if TYPE_CHECKING:
    from protocol.signatures import Signature
    from servables.loader import Loader
    from servables.servable import Servable

# --- model life cycle -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AspiredVersion:
    """One version that a source wants served, and where its files are."""

    version: int
    path: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AspiredVersionRequest:
    """The FULL set of versions a source wants for one model; a version left out is unloaded."""

    model_name: str
    versions: tuple[AspiredVersion, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AspiredLoader:
    """An aspired version with the loader that can bring it into memory."""

    version: int
    loader: Loader


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AspiredLoadersRequest:
    """``AspiredVersionRequest`` after the source adapter picked a platform loader."""

    model_name: str
    loaders: tuple[AspiredLoader, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VersionLoaded:
    """Event: a version finished loading (and warming up) and may serve."""

    model_name: str
    version: int
    servable: Servable


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VersionLoadFailed:
    """Event: every load attempt of a version failed; ``error`` says why and ``code`` is the
    loader's own status code (INVALID_ARGUMENT, DATA_LOSS, NOT_FOUND, ...), as TF Serving
    publishes it in the version's status."""

    model_name: str
    version: int
    error: str
    code: Code = Code.UNKNOWN


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VersionUnloaded:
    """Event: a version's resources were released."""

    model_name: str
    version: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SetModelLabels:
    """Command: replace a model's version labels (``label -> version``)."""

    model_name: str
    labels: Mapping[str, int]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RemoveModel:
    """Command: a model left the configuration; unload all its versions."""

    model_name: str


# --- inference --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InferenceRequest:
    """One client call, resolved to a servable and signature, ready to batch.

    ``inputs`` hold the request's tensors by signature input name; ``batch_size`` is the
    size of their first dimension (1 for scalars). ``deadline`` is on the monotonic clock,
    or ``None`` when the client set none. The servable's in-flight count was taken for this
    request by the data plane; the batcher releases it once the request's work is over.
    """

    servable: Servable
    signature: Signature
    inputs: Mapping[str, np.ndarray]
    output_names: tuple[str, ...]
    batch_size: int
    deadline: float | None = None
    times: BatchTimes | None = None
    """Set for a traced request: the batcher fills it in (``BatchTimes``)."""


@dataclasses.dataclass(slots=True, eq=False)
class BatchTimes:
    """When a traced request's batch went out and ran, for its trace's child spans.

    Not a message: a record the batcher fills in beside the request (on the monotonic
    clock) and the data plane reads once the request's future is done. ``batch_size`` is
    the rows the model ran, padding included.
    """

    dispatched: float = 0.0
    run_started: float = 0.0
    run_finished: float = 0.0
    batch_size: int = 0


# --- version manager effects --------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LoadVersion:
    """Command from the manager to its effect runner: load (with retries) this version."""

    model_name: str
    version: int
    loader: Loader


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UnloadVersion:
    """Command from the manager to its effect runner: drain, then unload this servable."""

    model_name: str
    version: int
    servable: Servable
