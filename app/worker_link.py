"""One worker of ``--workers N``: its private socket, and what makes N workers one server.

Each worker is a whole server process (its own actors, loop, models). ``app.workers``, the
parent, gives each worker a shared run directory and an index through the environment
(``AIOSERVING_WORKER_DIR``, ``AIOSERVING_WORKER_INDEX``). ``WorkerLink`` serves a small
HTTP API on the private UNIX socket ``<dir>/worker-<index>.sock`` (mode 0600 directory):

- ``GET /metrics``: this worker's own registry, unmerged (its own request counts).
- ``POST /reload``: a serialized ``ModelServerConfig``, applied to this worker only.

**Metrics.** We chose scraping over prometheus-client's multiprocess mode. Multiprocess mode
only covers prometheus-client's own metric classes (our counters keep TF Serving's exact
names through a custom collector, ``app.metrics``), needs ``PROMETHEUS_MULTIPROC_DIR``
before the first import, and drops the process collectors. Here, the worker that answers
``/metrics`` reads its siblings' ``/metrics`` over their sockets (concurrently, each bounded
by ``SCRAPE_TIMEOUT_SECONDS``) and merges the text (``merge_expositions``): samples with
the same name and labels are summed (counters, histogram buckets, counts and sums),
``*_created`` takes the earliest; ``process_*`` and ``python_*`` series describe one
process each, so they are kept apart with a ``worker`` label instead. A sibling that does
not answer (restarting) is left out of that scrape and logged; a restarted worker starts
its counts from zero, which Prometheus reads as a counter reset, as after any restart.

**Reload.** ``FanOutReloader`` stands in for the config reloader in the gRPC ModelService:
``HandleReloadConfigRequest`` on any worker validates and applies the config locally
(a bad config is rejected there, nothing forwarded), records it in ``<dir>/reloaded_config.pb``
so that a worker started later (a restart) applies it before it opens its ports (unless
a polled ``--model_config_file`` was edited since, which every worker read), then sends
it to every sibling and waits for their answers. A sibling that fails makes the RPC fail
with that sibling's status, naming it. A file lock (``<dir>/reload.lock``) serializes whole
reloads, so two reloads through two workers cannot leave them with different configs.

**Status.** Each worker polls the model folders itself every
``--file_system_poll_wait_seconds``, and (with ``--model_config_file_poll_wait_seconds``)
the config file; a new version on disk is therefore served by every worker, and status
answers agree, within one poll period plus the load time, the poll clocks being
independent. After a ``HandleReloadConfigRequest`` the workers agree when the RPC returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.config import model_server_config_pb2

from app.metrics import declare_exact_counters
from protocol.status import Code, ServingError

log = logging.getLogger("aioserving")

WORKER_DIR_ENV = "AIOSERVING_WORKER_DIR"
WORKER_INDEX_ENV = "AIOSERVING_WORKER_INDEX"
RELOADED_CONFIG = "reloaded_config.pb"
SCRAPE_TIMEOUT_SECONDS = 2.0
FORWARD_TIMEOUT_SECONDS = 300.0
# Series that describe one process: labelled by worker, never summed.
_PER_PROCESS_PREFIXES = ("process_", "python_")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerIdentity:
    index: int
    run_dir: Path

    @classmethod
    def from_environment(cls) -> WorkerIdentity | None:
        """The identity the parent gave this process, or None when it is not a worker."""
        run_dir = os.environ.get(WORKER_DIR_ENV)
        if not run_dir:
            return None
        return cls(index=int(os.environ.get(WORKER_INDEX_ENV, "0")), run_dir=Path(run_dir))

    @property
    def socket_path(self) -> Path:
        return socket_path(self.run_dir, self.index)


def socket_path(run_dir: Path, index: int) -> Path:
    return run_dir / f"worker-{index}.sock"


def sibling_sockets(identity: WorkerIdentity) -> list[tuple[int, Path]]:
    """Every other worker's socket that exists now, by index."""
    found = []
    for path in sorted(identity.run_dir.glob("worker-*.sock")):
        index = int(path.stem.removeprefix("worker-"))
        if index != identity.index:
            found.append((index, path))
    return found


class LocalReloader(Protocol):
    """What the config reloader offers: validate and apply one ``ModelServerConfig``."""

    async def reload(self, config: model_server_config_pb2.ModelServerConfig) -> None: ...


