"""Quantiles from Prometheus cumulative histograms, as the dashboard shows them.

A histogram is a ``{upper bound: cumulative count}`` dict (``le`` labels as floats, the
last bound ``inf``). ``quantile_ms`` looks at the observations between two such
snapshots (``before`` may be empty: everything since start-up) and interpolates
linearly inside the bucket that holds the quantile, as Prometheus's
``histogram_quantile`` does; a quantile in the ``+Inf`` bucket is the largest finite
bound. Observations are in microseconds (the server's latency histograms); the result is
in milliseconds, or None when no observation fell between the snapshots.
"""

from __future__ import annotations

import math


def quantile_ms(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The ``q`` quantile of the observations between two cumulative histograms, in ms."""
    bounds = sorted(after)
    increase = [after[b] - before.get(b, 0.0) for b in bounds]
    if not increase or increase[-1] <= 0:
        return None
    target = q * increase[-1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(bounds, increase, strict=True):
        if count >= target:
            if math.isinf(bound):
                return lower_bound / 1000
            fraction = (
                (target - lower_count) / (count - lower_count) if count > lower_count else 1.0
            )
            return (lower_bound + (bound - lower_bound) * fraction) / 1000  # micros -> ms
        lower_bound, lower_count = bound, count
    return None
