"""The data plane's request path: executor or inline, and the in-flight count, step by step."""

from __future__ import annotations

import asyncio
import threading
import time
import types
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytest

from actors.batcher import Batcher
from actors.call_costs import WARMUP_CALLS, CallCosts
from actors.executor_pool import ExecutorPool, ExecutorPoolOptions
from actors.routing import ModelRoute, RoutingSnapshot, RoutingTable
from config.batching_config import BatchingSettings
from config.triton_model_config import (
    TritonModelConfig,
    parse_triton_config,
    triton_config_from_proto,
)
from dataplane.dataplane import INLINE_MAX_INPUT_BYTES, DataPlane
from protocol.model_ref import ModelRef
from protocol.signatures import Signature
from protocol.status import Code, Reason, ServingError
from protocol.versions import VersionState, VersionStatus
from tests.unit.actors.fakes import HalfPlusTwo


class CountingExecutor:
    """A real executor pool that also counts the calls submitted to it."""

    def __init__(self, pool: ExecutorPool) -> None:
        self.pool = pool
        self.submitted = 0

    def run_inference(
        self, fn: Callable[..., object], *args: object, release: Callable[[], None] | None = None
    ) -> object:
        self.submitted += 1
        return self.pool.run_inference(fn, *args, release=release)


def plane_for(
    servable: HalfPlusTwo, executor: CountingExecutor, threshold_micros: int
) -> DataPlane:
    routing = RoutingTable()
    route = ModelRoute(name="m", servables=types.MappingProxyType({1: servable}), latest=servable)
    routing.publish(RoutingSnapshot(types.MappingProxyType({"m": route})))
    return DataPlane(routing=routing, executor=executor, costs=CallCosts(threshold_micros))


def x(value: float) -> Callable[[Signature], dict[str, np.ndarray]]:
    return lambda _signature: {"x": np.array([[value]], np.float32)}


async def test_cheap_calls_run_inline_and_give_the_executors_answers() -> None:
    pool = ExecutorPool(ExecutorPoolOptions(inference_threads=1))
    await pool.start()
    executor, servable = CountingExecutor(pool), HalfPlusTwo()
    plane = plane_for(servable, executor, threshold_micros=100_000)
    on_executor = [
        await plane.predict(ModelRef(name="m"), "", x(float(i))) for i in range(WARMUP_CALLS)
    ]
    assert executor.submitted == WARMUP_CALLS  # measured on the executor first
    inline = [await plane.predict(ModelRef(name="m"), "", x(float(i))) for i in range(WARMUP_CALLS)]
    assert executor.submitted == WARMUP_CALLS  # then no thread hop at all
    for a, b in zip(on_executor, inline, strict=True):
        np.testing.assert_array_equal(a.outputs["y"], b.outputs["y"])
    assert servable.in_flight == 0
    await pool.stop()