def merge_expositions(expositions: Sequence[tuple[int, str]]) -> bytes:
    """Merge Prometheus text expositions, one per worker index (see the module docstring)."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for index, text in expositions:
        for family in text_string_to_metric_families(text):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(
                    family.name, family.documentation, family.type
                )
                values[family.name] = {}
            per_process = family.name.startswith(_PER_PROCESS_PREFIXES)
            samples = values[family.name]
            for sample in family.samples:
                labels = dict(sample.labels)
                if per_process:
                    labels["worker"] = str(index)
                key = (sample.name, tuple(labels.items()))
                if key not in samples:
                    samples[key] = sample.value
                elif sample.name.endswith("_created"):
                    samples[key] = min(samples[key], sample.value)
                else:
                    samples[key] += sample.value
    for name, family in families.items():
        for (sample_name, label_items), value in values[name].items():
            family.add_sample(sample_name, dict(label_items), value)

    class _Merged:
        def collect(self) -> Iterator[Metric]:
            yield from families.values()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged())  # any object with collect() serves
    return declare_exact_counters(generate_latest(registry))


@contextlib.asynccontextmanager
async def _reload_lock(run_dir: Path) -> AsyncIterator[None]:
    """The server-wide reload lock (an flock, taken on a thread so the loop keeps serving)."""
    with open(run_dir / "reload.lock", "a+b") as lock_file:
        await asyncio.to_thread(fcntl.flock, lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


class WorkerLink:
    """The private socket of one worker (a ``Part``: start / stop)."""

    name = "worker_link"

    def __init__(
        self,
        identity: WorkerIdentity,
        *,
        reloader: LocalReloader,
        exposition: Callable[[], bytes],
        polled_config_file: Path | None = None,
    ) -> None:
        self.identity = identity
        # --model_config_file when it is re-read: an edit newer than the last reload wins.
        self._polled_config_file = polled_config_file
        self._reloader = reloader
        self._exposition = exposition
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=64 * 1024**2)
        self.app.router.add_get("/metrics", self._own_metrics)
        self.app.router.add_post("/reload", self._reload_here)

    async def start(self) -> None:
        """Apply a config reloaded before this worker started, then open the socket.

        Both under the reload lock: a reload either finished before (and is read from the
        file) or starts after (and finds this socket).
        """
        async with _reload_lock(self.identity.run_dir):
            recorded = self.identity.run_dir / RELOADED_CONFIG
            if recorded.exists() and not self._config_file_is_newer(recorded):
                config = model_server_config_pb2.ModelServerConfig.FromString(recorded.read_bytes())
                log.info(
                    "worker %d: applying the config reloaded while it was away", self.identity.index
                )
                await self._reloader.reload(config)
            path = self.identity.socket_path
            path.unlink(missing_ok=True)  # left by the worker this one replaces
            self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
            await self._runner.setup()
            await web.UnixSite(self._runner, str(path)).start()

    def _config_file_is_newer(self, recorded: Path) -> bool:
        """The polled config file was edited after the last reload (the siblings read it)."""
        polled = self._polled_config_file
        return polled is not None and polled.stat().st_mtime > recorded.stat().st_mtime

    async def stop(self, grace_seconds: float) -> None:
        if self._runner is not None:
            self.identity.socket_path.unlink(missing_ok=True)
            await self._runner.cleanup()
            self._runner = None

    async def _own_metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._exposition(), content_type="text/plain")

    async def _reload_here(self, request: web.Request) -> web.Response:
        config = model_server_config_pb2.ModelServerConfig.FromString(await request.read())
        try:
            await self._reloader.reload(config)
        except ServingError as error:
            return web.json_response(
                {"code": error.code.name, "message": error.message}, status=409
            )
        return web.json_response({"code": "OK"})

    # --- for the worker that answers -----------------------------------------------------

    async def ask_siblings(
        self, timeout_seconds: float, ask: Callable[[aiohttp.ClientSession], Awaitable[str]]
    ) -> list[tuple[int, str | BaseException]]:
        async def one(index: int, path: Path) -> tuple[int, str | BaseException]:
            try:
                connector = aiohttp.UnixConnector(path=str(path))
                timeout = aiohttp.ClientTimeout(total=timeout_seconds)
                async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                    return index, await ask(session)
            except (aiohttp.ClientError, OSError, TimeoutError) as error:  # reported, never raised
                return index, error

        return list(await asyncio.gather(*(one(i, p) for i, p in sibling_sockets(self.identity))))

    async def merged_exposition(self) -> bytes:
        """The whole server's metrics: this worker's, merged with every sibling's."""

        async def scrape(session: aiohttp.ClientSession) -> str:
            async with session.get("http://worker/metrics") as response:
                response.raise_for_status()
                return await response.text()

        texts = [(self.identity.index, self._exposition().decode())]
        for index, answer in await self.ask_siblings(SCRAPE_TIMEOUT_SECONDS, scrape):
            if isinstance(answer, BaseException):
                log.warning("worker %d left out of /metrics: %r", index, answer)
            else:
                texts.append((index, answer))
        return merge_expositions(texts)


class FanOutReloader:
    """``HandleReloadConfigRequest`` for the whole server (see the module docstring)."""

    def __init__(self, link: WorkerLink, local: LocalReloader) -> None:
        self._link = link
        self._local = local

    async def reload(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        identity = self._link.identity
        body = config.SerializeToString()
        async with _reload_lock(identity.run_dir):
            await self._local.reload(config)  # validation errors end the RPC here, unforwarded
            recorded = identity.run_dir / RELOADED_CONFIG
            temporary = recorded.with_name(RELOADED_CONFIG + ".tmp")
            temporary.write_bytes(body)
            os.replace(temporary, recorded)

            async def forward(session: aiohttp.ClientSession) -> str:
                async with session.post("http://worker/reload", data=body) as response:
                    return await response.text() if response.status != 200 else ""

            failures = []
            for index, answer in await self._link.ask_siblings(FORWARD_TIMEOUT_SECONDS, forward):
                if isinstance(answer, BaseException):
                    failures.append(f"worker {index}: {answer!r}")
                elif answer:
                    failures.append(f"worker {index}: {answer}")
            if failures:
                raise ServingError(
                    Code.UNAVAILABLE,
                    f"the config was applied on worker {identity.index} but not on every worker: "
                    + "; ".join(failures),
                )
