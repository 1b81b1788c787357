"""The manager's load/unload effects: retries, the load timeout, and draining before unload.

A recording "manager" stands in for the actor's inbox; a real executor pool runs loaders in
threads. Loaders block on events the test controls, so nothing here waits on wall time
except the load timeout under test (50 ms).
"""

from __future__ import annotations

import asyncio
import sys
import threading

from actors.executor_pool import ExecutorPool, ExecutorPoolOptions
from actors.load_effects import (
    LOAD_SWITCH_INTERVAL_S,
    MAX_LOAD_ERROR_CHARS,
    LoadRetryOptions,
    TaskEffectRunner,
    load_error_code,
    load_error_text,
)
from actors.messages import (
    LoadVersion,
    UnloadVersion,
    VersionLoaded,
    VersionLoadFailed,
    VersionUnloaded,
)
from protocol.status import Code, ServingError
from servables.loader import Loader
from servables.servable import Servable
from tests.unit.actors.fakes import HalfPlusTwo


class Inbox:
    def __init__(self) -> None:
        self.messages: list[object] = []

    def post(self, message: object) -> None:
        self.messages.append(message)

    def is_aspired(self, model_name: str, version: int) -> bool:
        return True


class FlakyLoader(Loader):
    def __init__(self, failures: int) -> None:
        self.model_name, self.version, self.path = "m", 1, "/m/1"
        self.failures = failures
        self.attempts = 0

    def load(self) -> Servable:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise OSError(f"attempt {self.attempts} failed")
        return HalfPlusTwo()


class BlockedLoader(Loader):
    def __init__(self) -> None:
        self.model_name, self.version, self.path = "m", 1, "/m/1"
        self.release = threading.Event()
        self.produced = HalfPlusTwo()

    def load(self) -> Servable:
        self.release.wait(10)
        return self.produced


def runner(inbox: Inbox, pool: ExecutorPool, **retry: int) -> TaskEffectRunner:
    return TaskEffectRunner(manager=inbox, executor=pool, retry=LoadRetryOptions(**retry))


async def test_a_failing_load_is_retried_then_succeeds() -> None:
    inbox, pool = Inbox(), ExecutorPool(ExecutorPoolOptions(load_threads=1))
    await pool.start()
    effects = runner(inbox, pool, max_num_load_retries=2, load_retry_interval_micros=0)
    loader = FlakyLoader(failures=2)
    effects.submit(LoadVersion(model_name="m", version=1, loader=loader))
    await effects.wait_idle()
    assert loader.attempts == 3
    assert [type(m) for m in inbox.messages] == [VersionLoaded]
    await pool.stop()


async def test_retries_are_bounded_and_the_last_error_is_kept() -> None:
    inbox, pool = Inbox(), ExecutorPool(ExecutorPoolOptions(load_threads=1))
    await pool.start()
    effects = runner(inbox, pool, max_num_load_retries=1, load_retry_interval_micros=0)
    loader = FlakyLoader(failures=5)
    effects.submit(LoadVersion(model_name="m", version=1, loader=loader))
    await effects.wait_idle()
    assert loader.attempts == 2
    (failed,) = inbox.messages
    assert isinstance(failed, VersionLoadFailed)
    assert failed.error == "OSError: attempt 2 failed (loading /m/1)"  # the cause, and where
    await pool.stop()


async def test_a_load_slower_than_the_timeout_fails() -> None:
    inbox, pool = Inbox(), ExecutorPool(ExecutorPoolOptions(load_threads=1))
    await pool.start()
    effects = runner(inbox, pool, max_num_load_retries=0, load_timeout_micros=50_000)
    loader = BlockedLoader()
    effects.submit(LoadVersion(model_name="m", version=1, loader=loader))
    await effects.wait_idle()
    (failed,) = inbox.messages
    assert isinstance(failed, VersionLoadFailed)
    assert "50000 microseconds" in failed.error
    assert not loader.produced.unloaded
    loader.release.set()  # the thread finishes later; its servable is unloaded, not leaked
    await pool.stop()  # waits for the load thread; its late result is handed back on the loop
    for _ in range(5):
        await asyncio.sleep(0)
    assert loader.produced.unloaded


async def test_the_switch_interval_is_short_while_loads_run_and_restored_after() -> None:
    inbox, pool = Inbox(), ExecutorPool(ExecutorPoolOptions(load_threads=2))
    await pool.start()
    effects = runner(inbox, pool, max_num_load_retries=0)
    before = sys.getswitchinterval()
    first, second = BlockedLoader(), BlockedLoader()
    second.version = 2
    effects.submit(LoadVersion(model_name="m", version=1, loader=first))
    effects.submit(LoadVersion(model_name="m", version=2, loader=second))
    for _ in range(5):
        await asyncio.sleep(0)
    assert sys.getswitchinterval() == LOAD_SWITCH_INTERVAL_S
    first.release.set()
    while len(inbox.messages) < 1:
        await asyncio.sleep(0.001)
    assert sys.getswitchinterval() == LOAD_SWITCH_INTERVAL_S  # the second still loads
    second.release.set()
    await effects.wait_idle()
    assert sys.getswitchinterval() == before
    assert [type(m) for m in inbox.messages] == [VersionLoaded, VersionLoaded]
    await pool.stop()


async def test_unload_waits_for_in_flight_requests() -> None:
    inbox, pool = Inbox(), ExecutorPool(ExecutorPoolOptions())
    await pool.start()
    effects = runner(inbox, pool)
    servable = HalfPlusTwo()
    servable.begin_request()
    effects.submit(UnloadVersion(model_name="m", version=1, servable=servable))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not servable.unloaded and inbox.messages == []
    servable.end_request()
    await effects.wait_idle()
    assert servable.unloaded
    assert [type(m) for m in inbox.messages] == [VersionUnloaded]
    await pool.stop()


def test_a_load_error_keeps_its_whole_message_cut_to_a_bound() -> None:
    effect = LoadVersion(model_name="m", version=1, loader=FlakyLoader(failures=1))
    error = RuntimeError(
        "Graph execution error:\n\n  Detected at node 'restore':\n  checksum mismatch in /m/1/variables"
    )
    text = load_error_text(effect, error)
    assert text == (
        "RuntimeError: Graph execution error: | Detected at node 'restore': | "
        "checksum mismatch in /m/1/variables"
    )  # the path is in the message already
    long = load_error_text(effect, RuntimeError("x" * 10_000))
    assert len(long) < MAX_LOAD_ERROR_CHARS + 100 and "[truncated" in long


class _TfLikeError(Exception):
    """Stands in for ``tf.errors.OpError``: the runner reads ``error_code`` by duck typing."""

    def __init__(self, error_code: int) -> None:
        super().__init__("tf says no")
        self.error_code = error_code


def test_a_failed_load_publishes_the_loaders_own_code() -> None:
    """As TF Serving publishes the loader's status (get_model_status_impl_test.cc)."""
    assert load_error_code(ServingError(Code.DATA_LOSS, "bad warmup")) is Code.DATA_LOSS
    assert load_error_code(_TfLikeError(Code.INVALID_ARGUMENT.value)) is Code.INVALID_ARGUMENT
    assert load_error_code(_TfLikeError(999)) is Code.UNKNOWN
    assert load_error_code(FileNotFoundError("saved_model.pb")) is Code.NOT_FOUND
    assert load_error_code(TimeoutError()) is Code.DEADLINE_EXCEEDED
    assert load_error_code(RuntimeError("?")) is Code.UNKNOWN
