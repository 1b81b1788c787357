"""merge_expositions: two workers' real registries merged as one server's /metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from app.metrics import EXACT_COUNTER_NAMES, ServerMetrics
from app.worker_link import merge_expositions
from protocol.status import Code


def exact(name: str) -> str:
    """The sample name as exposed: the parser appends ``_total`` to a counter's samples."""
    bare = name.removesuffix("_total")
    return bare if bare in EXACT_COUNTER_NAMES else name


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (exact(s.name), tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_counts_are_summed_and_histograms_merged_bucket_by_bucket() -> None:
    first, second = ServerMetrics(), ServerMetrics()
    first.observe(model_name="m", api="grpc", entrypoint="Predict", code=Code.OK, seconds=0.00001)
    second.observe(model_name="m", api="grpc", entrypoint="Predict", code=Code.OK, seconds=1.0)
    second.observe(
        model_name="m", api="grpc", entrypoint="Predict", code=Code.NOT_FOUND, seconds=1.0
    )
    second.load_attempt("m", succeeded=True)
    merged = samples(
        merge_expositions([(0, first.exposition().decode()), (1, second.exposition().decode())])
    )

    count = ":tensorflow:serving:request_count"
    assert merged[(count, (("model_name", "m"), ("status", "OK")))] == 2
    assert merged[(count, (("model_name", "m"), ("status", "NOT_FOUND")))] == 1
    assert (
        merged[
            (
                ":tensorflow:cc:saved_model:load_attempt_count",
                (("model_name", "m"), ("status", "OK")),
            )
        ]
        == 1
    )
    labels = (("API", "Predict"), ("entrypoint", "GRPC"), ("model_name", "m"))
    latency = ":tensorflow:serving:request_latency"
    # Latency is recorded for successful requests only, as TF Serving does.
    assert merged[(latency + "_count", labels)] == 2
    assert merged[(latency + "_sum", labels)] == 10 + 1e6
    assert (
        merged[(latency + "_bucket", tuple(sorted((*labels, ("le", "10.0")))))] == 1
    )  # only the fast one
    assert merged[(latency + "_bucket", tuple(sorted((*labels, ("le", "+Inf")))))] == 2


def test_created_takes_the_earliest_and_process_series_stay_per_worker() -> None:
    first, second = ServerMetrics(), ServerMetrics()
    for metrics in (first, second):
        metrics.observe(
            model_name="m", api="rest", entrypoint="Predict", code=Code.OK, seconds=0.001
        )
    texts = [(0, first.exposition().decode()), (1, second.exposition().decode())]
    merged = samples(merge_expositions(texts))
    labels = (("API", "predict"), ("entrypoint", "REST"), ("model_name", "m"))
    created = [
        samples(t.encode())[(":tensorflow:serving:request_latency_created", labels)]
        for _, t in texts
    ]
    assert merged[(":tensorflow:serving:request_latency_created", labels)] == min(created)
    memory = [key for key in merged if key[0] == "process_resident_memory_bytes"]
    assert sorted(memory) == [
        ("process_resident_memory_bytes", (("worker", "0"),)),
        ("process_resident_memory_bytes", (("worker", "1"),)),
    ]


def test_exact_counter_names_survive_the_merge() -> None:
    metrics = ServerMetrics()
    metrics.observe(model_name="m", api="grpc", entrypoint="Predict", code=Code.OK, seconds=0.001)
    text = merge_expositions([(0, metrics.exposition().decode())]).decode()
    assert ':tensorflow:serving:request_count{model_name="m",status="OK"} 1.0' in text
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert "request_count_total" not in text
