"""ServerMetrics: TF Serving's names, exact counter samples, and an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.metrics import (
    MAX_CACHED_SERIES,
    MAX_LABEL_CHARS,
    RECHECK_KNOWN_SECONDS,
    UNKNOWN_MODEL_LABEL,
    ServerMetrics,
)
from protocol.status import Code


def exposition_lines(metrics: ServerMetrics) -> list[str]:
    return metrics.exposition().decode().splitlines()


def test_request_count_keeps_tf_servings_exact_sample_name() -> None:
    metrics = ServerMetrics()
    metrics.observe(model_name="m", api="grpc", entrypoint="Predict", code=Code.OK, seconds=0.001)
    metrics.observe(
        model_name="m", api="rest", entrypoint="Predict", code=Code.INVALID_ARGUMENT, seconds=0.002
    )
    lines = exposition_lines(metrics)
    assert ':tensorflow:serving:request_count{model_name="m",status="OK"} 1.0' in lines
    assert (
        ':tensorflow:serving:request_count{model_name="m",status="INVALID_ARGUMENT"} 1.0' in lines
    )
    assert not any(line.startswith(":tensorflow:serving:request_count_total") for line in lines)
    assert "# TYPE :tensorflow:serving:request_count counter" in lines


def test_request_latency_uses_tf_servings_api_and_entrypoint_labels() -> None:
    """prediction_service_impl.cc: RecordRequestLatency(model, /*api=*/"Predict",
    /*entrypoint=*/"GRPC"); http_server.cc: (/*api=*/method, /*entrypoint=*/"REST"), where
    http_rest_api_handler.cc's method is the URL verb ("predict", "metadata", none)."""
    metrics = ServerMetrics()
    for api, entrypoint in [
        ("grpc", "Predict"),
        ("rest", "Predict"),
        ("rest", "GetModelMetadata"),
        ("rest", "GetModelStatus"),
        ("v2", "ModelInfer"),
    ]:
        metrics.observe(model_name="m", api=api, entrypoint=entrypoint, code=Code.OK, seconds=0.001)
    lines = exposition_lines(metrics)
    name = ":tensorflow:serving:request_latency_count"
    for labels in [
        'API="Predict",entrypoint="GRPC"',
        'API="predict",entrypoint="REST"',
        'API="metadata",entrypoint="REST"',
        'API="",entrypoint="REST"',
        'API="ModelInfer",entrypoint="V2"',
    ]:
        assert f'{name}{{{labels},model_name="m"}} 1.0' in lines


def test_exact_counters_are_declared_counter_as_tf_serving_declares_them() -> None:
    """TF Serving's /metrics: ``# TYPE :tensorflow:serving:request_count counter`` over
    samples without ``_total`` (util.cc declares it a monitoring::Counter)."""
    metrics = ServerMetrics()
    metrics.load_attempt("m", succeeded=True)
    metrics.observe(model_name="m", api="grpc", entrypoint="Predict", code=Code.OK, seconds=0.001)
    text = metrics.exposition().decode()
    assert "# TYPE :tensorflow:cc:saved_model:load_attempt_count counter" in text
    assert "# TYPE :tensorflow:serving:request_count untyped" not in text
    assert "_total{model_name" not in text


def test_batch_metrics_and_padding() -> None:
    metrics = ServerMetrics()
    for _ in range(2):
        metrics.batch_formed("m", input_rows=3, padded_rows=4)
    metrics.queued("m", 0.0005)
    lines = exposition_lines(metrics)
    assert ':tensorflow:serving:batching_session:input_batch_size_sum{model_name="m"} 6.0' in lines
    assert (
        ':tensorflow:serving:batching_session:processed_batch_size_sum{model_name="m"} 8.0' in lines
    )
    assert ':tensorflow:serving:batching_session:padding_size_sum{model_name="m"} 2.0' in lines
    assert ':tensorflow:serving:batching_session:queuing_latency_sum{model_name="m"} 500.0' in lines


def test_queue_depth_is_a_gauge_per_model() -> None:
    metrics = ServerMetrics()
    metrics.queue_depth("m", 5)
    metrics.queue_depth("m", 2)
    metrics.queue_depth("n", 0)
    lines = exposition_lines(metrics)
    assert "# TYPE aioserving_batch_queue_depth gauge" in lines
    assert 'aioserving_batch_queue_depth{model_name="m"} 2.0' in lines
    assert 'aioserving_batch_queue_depth{model_name="n"} 0.0' in lines


def test_each_server_has_its_own_registry() -> None:
    first, second = ServerMetrics(), ServerMetrics(CollectorRegistry())
    first.load_attempt("m", succeeded=True)
    assert any("load_attempt_count" in line and "OK" in line for line in exposition_lines(first))
    assert not any("load_attempt_count{" in line for line in exposition_lines(second))


