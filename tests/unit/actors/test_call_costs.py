"""The call-cost estimate that decides when a model call runs on the loop itself."""

from __future__ import annotations

import time

import pytest

from actors.call_costs import (
    MAX_PROBE_INTERVAL_S,
    PROBE_INTERVAL_S,
    SLOW_FACTOR,
    WARMUP_CALLS,
    CallCost,
    CallCosts,
    CostLine,
)
from tests.unit.actors.fakes import HalfPlusTwo


def test_a_signature_is_cheap_only_after_enough_fast_calls() -> None:
    cost = CallCost(threshold_seconds=40e-6)
    for _ in range(WARMUP_CALLS - 1):
        cost.observe(10e-6)
        assert not cost.cheap()
    cost.observe(10e-6)
    assert cost.cheap()


def test_one_slow_call_makes_it_expensive_at_once() -> None:
    cost = CallCost(threshold_seconds=40e-6)
    for _ in range(WARMUP_CALLS):
        cost.observe(10e-6)
    cost.observe(SLOW_FACTOR * 40e-6 * 2)
    assert not cost.cheap()


def test_a_slow_signature_comes_back_once_its_calls_are_fast_again() -> None:
    cost = CallCost(threshold_seconds=40e-6)
    for _ in range(WARMUP_CALLS):
        cost.observe(1e-3)
    assert not cost.cheap()
    for _ in range(60):
        cost.observe(5e-6)
    assert cost.cheap()


def test_threshold_zero_is_never_cheap_and_costs_are_per_servable_and_signature() -> None:
    off = CallCosts(0)
    assert not off.enabled
    cost = off.of(HalfPlusTwo(), "serving_default")
    for _ in range(WARMUP_CALLS):
        cost.observe(1e-9)
    assert not cost.cheap()
    costs = CallCosts(40)
    a, b = HalfPlusTwo(), HalfPlusTwo()
    assert costs.of(a, "s") is costs.of(a, "s")
    assert costs.of(a, "s") is not costs.of(b, "s")
    assert costs.of(a, "s") is not costs.of(a, "t")


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _waiting_for_the_gil(clock: _Clock, threshold_seconds: float = 40e-6) -> CallCost:
    """Executor calls of 8 us of CPU that each waited 0.5 ms for the GIL (a busy loop),
    with a 40 us threshold; a larger ``threshold_seconds`` scales the three alike."""
    scale = threshold_seconds / 40e-6
    cost = CallCost(threshold_seconds=threshold_seconds, clock=clock)
    for _ in range(WARMUP_CALLS):
        cost.observe(500e-6 * scale, cpu_seconds=8e-6 * scale)
    assert not cost.cheap()
    return cost


def test_a_call_that_used_little_cpu_is_probed_on_the_loop_once_per_interval() -> None:
    clock = _Clock()
    cost = _waiting_for_the_gil(clock)
    assert cost.inline_now()  # the probe
    assert not cost.inline_now()  # no second probe within the interval
    clock.now += PROBE_INTERVAL_S
    assert cost.inline_now()
    assert cost.probes == 2


def test_a_fast_probe_makes_the_signature_cheap() -> None:
    clock = _Clock()
    # The probe below is timed for real: a threshold no scheduling delay on a busy test
    # machine reaches (a 40 us one failed when the no-op call was preempted).
    cost = _waiting_for_the_gil(clock, threshold_seconds=0.5)
    assert cost.inline_now()
    cost.timed_inline(lambda: None)  # what the data plane runs on the loop
    assert cost.cheap() and cost.inline_now()
    assert cost.probes == 1


def test_a_slow_probe_keeps_it_off_the_loop_and_backs_off() -> None:
    # A model that waits (I/O, a lock): little CPU, long wall time, also on the loop.
    clock = _Clock()
    cost = _waiting_for_the_gil(clock)
    intervals = []
    for _ in range(10):
        while not cost.inline_now():
            clock.now += 0.5
        started = clock.now
        cost.observe_probe(2e-3)
        assert not cost.cheap()
        clock.now += 0.5
        while not cost.inline_now():
            clock.now += 0.5
        intervals.append(clock.now - started)
        cost.observe_probe(2e-3)
    assert intervals[0] >= 2 * PROBE_INTERVAL_S
    assert intervals == sorted(intervals)
    assert intervals[-1] <= MAX_PROBE_INTERVAL_S + 0.5


