"""The call-cost estimate that decides when a model call runs on the loop itself."""

from __future__ import annotations

from actors.call_costs import SLOW_FACTOR, WARMUP_CALLS, CallCost, CallCosts
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
