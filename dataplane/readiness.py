"""Readiness: is the server (and is each model) ready to serve? One answer for every API.

``readiness(routing, configured_models, draining)`` reads one routing snapshot and
returns a frozen ``Readiness``. It is a pure function of its arguments, does no I/O and
never waits, so a health probe is answered at once even when every inference queue is
full. Both the gRPC health service (``frontends.grpc_health``) and the REST health
endpoints call it.

- A model is ready when it has at least one AVAILABLE version. Otherwise its ``reason``
  says why: no version seen yet, a version still loading (or unloading), or a version
  that failed, with the load error.
- The server is ready when every configured model is ready and it is not draining
  (after SIGTERM readiness turns false at once, see ``server.py``). ``reasons`` lists
  every cause, e.g. ``model 'm': version 3 failed to load: ...``.
- A model that is served but no longer configured (an old config's, still unloading)
  does not count for the server's readiness; it is still answered when asked by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from actors.routing import ModelRoute, RoutingSnapshot
from protocol.versions import VersionState

DRAINING_REASON = "the server is draining (shutdown requested)"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ModelReadiness:
    """One model's readiness; ``reason`` is empty when ready."""

    name: str
    ready: bool
    reason: str = ""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Readiness:
    """The server's readiness and each configured model's, in configuration order."""

    ready: bool
    draining: bool
    models: tuple[ModelReadiness, ...]
    reasons: tuple[str, ...]
    """Why the server is not ready; empty when it is."""
    _routing: RoutingSnapshot = dataclasses.field(repr=False, compare=False)

    def model(self, name: str) -> ModelReadiness | None:
        """A model's readiness, configured or still in the routing snapshot; ``None``: unknown."""
        for model in self.models:
            if model.name == name:
                return model
        route = self._routing.models.get(name)
        return None if route is None else model_readiness(name, route)


def readiness(
    routing: RoutingSnapshot, configured_models: Iterable[str], draining: bool
) -> Readiness:
    """The readiness of the server and of each configured model; see the module docstring."""
    models = tuple(model_readiness(name, routing.models.get(name)) for name in configured_models)
    reasons = [f"model '{model.name}': {model.reason}" for model in models if not model.ready]
    if draining:
        reasons.insert(0, DRAINING_REASON)
    return Readiness(
        ready=not reasons,
        draining=draining,
        models=models,
        reasons=tuple(reasons),
        _routing=routing,
    )


def model_readiness(name: str, route: ModelRoute | None) -> ModelReadiness:
    """Ready with an AVAILABLE version; otherwise the newest version's state says why."""
    statuses = route.statuses if route is not None else {}
    if any(status.state is VersionState.AVAILABLE for status in statuses.values()):
        return ModelReadiness(name=name, ready=True)
    if not statuses:
        return ModelReadiness(name=name, ready=False, reason="no version found or loaded yet")
    newest = statuses[max(statuses)]
    if newest.error:
        reason = f"version {newest.version} failed to load: {newest.error}"
    elif newest.state is VersionState.END:
        reason = f"version {newest.version} was unloaded and no version is available"
    else:
        reason = f"version {newest.version} is {newest.state.name}, none is AVAILABLE yet"
    return ModelReadiness(name=name, ready=False, reason=reason)
