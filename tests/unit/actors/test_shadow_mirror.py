"""Shadow runs after the reply: bounded, failures measured, metrics per version pair."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from actors.shadow_mirror import Outputs, ShadowMirror
from actors.shadow_policy import Mirror, Skip
from app.shadow_metrics import ShadowMetrics
from config.shadow_config import ShadowRule, VersionRef

LABELS = {"stable": 3, "canary": 4}
SCORES = np.array([[0.1, 0.9], [0.7, 0.3]], np.float32)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def mirror_for(registry: CollectorRegistry, **options: Any) -> ShadowMirror:
    rules = [
        ShadowRule(
            model_name="m", primary=None, shadow=VersionRef(label="canary"), sampling_rate=1.0
        )
    ]
    return ShadowMirror(rules, observer=ShadowMetrics(registry), **options)


async def test_a_mirrored_request_is_compared_and_measured_per_pair() -> None:
    registry = CollectorRegistry()
    ticks = iter([10.0, 10.25])
    mirror = mirror_for(registry, clock=lambda: next(ticks))
    assert mirror.decide("other", 3, LABELS) == Skip("no_rule")
    decision = mirror.decide("m", 3, LABELS)
    assert decision == Mirror(4)
    ran: list[str] = []

    async def run() -> Outputs:
        ran.append("shadow")
        return {"scores": np.array([[0.2, 0.8], [0.4, 0.6]], np.float32)}

    assert isinstance(decision, Mirror)
    assert mirror.submit("m", 3, decision, {"scores": SCORES}, run)
    assert ran == []  # nothing runs before the caller's task yields (the reply goes first)
    while mirror.in_flight:
        await asyncio.sleep(0)
    assert ran == ["shadow"]
    pair = {"model_name": "m", "primary_version": "3", "shadow_version": "4"}
    assert sample(registry, "aioserving_shadow_requests_total", **pair, outcome="compared") == 1
    assert sample(registry, "aioserving_shadow_argmax_rows_total", **pair) == 2
    assert sample(registry, "aioserving_shadow_argmax_equal_rows_total", **pair) == 1
    assert sample(registry, "aioserving_shadow_argmax_agreement", **pair) == 0.5
    difference = sample(registry, "aioserving_shadow_max_abs_difference", **pair)
    assert difference is not None and abs(difference - 0.3) < 1e-6
    assert sample(registry, "aioserving_shadow_latency_sum", **pair) == 250_000.0


async def test_shadows_beyond_the_bound_are_dropped_and_failures_never_propagate() -> None:
    registry = CollectorRegistry()
    mirror = mirror_for(registry, max_in_flight=1)
    release = asyncio.Event()

    async def slow_failure() -> Outputs:
        await release.wait()
        raise RuntimeError("shadow broke")

    assert mirror.submit("m", 3, Mirror(4), {"scores": SCORES}, slow_failure)
    assert mirror.decide("m", 3, LABELS) == Skip("busy")
    assert not mirror.submit("m", 3, Mirror(4), {"scores": SCORES}, slow_failure)
    assert sample(registry, "aioserving_shadow_skipped_total", model_name="m", reason="busy") == 2
    assert mirror.decide("m", 3, LABELS, primary_busy=False) == Skip("busy")
    release.set()
    while mirror.in_flight:
        await asyncio.sleep(0)
    pair = {"model_name": "m", "primary_version": "3", "shadow_version": "4"}
    assert sample(registry, "aioserving_shadow_requests_total", **pair, outcome="failed") == 1
    assert mirror.decide("m", 3, LABELS, primary_busy=True) == Skip("busy")
    assert mirror.decide("m", 3, LABELS) == Mirror(4)


async def test_stop_cancels_running_shadows() -> None:
    mirror = mirror_for(CollectorRegistry())
    started = asyncio.Event()

    async def forever() -> Outputs:
        started.set()
        await asyncio.Event().wait()
        return {}

    assert mirror.submit("m", 3, Mirror(4), {}, forever)
    await started.wait()
    await mirror.stop()
    assert mirror.in_flight == 0
