"""A V2 data plane over real actors, for the V2 frontends' unit tests (not collected).

The path poller scans a temporary model root, the source adapter makes ``FakeLoader``s
(numpy ``HalfPlusTwo`` servables, no TensorFlow), the version manager publishes the
routing snapshot, and the executor pool runs inference: the repository extension's
load and unload go through the same actors as in the server. Configured models:
- ``half``: version 1, y = 0.5 x + 2 (inputs ``x``, outputs ``y``, FP32, shape [-1, 1]);
- ``broken``: version 1, whose ``run`` raises ``RuntimeError`` (a bug in the model call);
- ``empty``: its base path holds no version, so it never becomes ready.
Requests are reported to a real ``app.metrics.ServerMetrics``, whose tally feeds the
statistics extension.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from actors.executor_pool import ExecutorPool, ExecutorPoolOptions
from actors.load_effects import LoadRetryOptions, TaskEffectRunner
from actors.path_poller import PathPoller
from actors.routing import RoutingTable
from actors.source_adapter import SourceAdapter
from actors.version_manager import VersionManager
from app.metrics import ServerMetrics
from config.model_config import ModelSettings
from dataplane.dataplane import DataPlane
from dataplane.health import Health
from dataplane.readiness import Readiness, readiness
from dataplane.repository import Repository
from dataplane.v2 import V2Plane
from protocol.signatures import Signature
from servables.loader import Loader
from servables.servable import Servable
from tests.unit.actors.fakes import FakeLoader, HalfPlusTwo


class Broken(HalfPlusTwo):
    def run(
        self, signature: Signature, inputs: Mapping[str, np.ndarray], output_names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        raise RuntimeError("the model call has a bug")


class BrokenLoader(FakeLoader):
    def load(self) -> Servable:
        return Broken(self.model_name, self.version)


def _loader(model_name: str, version: int, path: str) -> Loader:
    if model_name == "broken":
        return BrokenLoader(model_name, version)
    return FakeLoader(model_name, version)


def _version_folder(root: Path, name: str, version: int) -> None:
    folder = root / name / str(version)
    folder.mkdir(parents=True)
    artifact = folder / "saved_model.pb"
    artifact.write_bytes(b"")
    os.utime(artifact, (0, 0))  # settled long ago: loaded on first sight


class V2Served:
    """Every part of the V2 data plane, started by ``start()`` and stopped by ``stop()``."""

    def __init__(self, root: Path) -> None:
        _version_folder(root, "half", 1)
        _version_folder(root, "broken", 1)
        (root / "empty").mkdir()
        self.models = tuple(
            ModelSettings(name=name, base_path=str(root / name))
            for name in ("half", "broken", "empty")
        )
        self.routing = RoutingTable()
        self.metrics = ServerMetrics(model_known=lambda name: True)
        self.executor = ExecutorPool(
            ExecutorPoolOptions(inference_threads=1, load_threads=1, unload_threads=1)
        )
        self.manager = VersionManager(routing=self.routing)
        self.manager.set_effect_runner(
            TaskEffectRunner(
                manager=self.manager,
                executor=self.executor,
                retry=LoadRetryOptions(max_num_load_retries=0),
            )
        )
        self.adapter = SourceAdapter(
            platform_of=lambda name: "tensorflow",
            factories={"tensorflow": _loader},
            send=self.manager.post,
        )
        self.poller = PathPoller(
            models=self.models, send=self.adapter.post, poll_wait_seconds=3600.0
        )
        configured = lambda: [m.name for m in self.models]  # noqa: E731 - read at call time
        self.plane = DataPlane(routing=self.routing, executor=self.executor)
        self.v2 = V2Plane(
            plane=self.plane,
            health=Health(
                routing=self.routing, readiness=self.readiness, configured_models=configured
            ),
            repository=Repository(
                poller=self.poller,
                adapter=self.adapter,
                manager=self.manager,
                routing=self.routing,
                configured_models=configured,
            ),
            stats=self.metrics.model_stats,
        )

    def readiness(self) -> Readiness:
        unloaded = self.poller.unloaded
        names = [m.name for m in self.models if m.name not in unloaded]
        return readiness(self.routing.snapshot, names, draining=False)

    async def start(self) -> None:
        await self.executor.start()
        for actor in (self.manager, self.adapter, self.poller):
            await actor.start()
        for actor in (self.poller, self.adapter, self.manager):
            await actor.drain()
        await self.manager.wait_settled()

    async def stop(self) -> None:
        for actor in (self.poller, self.adapter, self.manager):
            await actor.stop(5)
        await self.executor.stop(5)

    def request_count(self, model: str, status: str) -> float:
        """``:tensorflow:serving:request_count{model_name=model, status=status}``."""
        return self.metrics.request_count.value(model, status)
