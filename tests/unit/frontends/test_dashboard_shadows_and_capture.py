"""The dashboard's shadow-version and request-capture endpoints over real metrics.

The observations go through the server's own observers (``ServerMetrics.shadow`` and
``.request_log``) into a real registry, with agreements from the real comparison; the
endpoints are served by an aiohttp server on a loopback port and read over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from actors.routing import RoutingTable
from actors.shadow_compare import compare_outputs
from app.metrics import ServerMetrics
from config.model_config import ModelServerSettings, ModelSettings
from config.request_logging import RequestLogging
from config.shadow_config import ShadowRule, VersionRef
from frontends.dashboard import Dashboard
from frontends.dashboard.capture import capture_summary
from frontends.dashboard.histogram import quantile_ms
from frontends.dashboard.shadows import shadow_summary

RULE = ShadowRule(
    model_name="ranker", primary=None, shadow=VersionRef(label="canary"), sampling_rate=0.05
)


def observe_shadow_traffic(metrics: ServerMetrics) -> None:
    """ranker v1 -> v2: two compared (3 of 4 rows agree), one failed, two dropped busy."""
    agreeing = np.array([[0.9, 0.1], [0.2, 0.8]], np.float32)
    one_off = np.array([[0.9, 0.1], [0.7, 0.3]], np.float32)
    metrics.shadow.shadow_compared(
        "ranker", 1, 2, compare_outputs({"probs": agreeing}, {"probs": agreeing}), 0.002
    )
    metrics.shadow.shadow_compared(
        "ranker", 1, 2, compare_outputs({"probs": agreeing}, {"probs": one_off}), 0.004
    )
    metrics.shadow.shadow_failed("ranker", 1, 2, "INTERNAL")
    metrics.shadow.shadow_skipped("ranker", "busy")
    metrics.shadow.shadow_skipped("ranker", "busy")
    # A regressor pair: numeric difference, no argmax.
    metrics.shadow.shadow_compared(
        "half", 123, 124, compare_outputs({"y": np.array([2.5])}, {"y": np.array([2.0])}), 0.001
    )


def test_each_pair_shows_runs_agreement_difference_and_latency() -> None:
    metrics = ServerMetrics()
    observe_shadow_traffic(metrics)
    summary = shadow_summary(metrics.registry, [RULE])
    assert summary["rules"] == [
        {"model": "ranker", "primary": "*", "shadow": "canary", "sampling_rate": 0.05}
    ]
    half, ranker = summary["pairs"]
    assert (ranker["model"], ranker["primary_version"], ranker["shadow_version"]) == (
        "ranker",
        "1",
        "2",
    )
    assert (ranker["mirrored"], ranker["compared"], ranker["failed"]) == (3.0, 2.0, 1.0)
    assert ranker["argmax_rows"] == 4.0
    assert ranker["argmax_agreement"] == 0.75
    assert ranker["max_abs_difference"] == pytest.approx(0.5)
    assert ranker["latency_mean_ms"] == pytest.approx(3.0)
    assert 2.0 <= ranker["latency_p50_ms"] <= 4.0
    assert summary["skipped"] == {"ranker": {"busy": 2.0}}
    assert half["model"] == "half"
    assert half["argmax_agreement"] is None  # not a classifier's output
    assert half["max_abs_difference"] == pytest.approx(0.5)


def test_no_rules_and_no_traffic_give_an_empty_summary() -> None:
    summary = shadow_summary(ServerMetrics().registry, [])
    assert summary == {"rules": [], "pairs": [], "skipped": {}}


def test_a_rule_without_traffic_has_no_pairs_yet() -> None:
    summary = shadow_summary(ServerMetrics().registry, [RULE])
    assert len(summary["rules"]) == 1
    assert summary["pairs"] == []


def test_capture_shows_configured_models_and_their_counts() -> None:
    metrics = ServerMetrics()
    metrics.request_log.request_log_written("logged", 3, 1200)
    metrics.request_log.request_log_written("logged", 1, 400)
    metrics.request_log.request_log_dropped("logged", "queue_full", 2)
    metrics.request_log.request_log_dropped("gone", "unconfigured")
    models = [
        ModelSettings(
            name="logged",
            base_path="/models/logged",
            request_logging=RequestLogging(filename_prefix="/logs/reqlog", sampling_rate=0.1),
        ),
        ModelSettings(
            name="quiet",
            base_path="/models/quiet",
            request_logging=RequestLogging(filename_prefix="/logs/quiet", sampling_rate=0.5),
        ),
        ModelSettings(name="plain", base_path="/models/plain"),
    ]
    gone, logged, quiet = capture_summary(metrics.registry, models)
    assert logged == {
        "model": "logged",
        "filename_prefix": "/logs/reqlog",
        "sampling_rate": 0.1,
        "records": 4.0,
        "bytes": 1600.0,
        "dropped": 2.0,
        "dropped_by_reason": {"queue_full": 2.0},
    }
    assert (quiet["model"], quiet["records"], quiet["dropped"]) == ("quiet", 0.0, 0.0)
    assert (gone["model"], gone["filename_prefix"], gone["dropped"]) == ("gone", None, 1.0)
    assert capture_summary(ServerMetrics().registry, [models[2]]) == []


def test_the_shadow_latency_quantile_uses_microsecond_buckets() -> None:
    # 10 observations up to 1000 µs, 10 more up to 2000 µs: the median is 1 ms.
    assert quantile_ms({}, {1000.0: 10.0, 2000.0: 20.0, float("inf"): 20.0}, 0.5) == 1.0
    assert quantile_ms({}, {1000.0: 0.0, float("inf"): 0.0}, 0.5) is None


def settings(models: Sequence[ModelSettings]) -> ModelServerSettings:
    return ModelServerSettings(models=tuple(models), source="test")


@pytest.fixture
async def dashboard_client() -> AsyncIterator[tuple[TestClient[Any, Any], ServerMetrics]]:
    metrics = ServerMetrics()
    logged = ModelSettings(
        name="ranker",
        base_path="/models/ranker",
        request_logging=RequestLogging(filename_prefix="/logs/ranker", sampling_rate=1.0),
    )
    dashboard = Dashboard(
        routing=RoutingTable(),
        settings=lambda: settings([logged]),
        registry=metrics.registry,
        server_info=dict,
        shadow_rules=[RULE],
    )
    app = web.Application()
    for method, path, handler in dashboard.routes():
        app.router.add_route(method, path, handler)
    async with TestClient(TestServer(app)) as client:
        yield client, metrics


async def test_the_endpoints_serve_what_the_registry_holds(
    dashboard_client: tuple[TestClient[Any, Any], ServerMetrics],
) -> None:
    client, metrics = dashboard_client
    empty = await (await client.get("/dashboard/api/shadows")).json()
    assert (len(empty["rules"]), empty["pairs"]) == (1, [])
    observe_shadow_traffic(metrics)
    metrics.request_log.request_log_written("ranker", 2, 300)
    response = await client.get("/dashboard/api/shadows")
    assert response.status == 200
    shadows = await response.json()
    assert [(p["model"], p["mirrored"]) for p in shadows["pairs"]] == [
        ("half", 1.0),
        ("ranker", 3.0),
    ]
    assert shadows["pairs"][1]["argmax_agreement"] == 0.75
    capture = await (await client.get("/dashboard/api/capture")).json()
    assert capture["models"][0]["model"] == "ranker"
    assert (capture["models"][0]["records"], capture["models"][0]["bytes"]) == (2.0, 300.0)


async def test_the_page_has_both_panels(
    dashboard_client: tuple[TestClient[Any, Any], ServerMetrics],
) -> None:
    client, _metrics = dashboard_client
    page = await (await client.get("/")).text()
    assert 'id="shadows-panel"' in page and 'id="capture-panel"' in page
    script = await (await client.get("/dashboard/static/app.js")).text()
    assert "/dashboard/api/shadows" in script and "/dashboard/api/capture" in script
