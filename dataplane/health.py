"""Liveness and readiness, in one place for every API that reports them.

- live: the process answers; true whenever a frontend can ask.
- ready: every configured model has at least one AVAILABLE version. A model that failed
  to load, or whose versions are all still loading, makes the server not ready. A model
  unloaded by request (``dataplane.repository``) does not count, as in Triton. With no
  configured model the server is ready.
- model ready: the version a request names (a number, a label, or none for the latest,
  resolved exactly as for inference) is AVAILABLE.

The configured model names come from a callable, so a config reload is seen at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from actors.routing import RoutingTable
from protocol.model_ref import ModelRef
from protocol.status import ServingError


class Health:
    """Readiness over the routing snapshot; shared by V2 REST and gRPC."""

    def __init__(
        self,
        *,
        routing: RoutingTable,
        configured_models: Callable[[], Iterable[str]],
        unloaded_models: Callable[[], Iterable[str]] = frozenset,
    ) -> None:
        self._routing = routing
        self._configured_models = configured_models
        self._unloaded_models = unloaded_models

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        models = self._routing.snapshot.models
        unloaded = set(self._unloaded_models())
        for name in self._configured_models():
            if name in unloaded:
                continue
            route = models.get(name)
            if route is None or route.latest is None:
                return False
        return True

    def configured(self) -> list[str]:
        """The configured model names, in config order."""
        return list(self._configured_models())

    def is_configured(self, model_name: str) -> bool:
        return model_name in set(self._configured_models())

    def model_ready(self, ref: ModelRef) -> bool:
        try:
            self._routing.snapshot.resolve(ref.name, ref.version, ref.label)
        except ServingError:
            return False
        return True