def test_calls_that_use_the_cpu_are_never_probed() -> None:
    cost = CallCost(threshold_seconds=40e-6, clock=_Clock())
    for _ in range(WARMUP_CALLS):
        cost.observe(500e-6, cpu_seconds=450e-6)
    assert not cost.inline_now()
    assert cost.probes == 0


def test_timed_calls_record_the_threads_cpu_time_apart_from_the_wall_time() -> None:
    cost = CallCost(threshold_seconds=40e-6)
    cost.timed(time.sleep, 0.01)
    assert cost.mean_seconds >= 0.01
    assert cost.cpu_seconds < 0.005


def test_the_cost_line_is_none_until_enough_batches_were_measured() -> None:
    cost = CallCost(threshold_seconds=40e-6)
    for rows in range(1, WARMUP_CALLS):
        cost.observe_batch(rows, 1e-3)
        assert cost.line() is None
    cost.observe_batch(WARMUP_CALLS, 1e-3)
    assert cost.line() is not None


def test_the_cost_line_converges_to_the_measured_calls_and_follows_a_change() -> None:
    cost = CallCost(threshold_seconds=0.0)
    noise = [1.04, 0.97, 1.01, 0.96, 1.03, 0.99]  # +-4 %, deterministic
    for i in range(300):
        rows = 1 + i % 16
        cost.observe_batch(rows, (50e-6 * rows + 300e-6) * noise[i % len(noise)])
    line = cost.line()
    assert line is not None
    assert line.per_row_seconds == pytest.approx(50e-6, rel=0.1)
    assert line.fixed_seconds == pytest.approx(300e-6, rel=0.1)
    for i in range(300):  # the model turned twice as slow per row
        rows = 1 + i % 16
        cost.observe_batch(rows, 100e-6 * rows + 300e-6)
    line = cost.line()
    assert line is not None
    assert line.per_row_seconds == pytest.approx(100e-6, rel=0.02)
    assert line.seconds(10) == pytest.approx(1.3e-3, rel=0.02)


def test_the_cost_line_keeps_a_fixed_amount_of_state() -> None:
    cost = CallCost(threshold_seconds=0.0)
    for i in range(20_000):
        cost.observe_batch(1 + i % 64, 1e-4)
    # Running sums only: no sample is kept, however many calls were measured.
    numbers = [name for name in CallCost.__slots__ if name != "_clock"]
    assert all(isinstance(getattr(cost, name), (int, float)) for name in numbers)
    assert not hasattr(cost, "__dict__")


def test_batches_of_one_size_give_a_proportional_line_and_noise_never_a_negative_one() -> None:
    same = CallCost(threshold_seconds=0.0)
    for _ in range(WARMUP_CALLS):
        same.observe_batch(4, 400e-6)
    line = same.line()
    assert isinstance(line, CostLine)
    assert line.per_row_seconds == pytest.approx(100e-6) and line.fixed_seconds == 0.0
    falling = CallCost(threshold_seconds=0.0)
    for rows in [1, 8] * WARMUP_CALLS:
        falling.observe_batch(rows, 500e-6 if rows == 1 else 100e-6)
    line = falling.line()
    assert isinstance(line, CostLine) and line.per_row_seconds == 0.0 and line.fixed_seconds > 0


def test_a_servable_kept_off_the_loop_still_has_one_cost_per_signature() -> None:
    servable = HalfPlusTwo()
    servable.may_run_inline = False
    costs = CallCosts(40)
    cost = costs.of(servable, "s")
    assert costs.of(servable, "s") is cost  # its batches add up to one line
    for rows in range(1, WARMUP_CALLS + 1):
        cost.observe_batch(rows, 1e-9)
    assert not cost.cheap()
    assert cost.line() is not None


def test_timed_batches_feed_the_line_with_their_rows_also_when_they_fail() -> None:
    cost = CallCost(threshold_seconds=0.0)
    for rows in range(1, WARMUP_CALLS):
        assert cost.timed_batch(rows, lambda r: r * 2, rows) == rows * 2

    def failing() -> None:
        raise ValueError("model error")

    with pytest.raises(ValueError):
        cost.timed_batch(WARMUP_CALLS, failing)
    assert cost.batches == WARMUP_CALLS and cost.calls == WARMUP_CALLS
    line = cost.line()
    assert line is not None and line.seconds(WARMUP_CALLS) > 0
