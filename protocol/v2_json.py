"""V2 REST's JSON documents, written from the plain values of ``protocol.v2_messages``.

Translation only: each function returns the bytes of one answer's body, in the shape
Triton's HTTP API (and ``tritonclient.http``) reads. Model statistics report every
version together (version ""), with the queue and compute durations zero (not measured).
Inference answers are ``protocol.v2_codec.encode_rest_response``'s. Shared memory
status answers are Triton's lists of regions; ``register_request`` reads a register body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from protocol.status import invalid_argument
from protocol.v2_messages import (
    IndexEntry,
    ModelConfig,
    ModelMetadata,
    ModelStatistics,
    RegionStatus,
    ServerMetadata,
    TensorMetadata,
    config_type,
)


def server_metadata_json(metadata: ServerMetadata) -> bytes:
    return orjson.dumps(
        {
            "name": metadata.name,
            "version": metadata.version,
            "extensions": list(metadata.extensions),
        }
    )


def _tensors(items: Iterable[TensorMetadata]) -> list[dict[str, Any]]:
    return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in items]


def metadata_document(metadata: ModelMetadata) -> dict[str, Any]:
    return {
        "name": metadata.name,
        "versions": list(metadata.versions),
        "platform": metadata.platform,
        "inputs": _tensors(metadata.inputs),
        "outputs": _tensors(metadata.outputs),
    }


def metadata_json(metadata: ModelMetadata) -> bytes:
    return orjson.dumps(metadata_document(metadata))


def config_document(config: ModelConfig) -> dict[str, Any]:
    if config.triton_document is not None:
        return dict(config.triton_document)

    def tensors(items: Iterable[TensorMetadata]) -> list[dict[str, Any]]:
        return [
            {"name": t.name, "data_type": config_type(t.datatype), "dims": list(t.shape)}
            for t in items
        ]

    return {
        "name": config.name,
        "platform": config.platform,
        "max_batch_size": config.max_batch_size,
        "input": tensors(config.inputs),
        "output": tensors(config.outputs),
    }


def config_json(config: ModelConfig) -> bytes:
    return orjson.dumps(config_document(config))


def stats_document(statistics: Iterable[ModelStatistics]) -> dict[str, Any]:
    def duration(count: int, ns: int) -> dict[str, int]:
        return {"count": count, "ns": ns}

    zero = duration(0, 0)
    return {
        "model_stats": [
            {
                "name": s.name,
                "version": "",
                "last_inference": s.last_inference_ms,
                "inference_count": s.success_count,
                "execution_count": s.execution_count,
                "inference_stats": {
                    "success": duration(s.success_count, s.success_ns),
                    "fail": duration(s.fail_count, s.fail_ns),
                    "queue": zero,
                    "compute_input": zero,
                    "compute_infer": zero,
                    "compute_output": zero,
                },
                "batch_stats": [],
            }
            for s in statistics
        ]
    }


def stats_json(statistics: Iterable[ModelStatistics]) -> bytes:
    return orjson.dumps(stats_document(statistics))


def index_json(entries: Iterable[IndexEntry]) -> bytes:
    return orjson.dumps(
        [
            {"name": e.name, "version": e.version, "state": e.state, "reason": e.reason}
            for e in entries
        ]
    )


def live_json(live: bool) -> bytes:
    return orjson.dumps({"live": live})


def server_ready_json(ready: bool, reasons: Iterable[str] = ()) -> bytes:
    """``{"ready": true}``, or ``false`` with the reasons (which model and why)."""
    if ready:
        return orjson.dumps({"ready": True})
    return orjson.dumps({"ready": False, "reasons": list(reasons)})


def model_ready_json(name: str, ready: bool) -> bytes:
    return orjson.dumps({"name": name, "ready": ready})


def region_status_json(regions: Iterable[RegionStatus]) -> bytes:
    """Triton's shared memory status: ``[{"name", "key", "offset", "byte_size"}]``."""
    return orjson.dumps(
        [
            {"name": r.name, "key": r.key, "offset": r.offset, "byte_size": r.byte_size}
            for r in regions
        ]
    )


def register_request(document: Mapping[str, Any]) -> tuple[str, int, int]:
    """A shared memory register body ``{"key", "offset", "byte_size"}`` as its values.

    ``key`` (a string) and ``byte_size`` are required (Triton's messages when missing),
    ``offset`` defaults to 0; a mistyped field is INVALID_ARGUMENT naming it.
    """
    for required in ("key", "byte_size"):  # Triton's words (http_server.cc)
        if required not in document:
            raise invalid_argument(f"Shared memory register request has no '{required}' field")
    key = document["key"]
    if not isinstance(key, str):
        raise invalid_argument("Shared memory register request: 'key' must be a string")
    sizes: list[int] = []
    for field in ("offset", "byte_size"):
        value = document.get(field, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise invalid_argument(
                f"Shared memory register request: '{field}' must be a non-negative integer"
            )
        sizes.append(value)
    return key, sizes[0], sizes[1]
