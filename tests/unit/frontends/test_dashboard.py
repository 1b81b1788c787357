"""The dashboard's metrics points, read from a real ``ServerMetrics`` registry."""

from __future__ import annotations

from app.metrics import ServerMetrics
from frontends.dashboard import MetricsHistory
from protocol.status import Code


def test_a_point_holds_rates_latency_batch_size_and_queue_depth() -> None:
    metrics = ServerMetrics()
    now = [100.0]
    history = MetricsHistory(metrics.registry, clock=lambda: now[0])
    history.refresh()
    for _ in range(4):
        metrics.observe(
            model_name="m", api="grpc", entrypoint="Predict", code=Code.OK, seconds=0.002
        )
    metrics.observe(
        model_name="m", api="grpc", entrypoint="Predict", code=Code.NOT_FOUND, seconds=0.001
    )
    metrics.batch_formed("m", input_rows=3, padded_rows=4)
    metrics.queue_depth("m", 7)
    now[0] = 102.0
    history.refresh()
    point = history.latest()["m"]
    assert point["rps"] == 2.5  # 5 requests over 2 s
    assert point["eps"] == 0.5
    assert point["batch"] == 3.0
    assert point["queue"] == 7.0
    assert point["p50"] is not None and 0.0 < point["p50"] <= 2.5
    assert history.series("m")["points"] == [point]
