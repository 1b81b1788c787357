"""Replacing the model set at run time, under a steady stream of requests.

The ReloadConfig tests share one server (started with models a and b); before each test
it is reloaded back to that start-up set, so no test depends on another's reloads. Polling
the config file needs a flag of its own, hence a second server, started at the same time.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import model_management_pb2, predict_pb2

from tests.integration.server_process import ServerProcess, ServerStarter


def config_text(testdata: Path, *, models: list[str], stable: int = 123, extra: str = "") -> str:
    blocks = {
        "a": f'config {{ name: "a" base_path: "{testdata}/saved_model_half_plus_two_2_versions" '
        f'model_version_policy {{ all {{}} }} version_labels {{ key: "stable" value: {stable} }} }}',
        "b": f'config {{ name: "b" base_path: "{testdata}/saved_model_half_plus_two_cpu" }}',
        "c": f'config {{ name: "c" base_path: "{testdata}/saved_model_half_plus_three" }}',
    }
    return "model_config_list { " + " ".join(blocks[m] for m in models) + extra + " }"


def reload_request(text: str) -> model_management_pb2.ReloadConfigRequest:
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, request.config)
    return request


def predict(
    server: ServerProcess, model: str, label: str | None = None
) -> predict_pb2.PredictResponse:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if label:
        request.model_spec.version_label = label
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0]], np.float32)))
    return server.prediction.Predict(request, timeout=10)


class Stream:
    """Sends requests to model "a" (latest, and label "stable") until stopped."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.sent = 0
        self.failures: list[str] = []
        self.versions_by_label: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for label in (None, "stable"):
                try:
                    response = predict(self.server, "a", label)
                    if label:
                        self.versions_by_label.append(response.model_spec.version.value)
                except grpc.RpcError as error:
                    self.failures.append(f"{error.code()}: {error.details()}")
                self.sent += 1


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config_reload")


@pytest.fixture(scope="module")
def polled_config(folder: Path) -> Path:
    """The config file of the server started with ``--model_config_file_poll_wait_seconds``."""
    return folder / "polled.config"


@pytest.fixture(scope="module")
def servers(
    start_server: ServerStarter, testdata: Path, folder: Path, polled_config: Path
) -> list[ServerProcess]:
    """The ReloadConfig server (a, b) and the polling one (b), started together."""
    config = folder / "models.config"
    config.write_text(config_text(testdata, models=["a", "b"]))
    polled_config.write_text(config_text(testdata, models=["b"]))
    return start_server.together(
        [f"--model_config_file={config}"],
        [f"--model_config_file={polled_config}", "--model_config_file_poll_wait_seconds=1"],
    )


@pytest.fixture(scope="module")
def reloaded_server(servers: list[ServerProcess]) -> ServerProcess:
    return servers[0]


@pytest.fixture
def server(reloaded_server: ServerProcess, testdata: Path) -> ServerProcess:
    """The shared server, reloaded to its start-up set (a with label stable=123, b)."""
    response = reloaded_server.models.HandleReloadConfigRequest(
        reload_request(config_text(testdata, models=["a", "b"])), timeout=60
    )
    assert response.status.error_code == 0, response.status.error_message
    return reloaded_server


def test_reload_adds_removes_and_relabels_with_zero_failed_requests(
    server: ServerProcess, testdata: Path
) -> None:
    assert predict(server, "b").model_spec.version.value == 123
    with Stream(server) as stream:
        time.sleep(0.5)
        response = server.models.HandleReloadConfigRequest(
            reload_request(config_text(testdata, models=["a", "c"], stable=124)), timeout=60
        )
        assert response.status.error_code == 0
        time.sleep(0.5)
    assert stream.failures == []
    assert stream.sent > 10
    assert stream.versions_by_label[-1] == 124  # the label moved
    assert set(stream.versions_by_label) <= {123, 124}
    np.testing.assert_allclose(tf.make_ndarray(predict(server, "c").outputs["y"]), [[3.5]])  # added
    with pytest.raises(grpc.RpcError) as removed:
        predict(server, "b")
    assert removed.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_bad_reload_is_rejected_and_leaves_the_set_untouched(
    server: ServerProcess, testdata: Path
) -> None:
    duplicate = config_text(testdata, models=["a", "b", "b"])
    with pytest.raises(grpc.RpcError) as rejected:
        server.models.HandleReloadConfigRequest(reload_request(duplicate), timeout=60)
    assert rejected.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "b" in rejected.value.details()

    unavailable_label = config_text(testdata, models=["a", "b"], stable=999)
    with pytest.raises(grpc.RpcError) as refused:
        server.models.HandleReloadConfigRequest(reload_request(unavailable_label), timeout=60)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert predict(server, "b").model_spec.version.value == 123
    assert predict(server, "a", "stable").model_spec.version.value == 123