def test_unknown_model_names_share_one_label_and_latency_counts_only_successes() -> None:
    metrics = ServerMetrics(model_known=lambda name: name == "known")
    for index in range(50):
        metrics.observe(
            model_name=f"random{index}",
            api="rest",
            entrypoint="Predict",
            code=Code.NOT_FOUND,
            seconds=0.01,
        )
    metrics.observe(
        model_name="known", api="grpc", entrypoint="Predict", code=Code.OK, seconds=0.01
    )
    text = metrics.exposition().decode()
    assert "random" not in text
    assert metrics.request_count.value(UNKNOWN_MODEL_LABEL, "NOT_FOUND") == 50
    assert 'request_latency_count{API="predict"' not in text  # failures have no latency
    assert 'request_latency_count{API="Predict",entrypoint="GRPC",model_name="known"} 1.0' in text


def test_label_values_are_bounded() -> None:
    metrics = ServerMetrics()
    metrics.observe(
        model_name="m" * 10_000, api="rest", entrypoint="Predict", code=Code.OK, seconds=0.01
    )
    assert metrics.model_label("m" * 10_000) == "m" * MAX_LABEL_CHARS
    assert "m" * (MAX_LABEL_CHARS + 1) not in metrics.exposition().decode()


def test_metric_values_answer_tf_serving_names_with_their_first_point() -> None:
    """model_service_impl.cc GetMetrics: the first point's int64 value, 0 when unknown."""
    metrics = ServerMetrics()
    metrics.load_attempt("m", succeeded=True)
    metrics.load_attempt("m", succeeded=True)
    values = metrics.metric_values(["/tensorflow/cc/saved_model/load_attempt_count", "/nope"])
    assert values == {"/tensorflow/cc/saved_model/load_attempt_count": 2, "/nope": 0}


def test_requests_for_unknown_models_are_counted_but_never_cached() -> None:
    metrics = ServerMetrics(model_known=lambda name: name == "known")
    for code in (Code.OK, Code.NOT_FOUND):
        metrics.observe(model_name="known", api="grpc", entrypoint="Predict", code=code, seconds=0)
    for index in range(200):
        metrics.observe(
            model_name=f"random{index}", api="grpc", entrypoint="Predict", code=Code.OK, seconds=0
        )
    assert metrics.cached_request_series == 2
    assert metrics.request_count.value(UNKNOWN_MODEL_LABEL, "OK") == 200
    assert metrics.model_stats().keys() == {"known"}


def test_the_series_cache_has_a_ceiling_even_when_every_name_is_known() -> None:
    metrics = ServerMetrics()  # no model_known: every name is its own label
    for index in range(MAX_CACHED_SERIES + 50):
        metrics.observe(
            model_name=f"m{index}", api="rest", entrypoint="Predict", code=Code.OK, seconds=0
        )
    assert metrics.cached_request_series == MAX_CACHED_SERIES
    assert metrics.request_count.value(f"m{MAX_CACHED_SERIES + 49}", "OK") == 1


def test_cached_series_keep_counting_and_feed_the_model_tally() -> None:
    metrics = ServerMetrics(model_known=lambda name: name == "m")
    for _ in range(3):
        metrics.observe(model_name="m", api="v2", entrypoint="ModelInfer", code=Code.OK, seconds=2)
    metrics.observe(
        model_name="m", api="v2", entrypoint="ModelInfer", code=Code.INTERNAL, seconds=1
    )
    metrics.observe(model_name="m", api="v2", entrypoint="ModelMetadata", code=Code.OK, seconds=1)
    assert metrics.request_count.value("m", "OK") == 4
    assert metrics.request_count.value("m", "INTERNAL") == 1
    stats = metrics.model_stats()["m"]
    assert (stats.success_count, stats.success_ns) == (3, 6_000_000_000)
    assert (stats.fail_count, stats.fail_ns) == (1, 1_000_000_000)
    text = metrics.exposition().decode()
    assert 'request_latency_count{API="ModelInfer",entrypoint="V2",model_name="m"} 3.0' in text


def test_a_model_removed_from_the_configuration_is_counted_as_unknown_after_the_recheck() -> None:
    configured = {"m"}
    now = [100.0]
    metrics = ServerMetrics(model_known=configured.__contains__, clock=lambda: now[0])
    metrics.observe(model_name="m", api="grpc", entrypoint="Predict", code=Code.OK, seconds=0)
    configured.clear()
    now[0] += RECHECK_KNOWN_SECONDS / 2
    metrics.observe(model_name="m", api="grpc", entrypoint="Predict", code=Code.OK, seconds=0)
    assert metrics.request_count.value("m", "OK") == 2  # still within the trusted interval
    now[0] += RECHECK_KNOWN_SECONDS
    metrics.observe(model_name="m", api="grpc", entrypoint="Predict", code=Code.OK, seconds=0)
    assert metrics.request_count.value("m", "OK") == 2
    assert metrics.request_count.value(UNKNOWN_MODEL_LABEL, "OK") == 1
    assert metrics.cached_request_series == 0
