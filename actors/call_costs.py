"""How long each signature's model call takes: inline or not, and its cost line in batch size.

A thread hop (executor job, ``call_soon_threadsafe`` back, two GIL hand-offs) costs about
50-80 us per call on this project's machines; a half_plus_two or digits call costs
20-40 us. Running such a call on the event loop itself saves more than the call costs.

Contract:
- ``CallCosts.of(servable, signature_name)`` is the ``CallCost`` of one signature of one
  loaded version (one object per pair, so its measurements add up); entries go away with
  the servable (weak keys), so nothing grows with versions that came and went.
- A ``CallCost`` keeps an exponentially weighted mean of measured call times (``observe``,
  called from whichever thread ran the call). It is ``cheap()`` once at least
  ``WARMUP_CALLS`` calls were measured and the mean is under the threshold. A single inline
  call slower than ``SLOW_FACTOR`` times the threshold marks it expensive at once, so a
  model that turns slow stalls the loop for one call at most, then runs on the executor
  again; it comes back inline only if executor measurements fall under the threshold.
- Each call's CPU time in the thread that ran it is kept the same way (``cpu_seconds``).
  Under load an executor call's wall time includes its wait to take the GIL back from the
  busy event loop (0.1 to 1 ms for a digits call of 8 us of CPU at 64 requests in
  flight), so a cheap signature that ran on the executor once would never measure cheap
  again. ``inline_now()`` is ``cheap()``, or, for a signature whose calls use little CPU
  (mean under the threshold) while their wall time does not, a *probe*: one call on the
  loop, whose wall time there is the truth. A fast probe makes the signature cheap (the
  mean restarts from it); a slow one (a model that waits on I/O or a lock: little CPU,
  long wall time) leaves it on the executor and the next probe waits twice as long, from
  ``PROBE_INTERVAL_S`` up to ``MAX_PROBE_INTERVAL_S``. A model that blocks therefore holds
  the loop for one call per interval at most.
- A threshold of 0 (``--inline_call_threshold_micros=0``) means nothing is ever cheap, and
  so is a servable with ``may_run_inline`` False (its calls may wait on other calls).
- Batched calls (``timed_batch(rows, ...)``) also feed a straight line, seconds = a * rows
  + b, the batch cost model of ``actors.batcher`` (BentoML's dispatcher fits the same line).
  It is an exponentially weighted least-squares fit (each new call weighs
  ``LINE_WEIGHT``), kept as five running sums: memory is constant however many calls were
  measured, and the line follows a model whose speed drifts. ``line()`` is None until
  ``WARMUP_CALLS`` batches were measured. While every measured batch had the same size the
  slope cannot be told from the intercept: the line is then proportional (b = 0), the
  pessimistic reading, so nobody waits on a slope that was never seen. A negative slope
  or intercept (noise) is clamped to 0 with the line kept through the weighted means.
- ``observe``/``observe_batch`` run on whichever thread ran the call; two batch threads
  may race on the sums and lose one sample, which only delays the estimate.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Callable
from typing import Final, TypeVar

from servables.servable import Servable

T = TypeVar("T")

WARMUP_CALLS: Final = 8
SLOW_FACTOR: Final = 4.0
PROBE_INTERVAL_S: Final = 1.0
"""The shortest time between two probe calls on the loop (``CallCost.inline_now``)."""
MAX_PROBE_INTERVAL_S: Final = 64.0
"""The longest, reached after slow probes (each doubles the interval)."""
_WEIGHT: Final = 0.1  # of the newest sample in the running mean
LINE_WEIGHT: Final = 0.05
"""Weight of the newest batch in the cost line's fit: about the last 20 batches count."""
_SAME_SIZE: Final = 1e-6  # weighted variance of batch sizes below which sizes are all equal


@dataclasses.dataclass(frozen=True, slots=True)
class CostLine:
    """A batch of ``rows`` rows is predicted to take ``per_row_seconds * rows +
    fixed_seconds``; both are at least 0."""

    per_row_seconds: float
    fixed_seconds: float

    def seconds(self, rows: int) -> float:
        return self.per_row_seconds * rows + self.fixed_seconds


