"""The frontend wing of the composition root: every protocol-facing part, built from flags.

``build_frontends(config, parts)`` returns the gRPC server (TF Serving's
PredictionService and ModelService, V2's GRPCInferenceService, ``grpc.health.v1``) and
the REST server (``/v1``, ``/v2``, and the supervisor's own routes: metrics and the
dashboard), each None when its flag turns it off. Nothing is opened here: the
supervisor starts them, last, and stops them first.

Both frontends call the same data planes (``FrontendParts``), report every request to
the same observer and, after a large request, trim memory through one ``MemoryTrimmer``
(a trim after a large request on either frees memory for both). Authentication wraps
both when an ``Authenticator`` is given. The REST routes are added in this order: the
supervisor's, ``/v2``'s, then ``/v1``'s, whose catch-all must come last.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from config.server_config import ServerConfig
from dataplane.dataplane import DataPlane
from dataplane.examples import ExampleAPIs
from dataplane.readiness import Readiness
from dataplane.v2 import V2Plane
from frontends.auth import Authenticator, FailureHook, GrpcAuth, rest_middleware
from frontends.grpc_frontend import (
    ConfigReloader,
    GrpcFrontend,
    MetricValues,
    ModelServicer,
    PredictionServicer,
)
from frontends.grpc_health import HealthServicer
from frontends.memory_trim import MemoryTrimmer
from frontends.observer import RequestObserver
from frontends.rest_calls import Route
from frontends.rest_server import RestServer, RestSettings
from frontends.rest_v1 import V1Rest, V1Settings
from frontends.tls import grpc_server_credentials
from frontends.v2_grpc import V2GrpcServicer
from frontends.v2_rest import V2Rest
from protocol.rest_codec import FloatFormat


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FrontendParts:
    """What the frontends call and report to; built by the supervisor."""

    plane: DataPlane
    examples: ExampleAPIs
    v2: V2Plane
    observer: RequestObserver
    reloader: ConfigReloader
    """``HandleReloadConfigRequest``'s target (every worker's, with ``--workers``)."""
    readiness: Callable[[], Readiness]
    authenticator: Authenticator | None = None
    on_auth_failure: FailureHook | None = None
    metrics_paths: Sequence[str] = ()
    """Paths of the supervisor's metrics routes (authentication may leave them open)."""
    rest_routes: Sequence[Route] = ()
    """The supervisor's own REST routes (metrics, dashboard), served before the APIs'."""
    reuse_port: bool = False
    """``--workers`` > 1: this process's frontends share their ports with the others."""
    metric_values: MetricValues | None = None
    """Reads metrics by name, for ``HandleReloadConfigRequest``'s ``metric_names``."""


@dataclasses.dataclass(frozen=True, slots=True)
class Frontends:
    grpc: GrpcFrontend | None
    rest: RestServer | None


def build_frontends(config: ServerConfig, parts: FrontendParts) -> Frontends:
    """The gRPC and REST servers the flags ask for (see the module doc); no I/O."""
    options = config.options
    trimmer = MemoryTrimmer(options.malloc_trim_threshold_bytes)
    grpc_frontend = _grpc(config, parts, trimmer) if options.grpc_enabled else None
    rest_frontend = _rest(config, parts, trimmer) if options.rest_enabled else None
    return Frontends(grpc=grpc_frontend, rest=rest_frontend)


def _grpc(config: ServerConfig, parts: FrontendParts, trimmer: MemoryTrimmer) -> GrpcFrontend:
    options = config.options
    return GrpcFrontend(
        prediction=PredictionServicer(
            parts.plane,
            examples=parts.examples,
            observer=parts.observer,
            max_request_tensor_bytes=options.max_request_tensor_bytes,
            trimmer=trimmer,
        ),
        model=ModelServicer(
            parts.plane,
            reloader=parts.reloader,
            observer=parts.observer,
            metric_values=parts.metric_values,
        ),
        address=f"0.0.0.0:{options.port}",
        socket_path=str(options.grpc_socket_path) if options.grpc_socket_path else None,
        # TF Serving's limit (SetMaxMessageSize(kint32max)); channel arguments win.
        options=[
            ("grpc.max_receive_message_length", options.grpc_max_message_bytes),
            ("grpc.max_send_message_length", options.grpc_max_message_bytes),
            # gRPC's share of the descriptors (config.connection_limits); 0: no cap.
            *(
                [("grpc.max_allowed_incoming_connections", config.connections.grpc)]
                if config.connections.grpc
                else []
            ),
            *options.grpc_channel_arguments,
        ],
        credentials=grpc_server_credentials(config.ssl) if config.ssl is not None else None,
        extra_services=[
            HealthServicer(parts.readiness),
            V2GrpcServicer(parts.v2, observer=parts.observer),
        ],
        auth=(
            GrpcAuth(parts.authenticator, parts.on_auth_failure)
            if parts.authenticator is not None
            else None
        ),
        reuse_port=parts.reuse_port,
    )


def _rest(config: ServerConfig, parts: FrontendParts, trimmer: MemoryTrimmer) -> RestServer:
    options = config.options
    timeout_seconds = options.rest_api_timeout_in_ms / 1000 or None
    cors = options.rest_api_enable_cors_support
    v1 = V1Rest(
        parts.plane,
        V1Settings(
            timeout_seconds=timeout_seconds,
            cors=cors,
            max_image_pixels=options.max_image_pixels,
            float_format=FloatFormat(options.rest_float_format),
            max_request_tensor_bytes=options.max_request_tensor_bytes,
        ),
        examples=parts.examples,
        observer=parts.observer,
        trimmer=trimmer,
    )
    v2 = V2Rest(parts.v2, timeout_seconds=timeout_seconds, observer=parts.observer)
    return RestServer(
        RestSettings(
            host="0.0.0.0",
            port=options.rest_api_port,
            max_body_bytes=options.rest_max_body_bytes,
            idle_timeout_seconds=options.rest_idle_timeout_seconds,
            max_connections=config.connections.rest,
            tls=config.rest_ssl,
            reuse_port=parts.reuse_port,
            cors=cors,
        ),
        [*parts.rest_routes, *v2.routes(), *v1.routes()],
        middlewares=(
            [
                rest_middleware(
                    parts.authenticator,
                    metrics_paths=parts.metrics_paths,
                    on_failure=parts.on_auth_failure,
                )
            ]
            if parts.authenticator is not None
            else []
        ),
    )
