"""The executor pool: threads that run blocking model work off the event loop.

Three lanes, so that one kind of work never starves another:
- inference: model calls (batches). TensorFlow releases the GIL while it computes, so a
  few threads overlap well;
- load: SavedModel restores and warmup (``--num_load_threads``);
- unload: session teardown (``--num_unload_threads``).

Each lane is a few threads reading one ``queue.SimpleQueue`` (the pool's inbox): a job
carries its callable and a completion callback, and the worker hands the outcome back
with one ``loop.call_soon_threadsafe``. This is the whole hand-off; ``loop.run_in_executor``
adds a ``concurrent.futures.Future``, a condition variable and a second callback chain,
which measured about twice the cost per call, and far more under contention (see
``bench/RESULTS.md``).

Two ways to submit:
- ``run_*(fn, *args)`` returns an asyncio future. ``release``, when given, runs on the loop
  once the job is over (ran, failed, or was skipped because the caller gave up first and
  cancelled the future): this is how a request's in-flight count outlives an impatient
  client without outliving the model call.
- ``run_inference_then(fn, args, done)`` calls ``done(result, error)`` on the loop when the
  job finished; the batcher uses it to hand a batch's rows straight to each request.

``stop()`` lets queued and running work finish (in-flight requests are answered), then
ends the threads; submitting after ``stop()`` raises UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from protocol.status import unavailable

T = TypeVar("T")

log = logging.getLogger(__name__)

Done = Callable[[Any, BaseException | None], None]
_Job = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any] | None",
    Callable[..., Any],
    tuple[object, ...],
    Done,
]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ExecutorPoolOptions:
    inference_threads: int = 0  # 0: one per CPU
    load_threads: int = 1
    unload_threads: int = 1

    def resolved(self) -> tuple[int, int, int]:
        cpus = os.cpu_count() or 1
        return (
            self.inference_threads or cpus,
            max(1, self.load_threads),
            max(1, self.unload_threads),
        )


def _settle(
    future: asyncio.Future[Any],
    release: Callable[[], None] | None,
    result: Any,
    error: BaseException | None,
) -> None:
    if release is not None:
        release()
    if future.done():
        return  # the caller gave up
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _SkippedError(Exception):
    """The caller cancelled before the job started; it never ran."""


class _Lane:
    """``threads`` workers sharing one job queue."""

    def __init__(self, name: str, threads: int) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(
        self,
        fn: Callable[..., T],
        args: tuple[object, ...],
        release: Callable[[], None] | None = None,
    ) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn, args, functools.partial(_settle, future, release)))
        return future

    def submit_then(self, fn: Callable[..., Any], args: tuple[object, ...], done: Done) -> None:
        self._jobs.put((asyncio.get_running_loop(), None, fn, args, done))

    def _work(self) -> None:
        # Each job runs in its own call, so that its inputs and result are released when it
        # ends: kept as loop variables, a request's tensors stayed alive, one set per thread,
        # until that thread's next job (hundreds of MB after one large request).
        while True:
            job = self._jobs.get()
            if job is None or not self._run(job):
                return
            del job  # its future holds the result: not until the next job arrives

    @staticmethod
    def _run(job: _Job) -> bool:
        """Run one job and hand its answer to the loop; False once the loop is closed."""
        loop, future, fn, args, done = job
        result: Any = None
        error: BaseException | None
        if future is not None and future.cancelled():
            error = _SkippedError()
        else:
            try:
                result, error = fn(*args), None
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
                result, error = None, exc
        try:
            loop.call_soon_threadsafe(done, result, error)
        except RuntimeError:
            return False  # the loop is closed: nobody is waiting any more
        return True

    def close(self) -> None:
        """Ask every worker to stop after the queued jobs, and wait for them."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join()


class ExecutorPool:
    """Owns the lanes; ``run_*`` submit work and return awaitables."""

    name = "executor_pool"

    def __init__(self, options: ExecutorPoolOptions) -> None:
        self.options = options
        inference, load, unload = options.resolved()
        self.inference_threads = inference
        self._inference = _Lane("inference", inference)
        self._load = _Lane("load", load)
        self._unload = _Lane("unload", unload)
        self._stopped = False

    async def start(self) -> None:
        """Start the threads; nothing runs before this."""
        for lane in (self._inference, self._load, self._unload):
            lane.start()
        log.info(
            "executor pool ready: %d inference, %d load, %d unload threads",
            *self.options.resolved(),
        )

    def _submit(
        self,
        lane: _Lane,
        fn: Callable[..., T],
        args: tuple[object, ...],
        release: Callable[[], None] | None = None,
    ) -> asyncio.Future[T]:
        if self._stopped:
            raise unavailable("the server is shutting down")
        return lane.submit(fn, args, release)

    def run_inference(
        self, fn: Callable[..., T], *args: object, release: Callable[[], None] | None = None
    ) -> asyncio.Future[T]:
        return self._submit(self._inference, fn, args, release)

    def run_inference_then(
        self, fn: Callable[..., Any], args: tuple[object, ...], done: Done
    ) -> None:
        """Run ``fn(*args)``; ``done(result, error)`` is called on the loop afterwards."""
        if self._stopped:
            raise unavailable("the server is shutting down")
        self._inference.submit_then(fn, args, done)

    def run_load(self, fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
        return self._submit(self._load, fn, args)

    def run_unload(self, fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
        return self._submit(self._unload, fn, args)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Finish queued and running work, then end the threads (called last at shutdown).

        Model calls cannot be interrupted, so ``grace_seconds`` is not enforced here: the
        frontends and the batcher, stopped before, already bounded what is left.
        """
        self._stopped = True
        for lane in (self._inference, self._unload, self._load):
            await asyncio.to_thread(lane.close)
