"""The V2 data plane's answers as plain values, for both V2 frontends to encode.

``dataplane.v2.V2Plane`` returns these; ``protocol.v2_json`` writes them as V2 REST's JSON
documents and ``protocol.v2_proto`` as ``inference.GRPCInferenceService``'s messages, so
REST and gRPC answer the same facts. All are frozen: an answer is built once and read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServerMetadata:
    name: str
    version: str
    extensions: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TensorMetadata:
    name: str
    datatype: str
    """A V2 datatype name (``FP32``, ``BYTES``, ...)."""
    shape: tuple[int, ...]
    """-1 for a dimension of any size; ``(-1,)`` when even the rank is unknown."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ModelMetadata:
    name: str
    versions: tuple[str, ...]
    """The AVAILABLE versions, ascending."""
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
    triton_document: Mapping[str, Any] | None = None
    """The model's whole Triton ``model_config`` in Triton's JSON shape, when it has one
    (a ``config.pbtxt``); encoders then write it as it is, and the fields above summarize it."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ModelStatistics:
    """One model's inference tally, every version together (V2's version "")."""

    name: str
    last_inference_ms: int = 0
    success_count: int = 0
    success_ns: int = 0
    fail_count: int = 0
    fail_ns: int = 0
    execution_count: int = 0
    """Batches run when batched, else one per successful request."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class IndexEntry:
    """One row of the repository index."""

    name: str
    version: str
    """The version number, or "" for a model with no version."""
    state: str
    """Triton's model state: READY, LOADING, UNLOADING or UNAVAILABLE."""
    reason: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InferOutput:
    name: str
    array: np.ndarray
    dtype: int
    """The output's ``protocol.dtypes.DType`` as the signature declares it."""
    in_shared_memory: bool = False
    """Written into the shared memory region the request named: the answer carries the
    output's name, datatype and shape only (Triton's answer)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InferResult:
    model_name: str
    model_version: str
    outputs: tuple[InferOutput, ...]
    """In response order."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RegionStatus:
    """One registered shared memory region, as Triton's status answers describe it."""

    name: str
    key: str
    offset: int
    byte_size: int


def config_type(datatype: str) -> str:
    """A V2 datatype as Triton's model configuration names it (``FP32`` -> ``TYPE_FP32``)."""
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"
