"""Whether one request is sampled: a pure policy shared by request logging and shadowing.

``should_sample(rate, draw)`` answers for one request, given the configured share
``rate`` in [0, 1] and ``draw``, a source of uniform numbers in [0, 1) (``random.random``
by default; tests pass a fixed one). Each request is decided on its own, as TF Serving's
request logger does, so over many requests the sampled share tends to ``rate``.

The decision is made when a request arrives, before anything is copied or kept for the
record: the request path pays one comparison when ``rate`` is 0 (``draw`` is not called),
and one comparison and one ``draw()`` otherwise. A rate of 1 samples every request
without drawing.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def should_sample(rate: float, draw: Callable[[], float] = random.random) -> bool:
    """True when this request falls in the sampled share ``rate`` (see the module doc)."""
    return rate > 0.0 and (rate >= 1.0 or draw() < rate)
