"""The version manager: the life cycle of every model version, and the routing snapshot.

It is the single owner of version state. Its inbox receives aspired-loader requests from
the source adapter, configuration commands (labels, model removal), and the events its
own load and unload tasks post back. ``handle(message)`` updates state, decides the next
actions, publishes a fresh ``RoutingSnapshot`` and hands each action (``LoadVersion`` or
``UnloadVersion``) to an effect runner; it returns those actions so tests can drive the
manager one step at a time with a recording runner.

Which action comes next is decided by ``actors.transition_policy.next_action``
(availability- or resource-preserving), a pure function the manager calls until it has
nothing more to do; the manager only keeps the states and applies the actions.

A version that becomes aspired enters START. A version whose load failed stays in END
with its error and is not retried while it remains aspired; if it leaves the aspired set
and comes back, it is loaded again. A load that completes for a version the manager no
longer expects (it cannot happen with one loader per version) is unloaded at once.
Labels point at versions; a label is published only while its version is AVAILABLE,
unless ``allow_labels_for_unavailable`` is set.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import types
from typing import Protocol

from actors.actor import Actor
from actors.messages import (
    AspiredLoadersRequest,
    LoadVersion,
    RemoveModel,
    SetModelLabels,
    UnloadVersion,
    VersionLoaded,
    VersionLoadFailed,
    VersionUnloaded,
)
from actors.routing import ModelRoute, RoutingSnapshot, RoutingTable
from actors.transition_policy import Load, VersionView, next_action
from protocol.status import Code
from protocol.versions import VersionState, VersionStatus
from servables.loader import Loader
from servables.servable import Servable

log = logging.getLogger(__name__)

ManagerMessage = (
    AspiredLoadersRequest
    | SetModelLabels
    | RemoveModel
    | VersionLoaded
    | VersionLoadFailed
    | VersionUnloaded
)
Effect = LoadVersion | UnloadVersion


class EffectRunner(Protocol):
    """Carries out the manager's decisions; the real one is ``actors.load_effects``."""

    def submit(self, effect: Effect) -> None: ...
    async def wait_idle(self) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ManagerOptions:
    resource_preserving: bool = False
    allow_labels_for_unavailable: bool = False


@dataclasses.dataclass(slots=True)
class _Version:
    version: int
    state: VersionState
    loader: Loader | None = None
    servable: Servable | None = None
    error: str | None = None
    error_code: Code = Code.UNKNOWN
    # Set when the load failed while aspired: not retried until it leaves the aspired set.
    failed_while_aspired: bool = False


@dataclasses.dataclass(slots=True)
class _Model:
    name: str
    aspired: dict[int, Loader] = dataclasses.field(default_factory=dict)
    versions: dict[int, _Version] = dataclasses.field(default_factory=dict)
    labels: dict[str, int] = dataclasses.field(default_factory=dict)

    def available(self) -> list[int]:
        return [v for v, r in self.versions.items() if r.state is VersionState.AVAILABLE]


