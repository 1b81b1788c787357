"""The batcher: inference requests that batching applies to pass through here.

Inbox messages: ``Enqueue`` (a request and, beside it, its reply future), ``TimerFired``,
``GatherTick`` (a loop turn passed) and ``SlotFreed`` (a batch finished). Its state is one queue of batches per (servable,
signature, outputs, input dtypes and non-batch shape); the last batch of each queue is
open and fills up. When a batch finishes, the executor's completion callback hands each
request its rows (or the batch's error) directly, on the loop; only ``SlotFreed`` comes
back through the inbox, so the batcher can dispatch the next batch.

Scheduling follows TF Serving's ``BatchingParameters``:
- a batch goes out when it holds ``max_batch_size`` rows, or when
  ``batch_timeout_micros`` has passed since its first request (one deadline on the
  monotonic clock), whichever is first. Dispatching waits until the inbox is empty, so
  requests that arrived in the same event-loop tick share a batch;
- with a timeout above 0 and the batch cost model on (the default; ``cost_model=False``,
  ``--batching_cost_model=false``, turns it off) a batch may close before its timeout:
  one that opens while its model is idle goes out at once, and one that opens under load
  closes as soon as one more request would make it finish, by its signature's fitted
  cost line, after its first request's arrival plus the timeout, or once its model's
  requests stopped coming (a few mean gaps without one). The rule and its terms
  are in ``actors.batching_policy``; the line in ``actors.call_costs``, fed by every
  batch's measured call time. It never makes a batch larger or later than the timeout;
- with a timeout of 0 no batch ever waits on a timer. A request that finds the batcher
  idle (no batch running or waiting) goes out at once. A batch that starts while the
  batcher is busy (it forms while every thread runs, or behind another waiting batch)
  is a sign of load: once a thread is free it still gathers for ``GATHER_TURNS`` turns
  of the event loop (``GatherTick`` messages, each posted with ``loop.call_soon``)
  before it goes, unless it fills up first or holds over half of ``max_batch_size``
  (a request like those in it would no longer fit). Under load a loop turn is the time to
  accept and decode a few more requests, which then share the batch (and its thread
  hop and model call); on an idle loop the turns pass in microseconds;
- at most ``num_batch_threads`` batches run at once; among ready batches the oldest goes
  first;
- a queue holds at most ``max_enqueued_batches`` waiting batches; a request that would
  need one more fails at once with UNAVAILABLE;
- a batch is padded to the next ``allowed_batch_sizes`` entry (padding rows are dropped
  from the outputs); a request larger than the limit is split across batches when
  ``enable_large_batch_splitting`` is on, otherwise rejected with INVALID_ARGUMENT;
- a request whose client went away (its future was cancelled) or whose deadline passed
  before its batch was formed is dropped and never computed.

With batching off the data plane never calls the batcher. Requests that cannot batch are
answered as TF Serving's ``ComputeTensorBatchSize`` answers them, INVALID_ARGUMENT (no
inputs; a scalar input: "Batching Run() input tensors must have at least one dimension";
inputs with different first dimensions); a request of 0 rows runs alone. Requests whose
inputs differ only in non-batch dimensions share a queue, as in TF Serving: padded with
``pad_variable_length_inputs``, else their batch fails with FAILED_PRECONDITION
(``batching_policy.merge_inputs``). Every request gets back exactly its own rows; when a batch fails, every request in
it gets that error. The observer's ``queue_depth(model, rows)`` hears the rows of each
model waiting in undispatched batches whenever that number changes (a request placed, a
batch taken off its queue); it never counts running batches. Each request's in-flight count (taken by the data plane) is released
once all its work is over: its batch finished, or it was rejected or dropped unrun. On
``stop()`` waiting batches are flushed and run, and ``stop`` returns once every batch has
finished.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from actors.actor import Actor
from actors.batching_policy import (
    ArrivalGaps,
    QueueKey,
    batch_may_wait,
    batch_size_of,
    check_request_size,
    cost_model_close_time,
    merge_inputs,
    padded_size,
    queue_key,
    split_outputs,
)
from actors.call_costs import CallCost, CallCosts
from actors.messages import BatchTimes, InferenceRequest
from config.batching_config import BatchingSettings
from protocol.signatures import Signature
from protocol.status import Code, ServingError, internal, unavailable
from servables.servable import Servable

log = logging.getLogger(__name__)

GATHER_TURNS = 8
"""Loop turns a batch formed under load gathers for once a thread is free (timeout 0)."""

Outputs = dict[str, np.ndarray]


class BatchExecutor(Protocol):
    def run_inference_then(
        self,
        fn: Callable[..., Any],
        args: tuple[object, ...],
        done: Callable[[Any, BaseException | None], None],
    ) -> None: ...


class BatchObserver(Protocol):
    """Metric hooks; called on the event loop."""

    def queued(self, model_name: str, seconds: float) -> None: ...
    def batch_formed(self, model_name: str, input_rows: int, padded_rows: int) -> None: ...
    def queue_depth(self, model_name: str, rows: int) -> None: ...


class _NoObserver:
    def queued(self, model_name: str, seconds: float) -> None:
        pass

    def batch_formed(self, model_name: str, input_rows: int, padded_rows: int) -> None:
        pass

    def queue_depth(self, model_name: str, rows: int) -> None:
        pass


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Enqueue:
    """A request to batch; ``reply`` travels beside it (it is set by the batcher only)."""

    request: InferenceRequest
    reply: asyncio.Future[Outputs]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired:
    """A batch deadline may have passed."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GatherTick:
    """One event-loop turn passed for the batches that gather (timeout 0, under load)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SlotFreed:
    """A batch finished (its requests were already answered): a batch thread is free."""


BatcherMessage = Enqueue | TimerFired | GatherTick | SlotFreed


class _Reply:
    """Answers one request once, from its pieces, and releases its in-flight count.

    A request split across batches has several pieces. The reply future gets the rows in
    order once every piece succeeded, or the first error. The servable's in-flight count
    is released only when every piece is over (ran, failed or was dropped), so a version
    is never unloaded while a piece of a request still runs on it.
    """

    __slots__ = ("_future", "_missing", "_parts", "_pending", "_servable")

    def __init__(self, future: asyncio.Future[Outputs], pieces: int, servable: Servable) -> None:
        self._future = future
        self._parts: list[Outputs | None] = [None] * pieces
        self._missing = pieces  # pieces without a result yet
        self._pending = pieces  # pieces not over yet
        self._servable = servable

    def abandoned(self) -> bool:
        return self._future.done()

    def finish(self, index: int, outcome: Outputs | BaseException | None) -> None:
        """Piece ``index`` is over: its rows, its error, or None when dropped unrun."""
        if isinstance(outcome, BaseException):
            if not self._future.done():
                self._future.set_exception(outcome)
        elif outcome is not None and not self._future.done():
            self._parts[index] = outcome
            self._missing -= 1
            if self._missing == 0:
                parts = [p for p in self._parts if p is not None]
                if len(parts) == 1:
                    self._future.set_result(parts[0])
                else:
                    self._future.set_result(
                        {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
                    )
        self._pending -= 1
        if self._pending == 0:
            self._servable.end_request()


@dataclasses.dataclass(slots=True, eq=False)
class _Task:
    """A request, or one piece of a split request, waiting in a batch."""

    inputs: Mapping[str, np.ndarray]
    size: int
    reply: _Reply
    index: int
    deadline: float | None
    enqueued_at: float
    times: BatchTimes | None = None  # a traced request's (InferenceRequest.times)

    def finish(self, outcome: Outputs | BaseException | None) -> None:
        self.reply.finish(self.index, outcome)


@dataclasses.dataclass(slots=True, eq=False)
class _Batch:
    key: QueueKey
    servable: Servable
    signature: Signature
    output_names: tuple[str, ...]
    deadline: float  # when it goes out even if not full
    opened_at: float = 0.0  # its first request's arrival
    budget_seconds: float = 0.0  # > 0: the cost model may close it before the deadline
    arrivals: ArrivalGaps | None = None  # its servable's gaps between requests (cost model)
    tasks: list[_Task] = dataclasses.field(default_factory=list)
    size: int = 0
    gather_turns: int = 0  # loop turns still to wait once a thread is free (timeout 0)


def execute_timed_batch(traced: Sequence[BatchTimes], *args: Any) -> list[Outputs]:
    """``execute_batch``, noting when the model ran in each traced request's times."""
    started = time.monotonic()
    try:
        return execute_batch(*args)
    finally:
        finished = time.monotonic()
        for times in traced:
            times.run_started, times.run_finished = started, finished


