"""The observability wing of the composition root: tracing, request logging, shadows.

``build_observability(config, parts)`` builds, from the flags and the environment:
- ``Tracing`` (``app.tracing``) when the ``OTEL_*`` variables ask for it, else None; a
  bad ``OTEL_EXPORTER_OTLP_PROTOCOL`` or ``OTEL_TRACES_EXPORTER`` is a ``ConfigError``
  naming the variable, so the server exits at start-up with a configuration error;
- the ``RequestLogger`` (``actors.request_logger``), configured with every model's
  ``logging_config``; it is always built, since a reload may turn logging on (a model
  without ``logging_config`` costs one dict lookup per call);
- the ``ShadowMirror`` (``actors.shadow_mirror``) with ``--shadow_config_file``'s rules;
and the ``Observability`` (``dataplane.observing``) the call wrappers and the data plane
use. Nothing is opened here. The supervisor starts ``Observability.parts`` before the
frontends, so the reverse-order stop runs them after the frontends drained: the last
records are written and the files closed, the last spans flushed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from actors.request_logger import RequestLogger
from actors.routing import RoutingTable
from actors.shadow_mirror import ShadowMirror
from app.metrics import ServerMetrics
from app.tracing import tracing_from_environment
from config.errors import ConfigError
from config.model_config import ModelServerSettings
from config.server_config import ServerConfig
from dataplane.observing import Observability

TENSORFLOW = "tensorflow"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ObservabilityParts:
    """What the observability wing needs from the rest of the server."""

    routing: RoutingTable
    metrics: ServerMetrics
    settings: Callable[[], ModelServerSettings]
    """The model settings in force (read per record: reloads change them)."""
    busy: Callable[[str], bool]
    """Whether a model's primary is under load (its batcher queue is not empty)."""


def build_observability(config: ServerConfig, parts: ObservabilityParts) -> Observability:
    options = config.options
    request_logger = RequestLogger(
        capacity=options.request_log_queue_records,
        max_file_bytes=options.request_log_max_file_bytes,
        observer=parts.metrics.request_log,
    )
    request_logger.configure(config.models.models)
    shadows = ShadowMirror(
        config.shadows,
        max_in_flight=options.shadow_max_in_flight,
        observer=parts.metrics.shadow,
    )
    tags = config.saved_model_tags

    def saved_model_tags(model_name: str) -> tuple[str, ...]:
        model = parts.settings().model(model_name)
        platform = model.platform if model is not None else TENSORFLOW
        return tuple(tags) if platform == TENSORFLOW else ()

    try:
        tracing = tracing_from_environment()
    except ValueError as error:  # an OTEL_* variable the server cannot honour
        raise ConfigError("the environment", str(error)) from error
    return Observability(
        routing=parts.routing,
        tracing=tracing,
        request_logger=request_logger,
        shadows=shadows,
        saved_model_tags=saved_model_tags,
        busy=parts.busy,
    )
