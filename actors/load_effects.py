"""The version manager's effect runner: loads and unloads as owned asyncio tasks.

The manager decides (``LoadVersion``, ``UnloadVersion``); ``TaskEffectRunner`` carries
each decision out on the executor pool and reports back to the manager's inbox:
- a load is attempted ``1 + max_num_load_retries`` times, ``load_retry_interval_micros``
  apart, each bounded by ``load_timeout_micros`` when set (a thread cannot be interrupted:
  a load that finishes after its timeout is unloaded at once). It stops retrying as soon as
  the version is no longer aspired. Success posts ``VersionLoaded``; the last failure posts
  ``VersionLoadFailed`` with the error's message and the loader's own status code
  (``load_error_code``: a ``ServingError``'s code, a TensorFlow error's ``error_code``,
  NOT_FOUND for a missing file, ...), which TF Serving publishes as the version's status.
- an unload waits until the servable's in-flight requests finished, then calls
  ``unload()`` on the unload lane and posts ``VersionUnloaded`` (also when ``unload()``
  failed: the version must not stay listed).
Every task is owned: ``wait_idle()`` returns once all have finished, and a task that dies
of a bug is logged and reported through ``wait_crashed()`` so the server shuts down.

While at least one load is awaited, the interpreter's switch interval is ``LOAD_SWITCH_INTERVAL_S``
instead of its own (5 ms by default), and it is put back when the last load ends. Why: a
load runs Python for seconds (TF's graph import builds an object per node), and each time a
request's thread wants the GIL back it waited up to a whole interval for the load thread to
let go, several times per request (``bench/load_stall.py``: with the interval shortened,
other models' p99 during a load went from 3.5x to 2.9x their p99 without one, in two
runs). The interval is process-wide, so it is shortened only for the length of the loads
(a load past its timeout no longer counts).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from typing import Protocol

from actors.messages import (
    LoadVersion,
    UnloadVersion,
    VersionLoaded,
    VersionLoadFailed,
    VersionUnloaded,
)
from protocol.status import Code, ServingError, safe_message
from servables.servable import Servable

log = logging.getLogger(__name__)


class ManagerInbox(Protocol):
    """What the runner needs of the version manager."""

    def post(self, message: VersionLoaded | VersionLoadFailed | VersionUnloaded) -> None: ...
    def is_aspired(self, model_name: str, version: int) -> bool: ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LoadRetryOptions:
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 1_000_000
    load_timeout_micros: int = 0  # 0: no timeout


class LoadObserver(Protocol):
    """Hooks for metrics; all optional in spirit (the default does nothing)."""

    def load_attempt(self, model_name: str, succeeded: bool) -> None: ...
    def load_latency_seconds(self, model_name: str, seconds: float) -> None: ...


class _NoObserver:
    def load_attempt(self, model_name: str, succeeded: bool) -> None:
        pass

    def load_latency_seconds(self, model_name: str, seconds: float) -> None:
        pass


LOAD_SWITCH_INTERVAL_S = 0.0005
"""The switch interval while a load runs (see the module docstring)."""


class _ShortSwitchInterval:
    """Counts the loads in progress; the first shortens the switch interval, the last restores it.

    Entered and left on the event loop only, so the count needs no lock.
    """

    def __init__(self) -> None:
        self._loads = 0
        self._saved_s = 0.0

    def __enter__(self) -> None:
        if self._loads == 0:
            self._saved_s = sys.getswitchinterval()
            sys.setswitchinterval(min(self._saved_s, LOAD_SWITCH_INTERVAL_S))
        self._loads += 1

    def __exit__(self, *exc_info: object) -> None:
        self._loads -= 1
        if self._loads == 0:
            sys.setswitchinterval(self._saved_s)


class TaskEffectRunner:
    """Runs load and unload effects as owned asyncio tasks using the executor pool."""

    def __init__(
        self,
        *,
        manager: ManagerInbox,
        executor: LoadExecutor,
        retry: LoadRetryOptions,
        observer: LoadObserver | None = None,
    ) -> None:
        self._manager = manager
        self._executor = executor
        self._retry = retry
        self._observer: LoadObserver = observer or _NoObserver()
        self._tasks: set[asyncio.Task[None]] = set()
        self._crashed: asyncio.Future[BaseException] | None = None
        self._short_switch_interval = _ShortSwitchInterval()

    def submit(self, effect: LoadVersion | UnloadVersion) -> None:
        coro = self._load(effect) if isinstance(effect, LoadVersion) else self._unload(effect)
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is None:
            return
        log.error("a load/unload task crashed", exc_info=error)
        if self._crashed is None:
            self._crashed = asyncio.get_running_loop().create_future()
        if not self._crashed.done():
            self._crashed.set_result(error)

    async def wait_crashed(self) -> BaseException:
        """Returns the error once a load or unload task died of a bug."""
        if self._crashed is None:
            self._crashed = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._crashed)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _load(self, effect: LoadVersion) -> None:
        attempts = 1 + max(0, self._retry.max_num_load_retries)
        error = "load was not attempted"
        code = Code.UNKNOWN
        for attempt in range(1, attempts + 1):
            if not self._manager.is_aspired(effect.model_name, effect.version):
                error = "load cancelled: the version is no longer aspired"
                code = Code.CANCELLED
                break
            started = time.monotonic()
            try:
                servable = await self._attempt(effect)
            except Exception as exc:  # noqa: BLE001 - any loader failure becomes the version's error
                error = load_error_text(effect, exc)
                code = load_error_code(exc)
                self._observer.load_attempt(effect.model_name, succeeded=False)
                log.warning(
                    "loading %s version %d failed (attempt %d of %d): %s",
                    effect.model_name,
                    effect.version,
                    attempt,
                    attempts,
                    error,
                )
                if attempt < attempts:
                    await asyncio.sleep(self._retry.load_retry_interval_micros / 1e6)
                continue
            self._observer.load_attempt(effect.model_name, succeeded=True)
            self._observer.load_latency_seconds(effect.model_name, time.monotonic() - started)
            self._manager.post(
                VersionLoaded(
                    model_name=effect.model_name, version=effect.version, servable=servable
                )
            )
            return
        self._manager.post(
            VersionLoadFailed(
                model_name=effect.model_name, version=effect.version, error=error, code=code
            )
        )

    async def _attempt(self, effect: LoadVersion) -> Servable:
        future = self._executor.run_load(effect.loader.load)
        with self._short_switch_interval:
            return await self._outcome(future)

    async def _outcome(self, future: asyncio.Future[Servable]) -> Servable:
        timeout_micros = self._retry.load_timeout_micros
        if not timeout_micros:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_micros / 1e6)
        except TimeoutError:
            # The thread cannot be interrupted; release whatever it produces later.
            future.add_done_callback(_unload_late_result)
            raise TimeoutError(
                f"load did not finish within {timeout_micros} microseconds"
            ) from None

    async def _unload(self, effect: UnloadVersion) -> None:
        await effect.servable.drained()
        try:
            await self._executor.run_unload(effect.servable.unload)
        except Exception:  # an unload failure must not keep the version listed
            log.exception("unloading %s version %d failed", effect.model_name, effect.version)
        self._manager.post(VersionUnloaded(model_name=effect.model_name, version=effect.version))


def _unload_late_result(future: asyncio.Future[Servable]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().unload()


MAX_LOAD_ERROR_CHARS = 2000
"""A load error's text in the version status is cut here: TF's messages can carry whole
graph stack traces, and the status travels in every GetModelStatus answer."""


_CODE_FOR_EXCEPTION: tuple[tuple[type[BaseException], Code], ...] = (
    (FileNotFoundError, Code.NOT_FOUND),
    (PermissionError, Code.PERMISSION_DENIED),
    (TimeoutError, Code.DEADLINE_EXCEEDED),
    (NotImplementedError, Code.UNIMPLEMENTED),
    (MemoryError, Code.RESOURCE_EXHAUSTED),
)


def load_error_code(error: BaseException) -> Code:
    """The status code a failed load publishes, as TF Serving publishes its loader's status.

    A ``ServingError`` (warmup, validation) carries its code; a TensorFlow ``OpError`` its
    ``error_code`` (read by duck typing: this module does not import TensorFlow); a few
    Python exceptions map to the code TF's file system would give; anything else is UNKNOWN.
    """
    if isinstance(error, ServingError):
        return error.code
    tf_code = getattr(error, "error_code", None)
    if isinstance(tf_code, int) and not isinstance(tf_code, bool):
        try:
            return Code(tf_code)
        except ValueError:
            return Code.UNKNOWN
    for kind, code in _CODE_FOR_EXCEPTION:
        if isinstance(error, kind):
            return code
    return Code.UNKNOWN


def load_error_text(effect: LoadVersion, error: BaseException) -> str:
    """The version's error: what was loaded from where, and the error's whole message.

    TF's first line alone ("DataLossError: Graph execution error:") names no cause, so the
    message is kept in full, its lines joined by " | " and cut to ``MAX_LOAD_ERROR_CHARS``.
    A ``ServingError``'s message stands alone (its code is published beside it); any other
    error is prefixed with its type's name.
    """
    message = error.message if isinstance(error, ServingError) else str(error)
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    text = " | ".join(lines)
    if not isinstance(error, ServingError):
        text = f"{type(error).__name__}: {text}"
    where = effect.loader.path
    if where and where not in text:
        text = f"{text} (loading {where})"
    return safe_message(text, MAX_LOAD_ERROR_CHARS)


class LoadExecutor(Protocol):
    def run_load(self, fn: Callable[[], Servable]) -> asyncio.Future[Servable]: ...
    def run_unload(self, fn: Callable[[], None]) -> asyncio.Future[None]: ...
