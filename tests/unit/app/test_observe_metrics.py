"""Request-logging and shadow series on the server's one registry, with bounded model labels."""

from __future__ import annotations

from actors.shadow_compare import Agreement
from app.metrics import UNKNOWN_MODEL_LABEL, ServerMetrics


def test_request_log_series_are_exposed_with_bounded_model_labels() -> None:
    metrics = ServerMetrics(model_known=lambda name: name == "m")
    metrics.request_log.request_log_written("m", 3, 120)
    metrics.request_log.request_log_dropped("m", "queue_full", 2)
    metrics.request_log.request_log_dropped("random-name", "stopped")
    text = metrics.exposition().decode()
    assert 'aioserving_request_log_records_total{model_name="m"} 3.0' in text
    assert 'aioserving_request_log_bytes_total{model_name="m"} 120.0' in text
    assert 'aioserving_request_log_dropped_total{model_name="m",reason="queue_full"} 2.0' in text
    assert (
        f'aioserving_request_log_dropped_total{{model_name="{UNKNOWN_MODEL_LABEL}",'
        'reason="stopped"} 1.0'
    ) in text


def test_shadow_series_are_exposed_per_version_pair() -> None:
    metrics = ServerMetrics()
    agreement = Agreement(
        max_abs_difference=0.5, argmax_rows=4, argmax_equal_rows=3, differing_outputs=("y",)
    )
    metrics.shadow.shadow_compared("m", 3, 4, agreement, 0.002)
    metrics.shadow.shadow_compared(
        "m",
        3,
        4,
        Agreement(max_abs_difference=0.1, argmax_rows=4, argmax_equal_rows=4, differing_outputs=()),
        0.001,
    )
    metrics.shadow.shadow_skipped("m", "busy")
    value = metrics.registry.get_sample_value
    pair = {"model_name": "m", "primary_version": "3", "shadow_version": "4"}
    assert value("aioserving_shadow_argmax_agreement", pair) == 0.875
    assert value("aioserving_shadow_max_abs_difference", pair) == 0.5
    assert value("aioserving_shadow_requests_total", {**pair, "outcome": "compared"}) == 2
    assert value("aioserving_shadow_differing_outputs_total", {**pair, "output": "y"}) == 1
    assert value("aioserving_shadow_skipped_total", {"model_name": "m", "reason": "busy"}) == 1
    assert value("aioserving_shadow_latency_count", pair) == 2
    assert b"aioserving_shadow_argmax_agreement{" in metrics.exposition()
