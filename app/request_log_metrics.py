"""Prometheus series of request logging (``actors.request_logger``'s observer).

- ``aioserving_request_log_records{model_name}`` — records written.
- ``aioserving_request_log_bytes{model_name}`` — bytes written (TFRecord framing included).
- ``aioserving_request_log_dropped{model_name,reason}`` — sampled records not written:
  ``queue_full`` (the logger's queue was full), ``write_error`` (a record could not be
  built or written), ``stopped`` (offered while the logger was not running or left
  queued past the stop grace period), ``unconfigured`` (the model stopped logging before
  its record was written).

TF Serving exports no request-logging series, hence our own prefix. prometheus-client
adds ``_total`` to each counter's sample name. The series are registered on the
server's one registry, passed in; ``model_label`` maps a model name to its label value
(``ServerMetrics.model_label``, which bounds the label set).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter


class RequestLogMetrics:
    """Implements ``actors.request_logger.RequestLogObserver``; thread-safe."""

    def __init__(
        self, registry: CollectorRegistry, *, model_label: Callable[[str], str] = str
    ) -> None:
        self._model_label = model_label
        self.records = Counter(
            "aioserving_request_log_records",
            "Request log records written.",
            ("model_name",),
            registry=registry,
        )
        self.bytes = Counter(
            "aioserving_request_log_bytes",
            "Request log bytes written, TFRecord framing included.",
            ("model_name",),
            registry=registry,
        )
        self.dropped = Counter(
            "aioserving_request_log_dropped",
            "Sampled request log records that were not written, by reason.",
            ("model_name", "reason"),
            registry=registry,
        )

    def request_log_written(self, model_name: str, records: int, nbytes: int) -> None:
        label = self._model_label(model_name)
        self.records.labels(label).inc(records)
        self.bytes.labels(label).inc(nbytes)

    def request_log_dropped(self, model_name: str, reason: str, records: int = 1) -> None:
        self.dropped.labels(self._model_label(model_name), reason).inc(records)
