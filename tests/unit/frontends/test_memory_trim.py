"""MemoryTrimmer: a trim after a request at or above the threshold, none below, one at a time."""

from __future__ import annotations

import pytest

from frontends.memory_trim import MemoryTrimmer

THRESHOLD = 1000


async def test_a_request_below_the_threshold_schedules_no_trim() -> None:
    trimmer = MemoryTrimmer(THRESHOLD)
    trimmer.after_request(THRESHOLD - 1)
    await trimmer.idle()
    assert trimmer.trims == 0


async def test_large_requests_ending_together_share_trims() -> None:
    trimmer = MemoryTrimmer(THRESHOLD)
    if not trimmer.available:
        pytest.skip("no glibc malloc_trim here")
    for _ in range(5):
        trimmer.after_request(THRESHOLD)
    await trimmer.idle()
    assert trimmer.trims == 1  # all five ended before the first trim started
    trimmer.after_request(10 * THRESHOLD)
    await trimmer.idle()
    assert trimmer.trims == 2


def test_threshold_zero_disables_trimming() -> None:
    assert not MemoryTrimmer(0).available
