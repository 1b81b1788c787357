"""How long each signature's model call takes, and whether it is cheap enough to run inline.

A thread hop (executor job, ``call_soon_threadsafe`` back, two GIL hand-offs) costs about
50-80 us per call on this project's machines; a half_plus_two or digits call costs
20-40 us. Running such a call on the event loop itself saves more than the call costs.

Contract:
- ``CallCosts.of(servable, signature_name)`` is the ``CallCost`` of one signature of one
  loaded version; entries go away with the servable (weak keys), so nothing grows with
  versions that came and went.
- A ``CallCost`` keeps an exponentially weighted mean of measured call times (``observe``,
  called from whichever thread ran the call). It is ``cheap()`` once at least
  ``WARMUP_CALLS`` calls were measured and the mean is under the threshold. A single inline
  call slower than ``SLOW_FACTOR`` times the threshold marks it expensive at once, so a
  model that turns slow stalls the loop for one call at most, then runs on the executor
  again; it comes back inline only if executor measurements fall under the threshold.
- A threshold of 0 (``--inline_call_threshold_micros=0``) means nothing is ever cheap, and
  so is a servable with ``may_run_inline`` False (its calls may wait on other calls).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Final, TypeVar

from servables.servable import Servable

T = TypeVar("T")

WARMUP_CALLS: Final = 8
SLOW_FACTOR: Final = 4.0
_WEIGHT: Final = 0.1  # of the newest sample in the running mean


class CallCost:
    """The measured cost of one signature's calls (see the module docstring)."""

    __slots__ = ("_threshold", "calls", "mean_seconds")

    def __init__(self, threshold_seconds: float) -> None:
        self._threshold = threshold_seconds
        self.calls = 0
        self.mean_seconds = 0.0

    def cheap(self) -> bool:
        return self.calls >= WARMUP_CALLS and self.mean_seconds < self._threshold

    def observe(self, seconds: float) -> None:
        self.calls += 1
        if self.calls == 1:
            self.mean_seconds = seconds
        else:
            self.mean_seconds += _WEIGHT * (seconds - self.mean_seconds)
        if seconds > SLOW_FACTOR * self._threshold:
            # One slow call is enough to leave the loop: do not wait for the mean.
            self.mean_seconds = max(self.mean_seconds, seconds)

    def timed(self, fn: Callable[..., T], *args: object) -> T:
        """Call ``fn(*args)`` and record how long it took (also when it raised)."""
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.observe(time.perf_counter() - started)


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
        if not servable.may_run_inline:
            return CallCost(0.0)  # never cheap
        by_signature = self._costs.get(servable)
        if by_signature is None:
            by_signature = self._costs[servable] = {}
        cost = by_signature.get(signature_name)
        if cost is None:
            cost = by_signature[signature_name] = CallCost(self._threshold)
        return cost
