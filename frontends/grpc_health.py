"""The standard ``grpc.health.v1.Health`` service on the gRPC port.

Service names, as the health-checking protocol defines them:

- ``""`` (empty): the whole server. SERVING when every configured model has an
  AVAILABLE version and the server is not draining; NOT_SERVING otherwise.
- ``tensorflow.serving.ModelService`` and ``tensorflow.serving.PredictionService``: the
  gRPC services themselves, always SERVING while the server answers, as TF Serving's
  ``--enable_grpc_healthcheck_service`` reports them. TF Serving's ``server.cc`` registers
  the short names ``ModelService`` and ``PredictionService``; those answer SERVING too,
  unless a model has that name (then the model's status is given).
- a model name: that model. SERVING when it has an AVAILABLE version, NOT_SERVING when
  it is known but has none (still loading, or failed); an unknown name is NOT_FOUND.

Every answer comes from ``readiness()`` (``dataplane.readiness``), computed on the current
routing snapshot when the call arrives: no queue, no lock, so a probe never waits behind
inference. ``Watch`` sends the current status, then each change, checking every
``watch_interval_seconds``. ``List`` answers the server and every configured model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dataplane.readiness import Readiness

SERVING: int = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN: int = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN

SERVICE_NAMES = ("tensorflow.serving.ModelService", "tensorflow.serving.PredictionService")
"""The gRPC services TF Serving's health service reports SERVING."""
SHORT_SERVICE_NAMES = ("ModelService", "PredictionService")
"""The names TF Serving's ``server.cc`` passes to ``SetServingStatus``."""


class HealthServicer(health_pb2_grpc.HealthServicer):
    """Answers from ``readiness_now()``, called once per check."""

    def __init__(
        self, readiness_now: Callable[[], Readiness], watch_interval_seconds: float = 0.5
    ) -> None:
        self._readiness_now = readiness_now
        self._watch_interval_seconds = watch_interval_seconds

    def register(self, server: grpc.aio.Server) -> None:
        """Serve ``grpc.health.v1.Health`` on ``server`` (before it starts)."""
        health_pb2_grpc.add_HealthServicer_to_server(self, server)

    def _status(self, service: str) -> int:
        """SERVING, NOT_SERVING, or SERVICE_UNKNOWN for a name that is no model."""
        current = self._readiness_now()
        if not service:
            return SERVING if current.ready else NOT_SERVING
        if service in SERVICE_NAMES:
            return SERVING
        model = current.model(service)
        if model is None:
            return SERVING if service in SHORT_SERVICE_NAMES else SERVICE_UNKNOWN
        return SERVING if model.ready else NOT_SERVING

    async def Check(  # noqa: N802 - gRPC method name
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        status = self._status(request.service)
        if status == SERVICE_UNKNOWN:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"unknown service (model) {request.service!r}"
            )
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(  # noqa: N802 - gRPC method name
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        last: int | None = None
        while True:
            status = self._status(request.service)
            if status != last:
                last = status
                yield health_pb2.HealthCheckResponse(status=status)
            await asyncio.sleep(self._watch_interval_seconds)

    async def List(  # noqa: N802 - gRPC method name
        self, request: health_pb2.HealthListRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthListResponse:
        current = self._readiness_now()
        response = health_pb2.HealthListResponse()
        response.statuses[""].status = SERVING if current.ready else NOT_SERVING
        for name in SERVICE_NAMES:
            response.statuses[name].status = SERVING
        for model in current.models:
            response.statuses[model.name].status = SERVING if model.ready else NOT_SERVING
        return response