class CallCost:
    """The measured cost of one signature's calls (see the module docstring)."""

    __slots__ = (
        "_clock",
        "_n",
        "_next_probe_at",
        "_nn",
        "_nt",
        "_probe_interval",
        "_t",
        "_threshold",
        "_weight",
        "batches",
        "calls",
        "cpu_seconds",
        "mean_seconds",
        "probes",
    )

    def __init__(
        self, threshold_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = threshold_seconds
        self._clock = clock
        self.calls = 0
        self.mean_seconds = 0.0
        self.cpu_seconds = 0.0
        self.probes = 0
        self._probe_interval = PROBE_INTERVAL_S
        self._next_probe_at = 0.0
        self.batches = 0
        # Exponentially weighted sums of 1, rows, seconds, rows^2 and rows*seconds.
        self._weight = self._n = self._t = self._nn = self._nt = 0.0

    def cheap(self) -> bool:
        return self.calls >= WARMUP_CALLS and self.mean_seconds < self._threshold

    def inline_now(self) -> bool:
        """Run this call on the loop: the signature is cheap, or this call is a probe."""
        if self.calls < WARMUP_CALLS:
            return False
        if self.mean_seconds < self._threshold:
            return True
        if self.cpu_seconds >= self._threshold:
            return False
        now = self._clock()
        if now < self._next_probe_at:
            return False
        self._next_probe_at = now + self._probe_interval
        self.probes += 1
        return True

    def observe(self, seconds: float, cpu_seconds: float | None = None) -> None:
        self.calls += 1
        if cpu_seconds is None:
            cpu_seconds = seconds
        if self.calls == 1:
            self.mean_seconds, self.cpu_seconds = seconds, cpu_seconds
        else:
            self.mean_seconds += _WEIGHT * (seconds - self.mean_seconds)
            self.cpu_seconds += _WEIGHT * (cpu_seconds - self.cpu_seconds)
        if seconds > SLOW_FACTOR * self._threshold:
            # One slow call is enough to leave the loop: do not wait for the mean.
            self.mean_seconds = max(self.mean_seconds, seconds)

    def observe_probe(self, seconds: float) -> None:
        """A probe call took ``seconds`` on the loop: cheap from now on, or probe later."""
        if seconds < self._threshold:
            self.mean_seconds = seconds
            self._probe_interval = PROBE_INTERVAL_S
        else:  # its CPU time is not known: the executor's measurements keep telling it
            self.mean_seconds = max(self.mean_seconds, seconds)
            self._probe_interval = min(2 * self._probe_interval, MAX_PROBE_INTERVAL_S)
            self._next_probe_at = self._clock() + self._probe_interval

    def observe_batch(self, rows: int, seconds: float, cpu_seconds: float | None = None) -> None:
        """A call on a batch of ``rows`` rows took ``seconds``: the mean and the line."""
        self.observe(seconds, cpu_seconds)
        keep = 1.0 - LINE_WEIGHT if self.batches else 0.0
        self.batches += 1
        self._weight = keep * self._weight + 1.0
        self._n = keep * self._n + rows
        self._t = keep * self._t + seconds
        self._nn = keep * self._nn + rows * rows
        self._nt = keep * self._nt + rows * seconds

    def line(self) -> CostLine | None:
        """The fitted batch cost line, or None before ``WARMUP_CALLS`` batches."""
        if self.batches < WARMUP_CALLS:
            return None
        weight = self._weight
        mean_rows, mean_seconds = self._n / weight, self._t / weight
        variance = self._nn / weight - mean_rows * mean_rows
        if variance < _SAME_SIZE or mean_rows <= 0:
            return CostLine(mean_seconds / max(mean_rows, 1.0), 0.0)
        slope = (self._nt / weight - mean_rows * mean_seconds) / variance
        if slope < 0:
            return CostLine(0.0, max(mean_seconds, 0.0))
        intercept = mean_seconds - slope * mean_rows
        if intercept < 0:
            return CostLine(mean_seconds / mean_rows, 0.0)
        return CostLine(slope, intercept)

    def timed(self, fn: Callable[..., T], *args: object) -> T:
        """Call ``fn(*args)`` and record how long it took (also when it raised)."""
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            return fn(*args)
        finally:
            self.observe(time.perf_counter() - started, time.thread_time() - cpu_started)

    def timed_inline(self, fn: Callable[..., T], *args: object) -> T:
        """``timed`` for a call on the loop: a probe's time goes to ``observe_probe``, and a
        cheap signature's call that turned slow here waits a probe interval to come back."""
        probe = self.mean_seconds >= self._threshold
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            return fn(*args)
        finally:
            seconds = time.perf_counter() - started
            if probe:
                self.observe_probe(seconds)
            else:
                self.observe(seconds, time.thread_time() - cpu_started)
                if self.mean_seconds >= self._threshold:
                    self._next_probe_at = self._clock() + self._probe_interval

    def timed_batch(self, rows: int, fn: Callable[..., T], *args: object) -> T:
        """``timed`` for a batch of ``rows`` rows: the time also feeds the cost line."""
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            return fn(*args)
        finally:
            self.observe_batch(
                rows, time.perf_counter() - started, time.thread_time() - cpu_started
            )


class CallCosts:
    """``CallCost`` per (servable, signature name)."""

    def __init__(self, threshold_micros: int) -> None:
        self._threshold = threshold_micros / 1e6
        self._costs: weakref.WeakKeyDictionary[Servable, dict[str, CallCost]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def enabled(self) -> bool:
        return self._threshold > 0

    def of(self, servable: Servable, signature_name: str) -> CallCost:
        by_signature = self._costs.get(servable)
        if by_signature is None:
            by_signature = self._costs[servable] = {}
        cost = by_signature.get(signature_name)
        if cost is None:
            # A threshold of 0: never cheap, but its cost line is still fitted.
            threshold = self._threshold if servable.may_run_inline else 0.0
            cost = by_signature[signature_name] = CallCost(threshold)
        return cost
