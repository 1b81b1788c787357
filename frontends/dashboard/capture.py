"""The dashboard's "Request capture" panel: each model's ``logging_config`` and what the
server's ``aioserving_request_log_*`` series say since start-up.

``capture_summary(registry, models)`` reads the registry once (the series ``/metrics``
exports) and returns one JSON-ready dict per model that is configured to log requests or
has logged or dropped any: ``filename_prefix`` and ``sampling_rate`` as configured now
(None when the model no longer logs), records and bytes written, and records dropped in
total and by reason (``queue_full``, ``write_error``, ``stopped``, ``unconfigured``).
Models come sorted by name. No I/O is done here.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry

from config.model_config import ModelSettings

_RECORDS = "aioserving_request_log_records"
_BYTES = "aioserving_request_log_bytes"
_DROPPED = "aioserving_request_log_dropped"


@dataclasses.dataclass(slots=True)
class _CaptureCounters:
    records: float = 0.0
    bytes: float = 0.0
    dropped: dict[str, float] = dataclasses.field(default_factory=dict)


def _read(registry: CollectorRegistry) -> dict[str, _CaptureCounters]:
    models: dict[str, _CaptureCounters] = collections.defaultdict(_CaptureCounters)
    for metric in registry.collect():
        if metric.name not in (_RECORDS, _BYTES, _DROPPED):
            continue
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                continue
            counters = models[sample.labels["model_name"]]
            if metric.name == _RECORDS:
                counters.records = sample.value
            elif metric.name == _BYTES:
                counters.bytes = sample.value
            else:
                counters.dropped[sample.labels["reason"]] = sample.value
    return dict(models)


def capture_summary(
    registry: CollectorRegistry, models: Iterable[ModelSettings]
) -> list[dict[str, Any]]:
    """One entry per capturing model, as the module docstring describes."""
    counted = _read(registry)
    configured = {
        model.name: model.request_logging for model in models if model.request_logging is not None
    }
    rows = []
    for name in sorted(set(configured) | set(counted)):
        logging = configured.get(name)
        counters = counted.get(name, _CaptureCounters())
        rows.append(
            {
                "model": name,
                "filename_prefix": logging.filename_prefix if logging is not None else None,
                "sampling_rate": logging.sampling_rate if logging is not None else None,
                "records": counters.records,
                "bytes": counters.bytes,
                "dropped": sum(counters.dropped.values()),
                "dropped_by_reason": dict(sorted(counters.dropped.items())),
            }
        )
    return rows