def test_a_missing_base_path_does_not_wedge_this_or_later_reloads(
    server: ServerProcess, testdata: Path, tmp_path: Path
) -> None:
    missing = f' config {{ name: "ghost" base_path: "{tmp_path}/not_there_yet" }}'
    started = time.monotonic()
    server.models.HandleReloadConfigRequest(
        reload_request(config_text(testdata, models=["a", "b"], extra=missing)), timeout=60
    )
    assert time.monotonic() - started < 30
    server.models.HandleReloadConfigRequest(
        reload_request(config_text(testdata, models=["a", "c"], extra=missing)), timeout=60
    )
    assert predict(server, "c").model_spec.version.value == 123
    with pytest.raises(grpc.RpcError) as ghost:
        predict(server, "ghost")
    assert ghost.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_config_file_is_polled_when_asked(
    servers: list[ServerProcess], polled_config: Path, testdata: Path
) -> None:
    server, config = servers[1], polled_config  # started with model b only
    config.write_text("this is { not valid")  # logged and ignored
    server.wait_until(
        lambda: "ignoring the changed model config file" in server.log(),
        what="the invalid config file logged and ignored",
    )
    assert predict(server, "b").model_spec.version.value == 123
    config.write_text(config_text(testdata, models=["b", "c"]))

    def served() -> bool:
        try:
            version: int = predict(server, "c").model_spec.version.value
            return version == 123
        except grpc.RpcError:
            return False

    server.wait_until(served, what="model c from the re-read config file")
    assert "ignoring the changed model config file" in server.log()


def _first_point(server: ServerProcess, exported_name: str) -> int:
    """The first sample of a metric family in ``/metrics``, as TF Serving's GetMetrics reads it."""
    status, text = server.http("GET", "/metrics")
    assert status == 200
    for line in str(text).splitlines():
        if line.startswith(exported_name + "{") or line.startswith(exported_name + " "):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def test_metric_names_are_answered_with_their_increase_over_the_reload(
    server: ServerProcess, testdata: Path
) -> None:
    """TF Serving's ``model_service_impl.cc`` (``RecordMetricsIncrease``): one ``metric``
    entry per distinct name, in order, with the increase of its first point (issue 18 item 8)."""
    load_attempts = "/tensorflow/cc/saved_model/load_attempt_count"
    exported = ":tensorflow:cc:saved_model:load_attempt_count"
    response = server.models.HandleReloadConfigRequest(
        reload_request(config_text(testdata, models=["c"])), timeout=60
    )
    assert response.status.error_code == 0 and list(response.metric) == []
    before = _first_point(server, exported)
    request = reload_request(config_text(testdata, models=["a", "b"]))  # a and b load again
    request.metric_names.extend(
        [load_attempts, "/tensorflow/serving/no_such_metric", load_attempts]
    )
    response = server.models.HandleReloadConfigRequest(request, timeout=60)
    assert response.status.error_code == 0, response.status.error_message
    after = _first_point(server, exported)
    assert after > before  # the first point is model a's or b's, both loaded again
    increases = [(m.name, m.int64_value_increase) for m in response.metric]
    assert increases == [(load_attempts, after - before), ("/tensorflow/serving/no_such_metric", 0)]
