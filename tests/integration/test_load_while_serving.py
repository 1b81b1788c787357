"""No request is lost while versions load, switch and unload (issue 21).

One real server (polling every second) serves A, a copy of ``half_plus_two`` version 123,
and B, a generated TF1 model whose graph (about 2,000 nodes) is imported in several steps.
Two threads send Predict to A, with no version, back to back, through the official stub,
and record every answer. Meanwhile B's version 2 is copied in (loaded, made AVAILABLE,
version 1 unloaded), and then A's version 124 (A itself moves from 123 to 124). Every call
must be answered OK (no UNAVAILABLE, no NOT_FOUND), with x/2 + 2; calls must have been
answered by both of A's versions, and during B's load. Speed is the bench's business
(``bench/load_stall.py``): nothing here is timed.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2

from tests.integration.conftest import copy_model
from tests.integration.server_process import ServerProcess
from tests.tf1_models import save_predict_model

AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.END
B_LAYERS = 150  # about 2,000 nodes: more than one import step (servables.tensorflow.graph_import)


def _export_b(target: Path) -> None:
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        h = x
        for i in range(B_LAYERS):
            w = v1.get_variable(f"layer_{i}/w", [4, 4], tf.float32)
            h = tf.nn.relu(tf.matmul(h, w * 0.1) + 1.0)
        y = tf.identity(h, name="y")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            save_predict_model(session, target, {"x": x}, {"y": y})


def _state(server: ServerProcess, model: str, version: int) -> int | None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    response = server.models.GetModelStatus(request, timeout=10)
    states = {s.version: s.state for s in response.model_version_status}
    return states.get(version)


def _copy_in(source: Path, target: Path) -> None:
    """Aside, then renamed, as an exporter does: the poller never sees half a version."""
    staging = target.parent / f".{target.name}.incomplete"
    shutil.copytree(source, staging)
    staging.rename(target)


class _Stream:
    """Threads sending Predict to one model back to back; every answer kept."""

    def __init__(self, server: ServerProcess, model: str, threads: int) -> None:
        self._server = server
        self._model = model
        self._stop = threading.Event()
        self.answers: list[tuple[float, int, float | str]] = []  # (start, version, y | error)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self._model
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[3.0]], np.float32)))
        while not self._stop.is_set():
            started = time.time()
            try:
                response = self._server.prediction.Predict(request, timeout=30)
            except grpc.RpcError as error:
                answer: tuple[float, int, float | str] = (
                    started,
                    0,
                    f"{error.code().name}: {error.details()}",
                )
            else:
                y = float(tf.make_ndarray(response.outputs["y"]).ravel()[0])
                answer = (started, response.model_spec.version.value, y)
            with self._lock:
                self.answers.append(answer)

    def stop(self) -> list[tuple[float, int, float | str]]:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return self.answers


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> Path:
    root = tmp_path_factory.mktemp("load_while_serving")
    copy_model(testdata / "saved_model_half_plus_two_2_versions", root / "a", ["00000123"])
    _export_b(root / "b-export")
    shutil.copytree(root / "b-export", root / "b" / "1")
    return root


@pytest.fixture(scope="module")
def server(start_server: Callable[..., ServerProcess], root: Path) -> ServerProcess:
    config = root / "models.config"
    config.write_text(
        "model_config_list { "
        f'config {{ name: "a" base_path: "{root / "a"}" }} '
        f'config {{ name: "b" base_path: "{root / "b"}" }} '
        "}"
    )
    return start_server(f"--model_config_file={config}", "--file_system_poll_wait_seconds=1")


def test_every_request_is_answered_while_versions_load_switch_and_unload(
    server: ServerProcess, root: Path, testdata: Path
) -> None:
    stream = _Stream(server, "a", threads=2)
    try:
        server.wait_until(lambda: len(stream.answers) > 20, what="the stream answered")
        b_copied = time.time()
        _copy_in(root / "b-export", root / "b" / "2")
        server.wait_until(lambda: _state(server, "b", 2) == AVAILABLE, what="b v2 AVAILABLE")
        b_available = time.time()
        server.wait_until(lambda: _state(server, "b", 1) == END, what="b v1 unloaded")
        _copy_in(
            testdata / "saved_model_half_plus_two_2_versions" / "00000124",
            root / "a" / "00000124",
        )
        server.wait_until(lambda: _state(server, "a", 124) == AVAILABLE, what="a v124 AVAILABLE")
        server.wait_until(lambda: _state(server, "a", 123) == END, what="a v123 unloaded")
        a_switched = len(stream.answers)
        server.wait_until(
            lambda: len(stream.answers) > a_switched + 20, what="answers from a v124 alone"
        )
    finally:
        answers = stream.stop()

    failed = [answer for answer in answers if isinstance(answer[2], str)]
    assert not failed, f"{len(failed)} of {len(answers)} calls failed, first: {failed[0]}"
    assert {y for _, _, y in answers} == {3.0 / 2 + 2}
    assert {version for _, version, _ in answers} == {123, 124}
    during_b_load = [a for a in answers if b_copied <= a[0] <= b_available]
    assert during_b_load, "no call was sent while b's version 2 loaded"
