"""A model's request logging: TF Serving's ``ModelConfig.logging_config``, validated.

Input is the ``tensorflow.serving.LoggingConfig`` of one ``ModelConfig`` in
``models.config``, as TF Serving writes it::

    logging_config {
      log_collector_config { type: "" filename_prefix: "/logs/reqlog" }
      sampling_config { sampling_rate: 0.1 }
    }

Output is a ``RequestLogging``: where the records go and which share of requests is
logged. ``actors.request_logger`` writes the files.

Contract:

- ``type`` must be ``""``: plain, uncompressed TFRecord files whose names begin with
  ``filename_prefix``. Any other collector type, ``custom_logging_config``,
  ``per_task_sampling_configs`` and sampling ``attributes`` are rejected (this server
  has no such collectors), as is a missing ``log_collector_config``.
- ``filename_prefix`` must not be empty and must not end in ``/`` (it is the start of a
  file name, not a folder). A relative prefix is resolved against ``base_dir`` (the
  config file's folder), like ``base_path``; an ``s3://bucket/prefix`` URL is kept as
  written (files are written locally and uploaded when complete); any other scheme is
  rejected. The prefix's folder is not checked here: the logger creates it.
- ``sampling_rate`` must lie in ``[0, 1]``; an absent ``sampling_config`` means 0
  (TF Serving's proto3 default: nothing is logged).

Errors are ``RequestLoggingError`` with the offending field (relative to
``logging_config``); ``config.model_config`` turns them into ``ConfigError`` with the
model's name and line.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

from tensorflow_serving.config import logging_config_pb2

PLAIN_FILES_TYPE = ""
"""The only ``log_collector_config.type``: uncompressed TFRecord files."""
S3_SCHEME = "s3://"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RequestLogging:
    """Log ``sampling_rate`` of a model's requests to files named ``filename_prefix...``."""

    filename_prefix: str
    """An absolute local path prefix or ``s3://bucket/key-prefix``."""
    sampling_rate: float
    """Probability in [0, 1] that one request is logged, decided per request."""


class RequestLoggingError(ValueError):
    """A ``logging_config`` this server cannot honour; ``field`` is the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def request_logging_from_proto(
    proto: logging_config_pb2.LoggingConfig, *, base_dir: str | os.PathLike[str]
) -> RequestLogging:
    """Validate one model's ``logging_config``; see the module docstring."""
    if proto.HasField("custom_logging_config"):
        raise RequestLoggingError(
            "custom_logging_config",
            'custom_logging_config is not supported; use log_collector_config { type: "" }',
        )
    if not proto.HasField("log_collector_config"):
        raise RequestLoggingError(
            "log_collector_config",
            "logging_config needs log_collector_config { filename_prefix: ... }",
        )
    collector = proto.log_collector_config
    if collector.type != PLAIN_FILES_TYPE:
        raise RequestLoggingError(
            "log_collector_config.type",
            f"log collector type '{collector.type}' is not supported; the only type is \"\" "
            "(uncompressed TFRecord files named with filename_prefix)",
        )
    sampling = proto.sampling_config
    if sampling.per_task_sampling_configs:
        raise RequestLoggingError(
            "sampling_config.per_task_sampling_configs",
            "per_task_sampling_configs is not supported; set sampling_rate",
        )
    if sampling.attributes:
        raise RequestLoggingError(
            "sampling_config.attributes", "sampling attributes are not supported"
        )
    rate = sampling.sampling_rate
    if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise RequestLoggingError(
            "sampling_config.sampling_rate", f"sampling_rate must lie in [0, 1], got {rate}"
        )
    return RequestLogging(
        filename_prefix=_prefix(collector.filename_prefix, Path(base_dir)), sampling_rate=rate
    )


def _prefix(prefix: str, base_dir: Path) -> str:
    field = "log_collector_config.filename_prefix"
    if not prefix:
        raise RequestLoggingError(field, "filename_prefix must not be empty")
    if prefix.endswith("/"):
        raise RequestLoggingError(
            field, f"filename_prefix '{prefix}' ends in '/'; give the start of a file name"
        )
    scheme, separator, rest = prefix.partition("://")
    if separator:
        if scheme + separator != S3_SCHEME or "/" not in rest or not rest.split("/", 1)[0]:
            raise RequestLoggingError(
                field,
                f"filename_prefix '{prefix}' is not supported: give a local path or "
                "s3://bucket/key-prefix",
            )
        return prefix
    return os.path.normpath(base_dir.absolute() / prefix)