def execute_batch(
    servable: Servable,
    signature: Signature,
    output_names: tuple[str, ...],
    parts: Sequence[Mapping[str, np.ndarray]],
    sizes: Sequence[int],
    padded_total: int,
    pad_variable_length: bool,
) -> list[Outputs]:
    """Runs in an executor thread: merge the rows, call the model once, split the rows."""
    if len(parts) == 1 and padded_total == sizes[0]:
        return [servable.run(signature, parts[0], output_names)]
    merged = merge_inputs(parts, padded_total, pad_variable_length)
    outputs = servable.run(signature, merged, output_names)
    return split_outputs(outputs, sizes, padded_total)


class Batcher(Actor[BatcherMessage]):
    """See the module docstring. The data plane calls ``submit``; the rest is messages."""

    name = "batcher"

    def __init__(
        self,
        *,
        executor: BatchExecutor,
        settings: BatchingSettings,
        observer: BatchObserver | None = None,
        costs: CallCosts | None = None,
        clock: Callable[[], float] = time.monotonic,
        call_at: Callable[[float, Callable[[], None]], object] | None = None,
        call_soon: Callable[[Callable[[], None]], object] | None = None,
        cost_model: bool = True,
    ) -> None:
        super().__init__()
        self._executor = executor
        self._costs = costs or CallCosts(0)
        self._settings = settings
        self._observer: BatchObserver = observer or _NoObserver()
        self._clock = clock
        self._call_at = call_at
        self._call_soon = call_soon
        self._tick_scheduled = False
        self._queues: dict[QueueKey, collections.deque[_Batch]] = {}
        self._running = 0
        self._timer_at: float | None = None
        self._timer: object = None  # the armed timer's handle: cancelled when superseded
        self._waiting_rows: dict[str, int] = {}  # per model: rows in batches not yet dispatched
        self._cost_model = cost_model
        # Per servable, for the cost model's load test: batches on the executor now, and
        # requests in its last dispatched batch. Weak keys: gone with the version.
        self._running_of: weakref.WeakKeyDictionary[Servable, int] = weakref.WeakKeyDictionary()
        self._last_requests_of: weakref.WeakKeyDictionary[Servable, int] = (
            weakref.WeakKeyDictionary()
        )
        # Per servable: the mean gap between its requests, to close a batch once they stop.
        self._arrivals_of: weakref.WeakKeyDictionary[Servable, ArrivalGaps] = (
            weakref.WeakKeyDictionary()
        )

    # --- the data plane's entry point ----------------------------------------------------

    def submit(self, request: InferenceRequest) -> asyncio.Future[Outputs]:
        """Queue ``request``; the returned future holds its outputs or its error.

        The request's in-flight count must already be held; the batcher releases it.
        """
        reply: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        self.post(Enqueue(request=request, reply=reply))
        return reply

    # --- the step -------------------------------------------------------------------------

    async def handle(self, message: BatcherMessage) -> None:
        self.step(message)

    def step(self, message: BatcherMessage) -> None:
        if isinstance(message, Enqueue):
            self._enqueue(message)
        elif isinstance(message, SlotFreed):
            self._running -= 1
        elif isinstance(message, GatherTick):
            self._tick_scheduled = False
            for queue in self._queues.values():
                if queue and queue[0].gather_turns:
                    queue[0].gather_turns -= 1
        if not self._inbox.empty():
            # More requests arrived in the same event-loop tick: take them all before
            # dispatching, so they share one batch (and one thread hop) instead of each
            # going out alone to a thread that happens to be free.
            return
        self._dispatch()
        self._arm_timer()
        self._schedule_gather_tick()

    @property
    def running_batches(self) -> int:
        return self._running

    def waiting_batches(self) -> list[_Batch]:
        return [batch for queue in self._queues.values() for batch in queue]

    # --- enqueueing -------------------------------------------------------------------------

    def _settings_of(self, servable: Servable) -> BatchingSettings:
        return servable.batching or self._settings

    def _enqueue(self, message: Enqueue) -> None:
        request, future = message.request, message.reply
        settings = self._settings_of(request.servable)
        try:
            size = batch_size_of(request.inputs)
        except ServingError as error:  # no input, a scalar, unequal first dimensions
            _Reply(future, 1, request.servable).finish(0, error)
            return
        if size == 0:
            self._run_alone(request, future)
            return
        limit = settings.execution_limit
        pieces = _split_sizes(size, limit)
        reply = _Reply(future, len(pieces), request.servable)
        if future.done():
            for index in range(len(pieces)):
                reply.finish(index, None)  # the client left before we saw it
            return
        try:
            check_request_size(size, settings)
        except ServingError as error:
            for index in range(len(pieces)):
                reply.finish(index, error)
            return
        now = self._clock()
        key = queue_key(
            id(request.servable),
            request.signature.name,
            request.output_names,
            request.inputs,
            settings.pad_variable_length_inputs,
        )
        queue = self._queues.setdefault(key, collections.deque())
        if (
            self._new_batches_needed(queue, pieces, limit) + len(queue)
            > settings.max_enqueued_batches
        ):
            full = unavailable(
                "The batch scheduling queue to which this task was submitted is full "
                f"(max_enqueued_batches={settings.max_enqueued_batches})"
            )
            for index in range(len(pieces)):
                reply.finish(index, full)
            return
        # Load is judged once per request: the pieces of one split request are not load.
        busy = self._running > 0 or any(self._queues.values())
        if self._cost_model and settings.batch_timeout_micros > 0:
            arrivals = self._arrivals_of.get(request.servable)
            if arrivals is None:
                arrivals = self._arrivals_of[request.servable] = ArrivalGaps()
            arrivals.observe(now, settings.batch_timeout_micros / 1e6)
        start = 0
        for index, piece_size in enumerate(pieces):
            inputs = (
                request.inputs
                if len(pieces) == 1
                else {n: a[start : start + piece_size] for n, a in request.inputs.items()}
            )
            start += piece_size
            task = _Task(
                inputs=inputs,
                size=piece_size,
                reply=reply,
                index=index,
                deadline=request.deadline,
                enqueued_at=now,
                times=request.times,
            )
            self._place(queue, key, request, task, settings, now, busy)

    def _new_batches_needed(
        self, queue: collections.deque[_Batch], pieces: list[int], limit: int
    ) -> int:
        room = limit - queue[-1].size if queue else 0
        needed = 0
        for piece in pieces:
            if piece <= room:
                room -= piece
            else:
                needed += 1
                room = limit - piece
        return needed

    def _place(
        self,
        queue: collections.deque[_Batch],
        key: QueueKey,
        request: InferenceRequest,
        task: _Task,
        settings: BatchingSettings,
        now: float,
        busy: bool,
    ) -> None:
        if not queue or queue[-1].size + task.size > settings.execution_limit:
            timeout = settings.batch_timeout_micros
            deadline, budget = now + timeout / 1e6, 0.0
            if self._cost_model and timeout > 0:
                servable = request.servable
                if batch_may_wait(
                    running_batches=self._running_of.get(servable, 0),
                    waiting_rows=self._waiting_rows.get(servable.model_name, 0),
                    last_batch_requests=self._last_requests_of.get(servable, 0),
                ):
                    budget = timeout / 1e6
                else:
                    deadline = now  # idle: out at the next dispatch, with this tick's requests
            queue.append(
                _Batch(
                    key=key,
                    servable=request.servable,
                    signature=request.signature,
                    output_names=request.output_names,
                    deadline=deadline,
                    opened_at=now,
                    budget_seconds=budget,
                    gather_turns=GATHER_TURNS if timeout == 0 and busy else 0,
                    arrivals=self._arrivals_of.get(request.servable) if budget else None,
                )
            )
        batch = queue[-1]
        batch.tasks.append(task)
        batch.size += task.size
        self._count_waiting(request.servable.model_name, task.size)

    def _count_waiting(self, model_name: str, rows: int) -> None:
        depth = self._waiting_rows.get(model_name, 0) + rows
        self._waiting_rows[model_name] = depth
        self._observer.queue_depth(model_name, depth)

    def waiting_rows(self, model_name: str) -> int:
        """Rows of ``model_name`` (every version) queued in batches not yet dispatched."""
        return self._waiting_rows.get(model_name, 0)

    # --- dispatching ------------------------------------------------------------------------

    def _run_alone(self, request: InferenceRequest, future: asyncio.Future[Outputs]) -> None:
        """An unbatchable request: run now, as a batch of one."""
        task = _Task(
            inputs=request.inputs,
            size=request.batch_size,
            reply=_Reply(future, 1, request.servable),
            index=0,
            deadline=request.deadline,
            enqueued_at=self._clock(),
            times=request.times,
        )
        if task.reply.abandoned():
            task.finish(None)
            return
        batch = _Batch(
            key=(),
            servable=request.servable,
            signature=request.signature,
            output_names=request.output_names,
            deadline=0.0,
            tasks=[task],
            size=task.size,
        )
        self._start(batch, padded_total=task.size, pad_variable_length=False)

    def _ready_batch(self, now: float) -> _Batch | None:
        """The oldest batch that may go out now, taken off its queue."""
        best: collections.deque[_Batch] | None = None
        for queue in self._queues.values():
            if not queue:
                continue
            head = queue[0]
            limit = self._settings_of(head.servable).execution_limit
            ready = (
                head.size >= limit
                or len(queue) > 1
                # Gathering pays only while a request like the first ones still fits.
                or (now >= head.deadline and (not head.gather_turns or 2 * head.size > limit))
                or (head.budget_seconds > 0 and now >= self._close_time(head))
            )
            if ready and (best is None or head.deadline < best[0].deadline):
                best = queue
        return best.popleft() if best is not None else None

    def _close_time(self, batch: _Batch) -> float:
        """When the cost model closes ``batch`` (one that opened under load): when one
        more request would no longer finish within the budget, or once requests stopped."""
        close = cost_model_close_time(
            opened_at=batch.opened_at,
            budget_seconds=batch.budget_seconds,
            line=self._cost_of(batch).line(),
            rows=batch.size,
            next_rows=batch.tasks[-1].size if batch.tasks else 1,
        )
        arrivals = batch.arrivals
        quiet = arrivals.quiet_after() if arrivals is not None else None
        if quiet is None or arrivals is None or arrivals.last_at is None:
            return close
        return min(close, arrivals.last_at + quiet)  # the model version's latest request

    def _cost_of(self, batch: _Batch) -> CallCost:
        return self._costs.of(batch.servable, batch.signature.name)

    def _dispatch(self) -> None:
        now = self._clock()
        while self._running < self._settings.num_batch_threads:
            batch = self._ready_batch(now)
            if batch is None:
                break
            self._count_waiting(batch.servable.model_name, -batch.size)
            self._last_requests_of[batch.servable] = len(batch.tasks)
            self._drop_abandoned(batch, now)
            if not batch.tasks:
                continue
            settings = self._settings_of(batch.servable)
            padded = padded_size(batch.size, settings.allowed_batch_sizes)
            for task in batch.tasks:
                self._observer.queued(batch.servable.model_name, now - task.enqueued_at)
            self._observer.batch_formed(batch.servable.model_name, batch.size, padded)
            self._start(
                batch, padded_total=padded, pad_variable_length=settings.pad_variable_length_inputs
            )
        for key in [k for k, q in self._queues.items() if not q]:
            del self._queues[key]

    def _drop_abandoned(self, batch: _Batch, now: float) -> None:
        kept = []
        for task in batch.tasks:
            if task.reply.abandoned():
                task.finish(None)
            elif task.deadline is not None and now >= task.deadline:
                task.finish(
                    ServingError(
                        Code.DEADLINE_EXCEEDED, "deadline exceeded while waiting in the batch queue"
                    )
                )
            else:
                kept.append(task)
        batch.tasks = kept
        batch.size = sum(task.size for task in kept)

    def _start(self, batch: _Batch, *, padded_total: int, pad_variable_length: bool) -> None:
        cost = self._cost_of(batch)
        traced = [task.times for task in batch.tasks if task.times is not None]
        if traced:
            dispatched = self._clock()
            for times in traced:
                times.dispatched, times.batch_size = dispatched, padded_total
        args = (
            functools.partial(execute_timed_batch, traced) if traced else execute_batch,
            batch.servable,
            batch.signature,
            batch.output_names,
            [task.inputs for task in batch.tasks],
            [task.size for task in batch.tasks],
            padded_total,
            pad_variable_length,
        )
        if cost.cheap():  # run on the loop: no thread hop, no slot held afterwards
            try:
                outputs, error = cost.timed_batch(padded_total, *args), None
            except Exception as exc:  # noqa: BLE001 - answered to every request below
                outputs, error = None, exc
            self._answer_batch(batch, outputs, error)
            return
        self._running += 1
        self._running_of[batch.servable] = self._running_of.get(batch.servable, 0) + 1
        try:
            self._executor.run_inference_then(
                functools.partial(cost.timed_batch, padded_total),
                args,
                functools.partial(self._batch_done, batch),
            )
        except ServingError as error:
            self._running -= 1
            self._running_of[batch.servable] -= 1
            for task in batch.tasks:
                task.finish(error)

    def _batch_done(self, batch: _Batch, outputs: Any, error: BaseException | None) -> None:
        """On the loop, straight from the executor: answer every request, free the slot."""
        self._running_of[batch.servable] -= 1
        self._answer_batch(batch, outputs, error)
        self.post(SlotFreed())

    def _answer_batch(self, batch: _Batch, outputs: Any, error: BaseException | None) -> None:
        if error is not None and not isinstance(error, ServingError):
            log.error("batch on %s failed: %r", batch.servable.model_name, error)
            error = internal(f"{type(error).__name__}: {error}")
        if error is not None:
            for task in batch.tasks:
                task.finish(error)
        else:
            for task, own in zip(batch.tasks, outputs, strict=True):
                task.finish(own)

    # --- timers -------------------------------------------------------------------------------

    def _arm_timer(self) -> None:
        if self._running >= self._settings.num_batch_threads:
            return  # a finishing batch will dispatch
        # A gathering batch goes on GatherTicks, not on a timer.
        deadlines = [
            min(q[0].deadline, self._close_time(q[0])) if q[0].budget_seconds else q[0].deadline
            for q in self._queues.values()
            if q and not q[0].gather_turns
        ]
        if not deadlines:
            return
        earliest = min(deadlines)
        if self._timer_at is not None and self._timer_at <= earliest:
            return
        self._timer_at = earliest
        superseded = self._timer
        if isinstance(superseded, asyncio.TimerHandle):
            # A later timer would only wake the batcher for nothing (a growing batch moves
            # the cost model's close time earlier with every request).
            superseded.cancel()
        call_at = self._call_at or self._loop_call_at
        self._timer = call_at(earliest, self._on_timer)

    def _schedule_gather_tick(self) -> None:
        """One ``GatherTick`` per loop turn while a free thread waits on a gathering batch."""
        if self._tick_scheduled or self._running >= self._settings.num_batch_threads:
            return
        if not any(queue and queue[0].gather_turns for queue in self._queues.values()):
            return
        self._tick_scheduled = True
        call_soon = self._call_soon or asyncio.get_running_loop().call_soon
        call_soon(self._on_gather_tick)

    def _on_gather_tick(self) -> None:
        self.post(GatherTick())

    def _loop_call_at(self, when: float, callback: Callable[[], None]) -> object:
        loop = asyncio.get_running_loop()
        return loop.call_later(max(0.0, when - self._clock()), callback)

    def _on_timer(self) -> None:
        self._timer_at = self._timer = None
        self.post(TimerFired())

    # --- shutdown ---------------------------------------------------------------------------

    async def on_stop(self) -> None:
        """Flush: every waiting batch is dispatched, then wait until all have finished."""
        for queue in self._queues.values():
            for batch in queue:
                batch.deadline = float("-inf")
                batch.gather_turns = 0
                batch.budget_seconds = 0.0
        while self._running or any(self._queues.values()):
            self._dispatch()
            message = await self._inbox.get()
            if isinstance(message, (Enqueue, SlotFreed, TimerFired, GatherTick)):
                self.step(message)


def _split_sizes(size: int, limit: int) -> list[int]:
    if size <= limit:
        return [size]
    full, rest = divmod(size, limit)
    return [limit] * full + ([rest] if rest else [])
