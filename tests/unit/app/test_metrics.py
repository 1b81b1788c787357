"""ServerMetrics: TF Serving's names, exact counter samples, and an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.metrics import MAX_LABEL_CHARS, UNKNOWN_MODEL_LABEL, ServerMetrics
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