async def test_a_signature_that_turns_slow_leaves_the_loop() -> None:
    pool = ExecutorPool(ExecutorPoolOptions(inference_threads=1))
    await pool.start()
    executor, servable = CountingExecutor(pool), HalfPlusTwo()
    plane = plane_for(servable, executor, threshold_micros=2_000)
    for i in range(WARMUP_CALLS):
        await plane.predict(ModelRef(name="m"), "", x(float(i)))
    fast_run = servable.run

    def slow_run(
        signature: Signature, inputs: Mapping[str, np.ndarray], output_names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        time.sleep(0.02)
        return fast_run(signature, inputs, output_names)

    servable.run = slow_run  # type: ignore[method-assign]  # the signature turns slow from here
    before = executor.submitted
    await plane.predict(ModelRef(name="m"), "", x(1.0))  # inline, and measured slow
    assert executor.submitted == before
    await plane.predict(ModelRef(name="m"), "", x(2.0))
    assert executor.submitted == before + 1  # back on the executor
    await pool.stop()


async def test_a_signature_slow_only_on_the_executor_is_probed_and_comes_back_to_the_loop() -> None:
    # Under load an executor call's wall time includes its wait for the GIL: long, but no
    # CPU. Here the call sleeps when it runs off the loop's thread, and only then.
    pool = ExecutorPool(ExecutorPoolOptions(inference_threads=1))
    await pool.start()
    executor, servable = CountingExecutor(pool), HalfPlusTwo()
    plane = plane_for(servable, executor, threshold_micros=2_000)
    fast_run, loop_thread = servable.run, threading.get_ident()

    def run(
        signature: Signature, inputs: Mapping[str, np.ndarray], output_names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        if threading.get_ident() != loop_thread:
            time.sleep(0.01)
        return fast_run(signature, inputs, output_names)

    servable.run = run  # type: ignore[method-assign]  # slow on the executor only
    for i in range(WARMUP_CALLS):
        await plane.predict(ModelRef(name="m"), "", x(float(i)))
    assert executor.submitted == WARMUP_CALLS
    for i in range(5):  # the first is the probe; it was fast, so the rest stay on the loop
        result = await plane.predict(ModelRef(name="m"), "", x(float(i)))
        np.testing.assert_allclose(result.outputs["y"], [[i / 2 + 2]])
    assert executor.submitted == WARMUP_CALLS
    await pool.stop()


async def test_threshold_zero_always_uses_the_executor_and_a_cancelled_caller_keeps_the_count() -> (
    None
):
    pool = ExecutorPool(ExecutorPoolOptions(inference_threads=1))
    await pool.start()
    executor, servable = CountingExecutor(pool), HalfPlusTwo()
    plane = plane_for(servable, executor, threshold_micros=0)
    for i in range(WARMUP_CALLS + 2):
        await plane.predict(ModelRef(name="m"), "", x(float(i)))
    assert executor.submitted == WARMUP_CALLS + 2
    started = asyncio.Event()
    fast_run = servable.run

    def blocking_run(
        signature: Signature, inputs: Mapping[str, np.ndarray], output_names: Sequence[str]
    ) -> dict[str, np.ndarray]:
        started.set()  # not thread-safe in general, but only read after the sleep below
        time.sleep(0.05)
        return fast_run(signature, inputs, output_names)

    servable.run = blocking_run  # type: ignore[method-assign]  # the next call blocks a while
    task = asyncio.ensure_future(plane.predict(ModelRef(name="m"), "", x(1.0)))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0)
    assert servable.in_flight == 1  # the model call still runs: the version must not go
    await pool.stop()  # waits for the call; its release runs on the loop
    for _ in range(3):
        await asyncio.sleep(0)
    assert servable.in_flight == 0


async def test_a_large_request_of_a_cheap_signature_still_goes_to_the_executor() -> None:
    pool = ExecutorPool(ExecutorPoolOptions(inference_threads=1))
    await pool.start()
    executor, servable = CountingExecutor(pool), HalfPlusTwo()
    plane = plane_for(servable, executor, threshold_micros=100_000)
    for i in range(WARMUP_CALLS):
        await plane.predict(ModelRef(name="m"), "", x(float(i)))
    rows = INLINE_MAX_INPUT_BYTES // 4
    result = await plane.predict(
        ModelRef(name="m"), "", lambda _signature: {"x": np.ones((rows, 1), np.float32)}
    )
    assert executor.submitted == WARMUP_CALLS + 1  # not inline, though the mean is cheap
    assert result.outputs["y"].shape == (rows, 1)
    await plane.predict(ModelRef(name="m"), "", x(1.0))
    assert executor.submitted == WARMUP_CALLS + 1  # a small one runs inline again
    await pool.stop()


async def test_an_awaited_decode_holds_the_version_until_the_call_runs() -> None:
    pool = ExecutorPool(ExecutorPoolOptions(inference_threads=1))
    await pool.start()
    executor, servable = CountingExecutor(pool), HalfPlusTwo()
    plane = plane_for(servable, executor, threshold_micros=0)
    release = asyncio.Event()
    counts: list[int] = []

    async def decode_later(_signature: Signature) -> dict[str, np.ndarray]:
        await release.wait()
        return {"x": np.array([[3.0]], np.float32)}

    task = asyncio.create_task(plane.predict(ModelRef(name="m"), "", decode_later))
    await asyncio.sleep(0)
    counts.append(servable.in_flight)  # the decode is pending: the version is held
    drained = asyncio.create_task(servable.drained())
    await asyncio.sleep(0)
    assert not drained.done()
    release.set()
    result = await task
    np.testing.assert_array_equal(result.outputs["y"], [[3.5]])
    await asyncio.wait_for(drained, 1)
    assert counts == [1] and servable.in_flight == 0
    await pool.stop()


async def test_an_awaited_decode_that_fails_releases_the_version() -> None:
    pool = ExecutorPool(ExecutorPoolOptions(inference_threads=1))
    await pool.start()
    executor, servable = CountingExecutor(pool), HalfPlusTwo()
    plane = plane_for(servable, executor, threshold_micros=0)

    async def bad_decode(_signature: Signature) -> dict[str, np.ndarray]:
        raise ValueError("bad body")

    with pytest.raises(ValueError, match="bad body"):
        await plane.predict(ModelRef(name="m"), "", bad_decode)
    assert servable.in_flight == 0 and executor.submitted == 0
    await pool.stop()


# --- errors carry their reason, so that each API words them without reading the text ------


def plane_with_versions() -> DataPlane:
    """Model "m": version 1 AVAILABLE (label "stable"), version 2 still LOADING;
    model "cold": known, with no AVAILABLE version."""
    servable = HalfPlusTwo()
    statuses = {
        1: VersionStatus(version=1, state=VersionState.AVAILABLE),
        2: VersionStatus(version=2, state=VersionState.LOADING),
    }
    routing = RoutingTable()
    routing.publish(
        RoutingSnapshot(
            {
                "m": ModelRoute(
                    name="m",
                    servables={1: servable},
                    labels={"stable": 1},
                    statuses=statuses,
                    latest=servable,
                ),
                "cold": ModelRoute(name="cold", statuses={3: statuses[2]}),
            }
        )
    )
    return DataPlane(
        routing=routing, executor=CountingExecutor(ExecutorPool(ExecutorPoolOptions()))
    )


@pytest.mark.parametrize(
    ("ref", "code", "reason", "message"),
    [
        (
            ModelRef(name="nope"),
            Code.NOT_FOUND,
            Reason.UNKNOWN_MODEL,
            "Servable not found for request: Latest(nope)",
        ),
        (
            ModelRef(name="cold"),
            Code.NOT_FOUND,
            Reason.NO_AVAILABLE_VERSION,
            "Servable not found for request: Latest(cold)",
        ),
        (
            ModelRef(name="m", version=2),
            Code.NOT_FOUND,
            Reason.VERSION_NOT_READY,
            "Servable not found for request: Specific(m, 2)",
        ),
        (
            ModelRef(name="m", version=9),
            Code.NOT_FOUND,
            Reason.UNKNOWN_VERSION,
            "Servable not found for request: Specific(m, 9)",
        ),
        (
            ModelRef(name="m", label="beta"),
            Code.INVALID_ARGUMENT,
            Reason.UNKNOWN_LABEL,
            "Unrecognized servable version label: beta",
        ),
    ],
)
def test_resolution_errors_carry_their_reason(
    ref: ModelRef, code: Code, reason: Reason, message: str
) -> None:
    with pytest.raises(ServingError) as caught:
        plane_with_versions().resolve(ref)
    assert (caught.value.code, caught.value.reason, caught.value.message) == (code, reason, message)


def test_status_and_signature_errors_carry_their_reason() -> None:
    plane = plane_with_versions()
    with pytest.raises(ServingError) as caught:
        plane.model_status(ModelRef(name="nope"))
    assert caught.value.reason is Reason.UNKNOWN_MODEL
    with pytest.raises(ServingError) as caught:
        plane.model_status(ModelRef(name="m", version=9))
    assert caught.value.reason is Reason.UNKNOWN_VERSION
    with pytest.raises(ServingError) as caught:
        plane.resolve(ModelRef(name="m")).signature("nope")
    assert (caught.value.code, caught.value.reason) == (
        Code.FAILED_PRECONDITION,
        Reason.UNKNOWN_SIGNATURE,
    )


def test_metadata_is_the_resolved_servables_signatures_and_checks_fields_first() -> None:
    plane = plane_with_versions()
    metadata = plane.model_metadata(ModelRef(name="m", label="stable"))
    assert (metadata.model_name, metadata.version, list(metadata.signatures)) == (
        "m",
        1,
        ["serving_default"],
    )
    with pytest.raises(ServingError) as caught:
        plane.model_metadata(ModelRef(name="nope"), ["signature_def", "other"])
    assert (caught.value.code, caught.value.message) == (
        Code.INVALID_ARGUMENT,
        "Metadata field other is not supported",
    )
    assert [s.version for s in plane.model_status(ModelRef(name="m"))] == [2, 1]


# --- batching follows a Triton configuration's max_batch_size --------------------------------


def triton_config(max_batch_size: int) -> TritonModelConfig:
    return read_triton_text(
        f'backend: "python"\nmax_batch_size: {max_batch_size}\n'
        'input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
        'output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
    )


def read_triton_text(text: str) -> TritonModelConfig:
    return triton_config_from_proto(parse_triton_config(text, "config.pbtxt"), "config.pbtxt")


async def concurrent_calls_with_batching(servable: HalfPlusTwo) -> tuple[DataPlane, list[int]]:
    """Two concurrent one-row requests with server-wide batching that merges two rows (its
    timeout is far longer than the test: a batch goes out when full); the rows per model call."""
    pool = ExecutorPool(ExecutorPoolOptions(inference_threads=2))
    await pool.start()
    settings = BatchingSettings(max_batch_size=2, batch_timeout_micros=60_000_000)
    batcher = Batcher(executor=pool, settings=settings)
    await batcher.start()
    routing = RoutingTable()
    route = ModelRoute(name="m", servables=types.MappingProxyType({1: servable}), latest=servable)
    routing.publish(RoutingSnapshot(types.MappingProxyType({"m": route})))
    plane = DataPlane(
        routing=routing, executor=pool, batcher=batcher, batching=settings, costs=CallCosts(0)
    )
    results = await asyncio.gather(
        plane.predict(ModelRef(name="m"), "", x(1.0)), plane.predict(ModelRef(name="m"), "", x(2.0))
    )
    assert sorted(float(r.outputs["y"][0, 0]) for r in results) == [2.5, 3.0]
    await batcher.stop()
    await pool.stop()
    return plane, [int(call["x"].shape[0]) for call in servable.calls]


async def test_a_triton_model_with_max_batch_size_zero_is_never_batched() -> None:
    servable = HalfPlusTwo()
    servable.triton_config = triton_config(0)
    plane, rows = await concurrent_calls_with_batching(servable)
    assert plane.batching_for(servable) is None
    assert rows == [1, 1]


async def test_a_triton_model_with_a_batch_dimension_is_batched() -> None:
    servable = HalfPlusTwo()
    servable.triton_config = triton_config(4)
    plane, rows = await concurrent_calls_with_batching(servable)
    settings = plane.batching_for(servable)
    assert settings is not None and settings.max_batch_size == 2
    assert rows == [2]


class ParameterReader(HalfPlusTwo):
    """Reads request parameters, as a Python model does; records what it was given."""

    takes_parameters = True

    def __init__(self) -> None:
        super().__init__()
        self.given: list[Mapping[str, object]] = []

    def run_with_parameters(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
        parameters: Mapping[str, object],
    ) -> dict[str, np.ndarray]:
        self.given.append(dict(parameters))
        return self.run(signature, inputs, output_names)


async def test_parameters_reach_a_servable_that_reads_them_and_keep_its_request_unbatched() -> None:
    pool = ExecutorPool(ExecutorPoolOptions(inference_threads=2))
    await pool.start()
    settings = BatchingSettings(max_batch_size=2, batch_timeout_micros=60_000_000)
    batcher = Batcher(executor=pool, settings=settings)
    await batcher.start()
    reader, plain = ParameterReader(), HalfPlusTwo()
    routing = RoutingTable()
    routes = {
        name: ModelRoute(name=name, servables=types.MappingProxyType({1: s}), latest=s)
        for name, s in (("reader", reader), ("plain", plain))
    }
    routing.publish(RoutingSnapshot(types.MappingProxyType(routes)))
    plane = DataPlane(
        routing=routing, executor=pool, batcher=batcher, batching=settings, costs=CallCosts(0)
    )
    given = {"k": "v"}
    lone = await plane.predict(ModelRef(name="reader"), "", x(1.0), parameters=given)
    assert reader.given == [given] and lone.outputs["y"].tolist() == [[2.5]]
    both = await asyncio.gather(  # a servable that ignores parameters is batched as ever
        plane.predict(ModelRef(name="plain"), "", x(1.0), parameters=given),
        plane.predict(ModelRef(name="plain"), "", x(2.0), parameters=given),
    )
    assert sorted(float(r.outputs["y"][0, 0]) for r in both) == [2.5, 3.0]
    assert [int(call["x"].shape[0]) for call in plain.calls] == [2]
    await batcher.stop()
    await pool.stop()
