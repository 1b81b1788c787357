"""Where a SavedModel's session runs its graph: the caller's thread while cheap, TF's pool after.

The graph records the thread its op ran in (a ``py_func``), so each test asserts where TF
ran it rather than how long it took; a call made slow (the op spins on the CPU) is what
moves a callable to the pool, and a call that only waits (the op sleeps) is not slow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from protocol.signatures import Signature  # noqa: E402 - after the importorskip
from servables.tensorflow import saved_model  # noqa: E402 - after the importorskip
from servables.tensorflow.saved_model import (  # noqa: E402 - after the importorskip
    CALLER_THREAD_MAX_SECONDS,
    SLOW_CALLS_TO_MOVE,
    SavedModelServable,
)


@pytest.fixture
def unhurried(monkeypatch: pytest.MonkeyPatch) -> None:
    """No call counts as slow: a busy machine cannot move a callable to the pool."""
    monkeypatch.setattr(saved_model, "CALLER_THREAD_MAX_SECONDS", 60.0)


class _Recorder:
    """The op's body: notes its thread, spins or sleeps when asked, returns its input plus one."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.spin_seconds = 0.0
        self.sleep_seconds = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.threads.append(threading.get_ident())
        spun = time.thread_time()
        while time.thread_time() - spun < self.spin_seconds:
            pass
        if self.sleep_seconds:
            time.sleep(self.sleep_seconds)
        return (x + 1).astype(np.float32)


@pytest.fixture
def recorded() -> Iterator[tuple[SavedModelServable, _Recorder]]:
    recorder = _Recorder()
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        y = tf.identity(tf.compat.v1.py_func(recorder, [x], tf.float32), name="y")
        signature = tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={"x": x}, outputs={"y": y}
        )
        meta_graph = tf.compat.v1.train.export_meta_graph(graph=graph)
    meta_graph.signature_def["serving_default"].CopyFrom(signature)
    session = tf.compat.v1.Session(graph=graph)
    servable = SavedModelServable(
        model_name="recorded", version=1, session=session, meta_graph=meta_graph
    )
    yield servable, recorder
    servable.unload()


def _call(servable: SavedModelServable) -> np.ndarray:
    signature: Signature = servable.signature("serving_default")
    x = np.zeros((1, 2), np.float32)
    return servable.run(signature, {"x": x}, ("y",))["y"]


@pytest.mark.usefixtures("unhurried")
def test_a_cheap_call_runs_in_the_callers_thread(
    recorded: tuple[SavedModelServable, _Recorder],
) -> None:
    servable, recorder = recorded
    for _ in range(20):
        np.testing.assert_array_equal(_call(servable), [[1.0, 1.0]])
    assert set(recorder.threads) == {threading.get_ident()}


def test_one_slow_call_moves_nothing(recorded: tuple[SavedModelServable, _Recorder]) -> None:
    servable, recorder = recorded
    for _ in range(3):
        recorder.spin_seconds = 2 * CALLER_THREAD_MAX_SECONDS
        _call(servable)
        recorder.spin_seconds = 0.0
        _call(servable)
    assert set(recorder.threads) == {threading.get_ident()}


def test_slow_calls_in_a_row_move_the_signature_to_tensorflows_pool(
    recorded: tuple[SavedModelServable, _Recorder],
) -> None:
    servable, recorder = recorded
    recorder.spin_seconds = 2 * CALLER_THREAD_MAX_SECONDS
    for _ in range(SLOW_CALLS_TO_MOVE):
        _call(servable)  # slow, still in the caller's thread
    recorder.spin_seconds = 0.0
    before = len(recorder.threads)
    for _ in range(5):
        np.testing.assert_array_equal(_call(servable), [[1.0, 1.0]])
    assert recorder.threads[:before] == [threading.get_ident()] * before
    assert threading.get_ident() not in recorder.threads[before:]


def test_calls_that_wait_without_using_the_cpu_stay_in_the_callers_thread(
    recorded: tuple[SavedModelServable, _Recorder],
) -> None:
    # What a cheap call looks like under load: its wall time includes waiting for the GIL.
    servable, recorder = recorded
    recorder.sleep_seconds = 2 * CALLER_THREAD_MAX_SECONDS
    for _ in range(2 * SLOW_CALLS_TO_MOVE):
        _call(servable)
    assert set(recorder.threads) == {threading.get_ident()}


@pytest.mark.usefixtures("unhurried")
def test_other_threads_share_the_callable_safely(
    recorded: tuple[SavedModelServable, _Recorder],
) -> None:
    servable, recorder = recorded
    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(20):
            results.append(_call(servable))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 80
    assert all(np.array_equal(r, [[1.0, 1.0]]) for r in results)
    # Each call ran in the thread that made it: none in TF's pool.
    assert set(recorder.threads) == {t.ident for t in threads}
