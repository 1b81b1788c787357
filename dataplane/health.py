"""Liveness and readiness as the V2 protocol asks them, over ``dataplane.readiness``.

- live: the process answers; true whenever a frontend can ask (a dead actor shuts the
  server down, see ``app.supervisor``).
- ready: ``dataplane.readiness``'s answer (every configured model has an AVAILABLE
  version, and the server is not draining), with its reasons. A model unloaded by
  request (``dataplane.repository``) does not count, as in Triton.
- model ready: the version a request names (a number, a label, or none for the latest,
  resolved exactly as for inference) is AVAILABLE.

Readiness comes from a callable (``Supervisor.readiness``), so a config reload and the
start of a drain are seen at once, and the gRPC health service answers the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from actors.routing import RoutingTable
from dataplane.readiness import Readiness
from protocol.model_ref import ModelRef
from protocol.status import ServingError


class Health:
    """Readiness over the routing snapshot; ``dataplane.v2.V2Plane`` answers V2 REST and gRPC from it."""

    def __init__(
        self,
        *,
        routing: RoutingTable,
        readiness: Callable[[], Readiness],
        configured_models: Callable[[], Iterable[str]],
    ) -> None:
        self._routing = routing
        self._readiness = readiness
        self._configured_models = configured_models

    def live(self) -> bool:
        return True

    def readiness(self) -> Readiness:
        return self._readiness()

    def ready(self) -> bool:
        return self._readiness().ready

    def configured(self) -> list[str]:
        """The configured model names, in config order."""
        return list(self._configured_models())

    def is_configured(self, model_name: str) -> bool:
        return model_name in self._configured_models()

    def model_ready(self, ref: ModelRef) -> bool:
        try:
            self._routing.snapshot.resolve(ref.name, ref.version, ref.label)
        except ServingError:
            return False
        return True