class VersionManager(Actor[ManagerMessage]):
    """Owns every model's versions; see the module docstring for the policy."""

    name = "version_manager"

    def __init__(
        self,
        *,
        routing: RoutingTable,
        effects: EffectRunner | None = None,
        options: ManagerOptions = ManagerOptions(),
    ) -> None:
        super().__init__()
        self._routing = routing
        self._options = options
        self._effects = effects
        self._models: dict[str, _Model] = {}
        self._settled = asyncio.Event()
        self._settled.set()
        self._idle_waiters: dict[str, list[asyncio.Future[None]]] = {}

    def set_effect_runner(self, effects: EffectRunner) -> None:
        self._effects = effects

    # --- the step ------------------------------------------------------------------------

    async def handle(self, message: ManagerMessage) -> list[Effect]:
        return self.step(message)

    def step(self, message: ManagerMessage) -> list[Effect]:
        """Apply one message; publish the new snapshot; submit and return the actions."""
        model = self._model(message.model_name)
        effects: list[Effect] = []
        if isinstance(message, AspiredLoadersRequest):
            self._on_aspired(model, {a.version: a.loader for a in message.loaders})
        elif isinstance(message, RemoveModel):
            self._on_aspired(model, {})
        elif isinstance(message, SetModelLabels):
            model.labels = dict(message.labels)
        elif isinstance(message, VersionLoaded):
            effects += self._on_loaded(model, message)
        elif isinstance(message, VersionLoadFailed):
            self._on_load_failed(model, message)
        elif isinstance(message, VersionUnloaded):
            record = model.versions.get(message.version)
            if record is not None and record.state is VersionState.UNLOADING:
                record.state = VersionState.END
                record.servable = None
                log.info("unloaded %s version %d", model.name, message.version)
        else:  # pragma: no cover - the Union above is exhaustive
            raise TypeError(f"version manager cannot handle {message!r}")
        effects += self._reconcile(model)
        self._publish()
        self._update_settled()
        self._wake_idle(model)
        if self._effects is not None:
            for effect in effects:
                self._effects.submit(effect)
        return effects

    # --- state queries (used by effect tasks, reload validation and tests) ----------------

    def state_of(self, model_name: str, version: int) -> VersionState | None:
        model = self._models.get(model_name)
        record = model.versions.get(version) if model else None
        return record.state if record else None

    def is_aspired(self, model_name: str, version: int) -> bool:
        model = self._models.get(model_name)
        return model is not None and version in model.aspired

    def model_names(self) -> list[str]:
        return list(self._models)

    async def wait_settled(self) -> None:
        """Returns once no version is START or LOADING."""
        await self._settled.wait()

    async def wait_model_idle(self, model_name: str) -> None:
        """Returns once no version of the model is START, LOADING or UNLOADING.

        Call it after the change of interest reached this actor (``drain()``): it does not
        know which change the caller waits for, only that nothing is in motion any more.
        """
        model = self._models.get(model_name)
        if model is None or not self._busy(model, with_unloading=True):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.setdefault(model_name, []).append(waiter)
        await waiter

    @staticmethod
    def _busy(model: _Model, *, with_unloading: bool) -> bool:
        moving: tuple[VersionState, ...] = (VersionState.START, VersionState.LOADING)
        if with_unloading:
            moving += (VersionState.UNLOADING,)
        return any(r.state in moving for r in model.versions.values())

    def _wake_idle(self, model: _Model) -> None:
        if model.name not in self._idle_waiters or self._busy(model, with_unloading=True):
            return
        for waiter in self._idle_waiters.pop(model.name):
            if not waiter.done():
                waiter.set_result(None)

    # --- transitions -----------------------------------------------------------------------

    def _model(self, name: str) -> _Model:
        model = self._models.get(name)
        if model is None:
            model = self._models[name] = _Model(name)
        return model

    def _on_aspired(self, model: _Model, aspired: dict[int, Loader]) -> None:
        for version in list(model.versions):
            record = model.versions[version]
            if version in aspired:
                continue
            record.failed_while_aspired = False
            if record.state is VersionState.START:
                del model.versions[version]  # never began loading: nothing to report
        model.aspired = aspired
        for version, loader in aspired.items():
            known = model.versions.get(version)
            if known is None or (
                known.state is VersionState.END and not known.failed_while_aspired
            ):
                model.versions[version] = _Version(version, VersionState.START, loader)
            elif known.state is VersionState.START:
                known.loader = loader

    def _on_loaded(self, model: _Model, event: VersionLoaded) -> list[Effect]:
        record = model.versions.get(event.version)
        if record is None or record.state is not VersionState.LOADING:
            # Cannot happen with one loader per version; release what was loaded.
            log.error("unexpected load of %s version %d; unloading it", model.name, event.version)
            return [
                UnloadVersion(model_name=model.name, version=event.version, servable=event.servable)
            ]
        record.state = VersionState.AVAILABLE
        record.servable = event.servable
        record.error = None
        log.info("%s version %d is AVAILABLE", model.name, event.version)
        return []

    def _on_load_failed(self, model: _Model, event: VersionLoadFailed) -> None:
        record = model.versions.get(event.version)
        if record is None:
            return
        record.state = VersionState.END
        record.error = event.error
        record.error_code = event.code
        record.failed_while_aspired = event.version in model.aspired
        log.error("%s version %d failed to load: %s", model.name, event.version, event.error)

    def _reconcile(self, model: _Model) -> list[Effect]:
        """Apply the transition policy's actions until it has none left."""
        effects: list[Effect] = []
        while True:
            views = [
                VersionView(version=v, state=r.state, aspired=v in model.aspired)
                for v, r in model.versions.items()
            ]
            action = next_action(views, resource_preserving=self._options.resource_preserving)
            if action is None:
                return effects
            record = model.versions[action.version]
            if isinstance(action, Load):
                assert record.loader is not None
                record.state = VersionState.LOADING
                log.info("loading %s", record.loader.describe())
                effects.append(
                    LoadVersion(model_name=model.name, version=action.version, loader=record.loader)
                )
            else:
                assert record.servable is not None
                record.state = VersionState.UNLOADING
                log.info("unloading %s version %d", model.name, action.version)
                effects.append(
                    UnloadVersion(
                        model_name=model.name, version=action.version, servable=record.servable
                    )
                )

    # --- publication -------------------------------------------------------------------------

    def _publish(self) -> None:
        self._routing.publish(
            RoutingSnapshot(
                types.MappingProxyType({m.name: self._route(m) for m in self._models.values()})
            )
        )

    def _route(self, model: _Model) -> ModelRoute:
        servables = {
            v: r.servable
            for v, r in model.versions.items()
            if r.state is VersionState.AVAILABLE and r.servable is not None
        }
        labels = {
            label: version
            for label, version in model.labels.items()
            if version in servables or self._options.allow_labels_for_unavailable
        }
        statuses = {
            v: VersionStatus(version=v, state=r.state, error=r.error, error_code=r.error_code)
            for v, r in model.versions.items()
        }
        latest = servables[max(servables)] if servables else None
        return ModelRoute(
            name=model.name,
            servables=types.MappingProxyType(servables),
            labels=types.MappingProxyType(labels),
            statuses=types.MappingProxyType(statuses),
            latest=latest,
        )

    def _update_settled(self) -> None:
        busy = any(
            r.state in (VersionState.START, VersionState.LOADING)
            for m in self._models.values()
            for r in m.versions.values()
        )
        if busy:
            self._settled.clear()
        else:
            self._settled.set()

    # --- shutdown ------------------------------------------------------------------------------

    def unload_everything(self) -> list[Effect]:
        """At shutdown: drop every model's aspired set so all versions unload."""
        effects: list[Effect] = []
        for name in list(self._models):
            effects.extend(self.step(RemoveModel(model_name=name)))
        return effects

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Handle what is queued, unload every version (each after its in-flight requests
        finished) and wait for the unloads, then stop."""
        await self.drain()
        self.unload_everything()
        if self._effects is not None:
            try:
                async with asyncio.timeout(grace_seconds):
                    await self._effects.wait_idle()
            except TimeoutError:
                log.warning("versions still loading or unloading after %ss", grace_seconds)
        await super().stop(grace_seconds)
