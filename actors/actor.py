"""The minimal actor: an asyncio task that owns its state and reads one inbox.

Contract:
- ``post(message)`` enqueues without waiting (the inbox is an ``actors.mailbox.Mailbox``,
  read only by the actor's task); the actor handles messages one at a time, in order, in
  ``handle(message)``. Unit tests call ``handle`` directly.
- ``ask(message)`` posts the message in an ``Envelope`` beside a reply future and awaits
  it: the reply is what ``handle`` returned, and an exception ``handle`` raised goes back
  to the caller (the actor keeps running; the error was the request's, not the actor's).
- ``start()`` runs ``on_start()``, then spawns the task: the actor is ready when it
  returns. ``stop(grace_seconds)`` lets already-queued messages be handled, within the
  grace period, cancels the actor's background tasks, then runs ``on_stop()`` (which may
  still read the inbox, as the batcher's flush does); an ``ask`` still unanswered after
  that gets UNAVAILABLE, so no caller hangs.
- ``drain()`` returns once everything posted before it was handled; start-up uses it to
  know that the first poll's versions reached the version manager.
- A bug in ``handle`` for a posted message crashes the actor loudly: the exception is
  logged and re-raised from the task, and the supervisor watches every actor task and
  shuts the server down when one dies. Background tasks an actor spawns (tickers) are
  created with ``spawn``, which treats their failure the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

from actors.mailbox import Mailbox
from protocol.status import unavailable

M = TypeVar("M")

log = logging.getLogger(__name__)


class _StopSentinel:
    __slots__ = ()


_STOP = _StopSentinel()


@dataclasses.dataclass(frozen=True, slots=True)
class _Barrier:
    """Answered once every message posted before it has been handled."""

    done: asyncio.Future[None]


@dataclasses.dataclass(frozen=True, slots=True)
class Envelope(Generic[M]):
    """A message and, beside it, the future that receives ``handle``'s answer."""

    message: M
    reply: asyncio.Future[Any]


class Actor(Generic[M]):
    """Base class: subclasses implement ``handle`` and optionally the lifecycle hooks."""

    name: str = "actor"

    def __init__(self) -> None:
        self._inbox: Mailbox[M | Envelope[M] | _StopSentinel | _Barrier] = Mailbox()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._crash: asyncio.Future[BaseException] | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def post(self, message: M) -> None:
        """Queue ``message`` for this actor; never blocks."""
        self._inbox.put_nowait(message)

    async def ask(self, message: M) -> Any:
        """Post ``message`` and await ``handle``'s answer (or its exception)."""
        if self._task is None or self._task.done():
            raise unavailable(f"{self.name} is not running")
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(Envelope(message, reply))
        return await reply

    async def handle(self, message: M) -> object:
        raise NotImplementedError

    async def drain(self) -> None:
        """Returns once every message posted before this call has been handled."""
        if self._task is None or self._task.done():
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Barrier(done))
        await done

    async def on_start(self) -> None:
        """Runs before the first message; the actor is ready when it returns."""

    async def on_stop(self) -> None:
        """Runs after the last message was handled."""

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"{self.name} was already started; create a new actor instead")
        self._crash = asyncio.get_running_loop().create_future()
        await self.on_start()
        self._task = asyncio.create_task(self._run(), name=self.name)
        self._task.add_done_callback(self._task_done)

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run a background task owned by this actor; its failure crashes the actor."""
        task = asyncio.get_running_loop().create_task(coroutine, name=f"{self.name}:{name}")
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error(
                "background task %s of %s crashed", task.get_name(), self.name, exc_info=error
            )
            self._set_crashed(error)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self._set_crashed(error)

    def _set_crashed(self, error: BaseException) -> None:
        if self._crash is not None and not self._crash.done():
            self._crash.set_result(error)

    async def wait_crashed(self) -> BaseException:
        """Returns the error once the actor's task or one of its background tasks died."""
        if self._crash is None:
            raise RuntimeError(f"call {self.name}.start() before waiting for a crash")
        return await asyncio.shield(self._crash)

    async def _run(self) -> None:
        try:
            while True:
                message = await self._inbox.get()
                if isinstance(message, _StopSentinel):
                    return
                if isinstance(message, _Barrier):
                    if not message.done.done():
                        message.done.set_result(None)
                    continue
                if isinstance(message, Envelope):
                    await self._answer(message)
                    continue
                await self.handle(message)
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.exception("actor %s crashed", self.name)
            raise

    async def _answer(self, envelope: Envelope[M]) -> None:
        try:
            result = await self.handle(envelope.message)
        except asyncio.CancelledError:
            # stop() cancelled us past its grace period: the asker must not wait forever.
            if not envelope.reply.done():
                envelope.reply.set_exception(
                    unavailable(f"{self.name} stopped while handling the request")
                )
            raise
        except Exception as error:  # noqa: BLE001 - the asker gets its own error back
            if not envelope.reply.done():
                envelope.reply.set_exception(error)
            return
        if not envelope.reply.done():
            envelope.reply.set_result(result)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Handle what is queued (within ``grace_seconds``), then stop; see the module doc.

        Safe to call on a crashed or unstarted actor.
        """
        if self._task is not None and not self._task.done():
            self._inbox.put_nowait(_STOP)
            # A crash was already logged by _run; stopping must still run on_stop.
            with contextlib.suppress(Exception, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        for task in list(self._background):
            task.cancel()
        await self.on_stop()
        self._fail_pending()

    def _fail_pending(self) -> None:
        while not self._inbox.empty():
            message = self._inbox.get_nowait()
            if isinstance(message, Envelope) and not message.reply.done():
                message.reply.set_exception(unavailable(f"{self.name} stopped"))
            elif isinstance(message, _Barrier) and not message.done.done():
                message.done.set_result(None)
