"""The batcher driven one ``step`` at a time, with a fake clock, timers and executor.

No test sleeps: the fake executor records each batch and the test decides when it runs
and finishes; timers are recorded and "fire" when the test says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NoReturn

import numpy as np
import pytest

from actors.batcher import GATHER_TURNS, Batcher, Enqueue, GatherTick, SlotFreed, TimerFired
from actors.batching_policy import (
    ARRIVALS_TO_ESTIMATE,
    QUIET_GAPS_TO_CLOSE,
    ArrivalGaps,
    batch_size_of,
    merge_inputs,
)
from actors.call_costs import CallCosts
from actors.messages import InferenceRequest
from config.batching_config import BatchingSettings
from protocol.status import Code, ServingError
from tests.unit.actors.fakes import HalfPlusTwo


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


Done = Callable[[object, BaseException | None], None]


class FakeExecutor:
    """Records submitted batches; the test runs them (``Harness.run_next_batch``)."""

    def __init__(self) -> None:
        self.submitted: list[tuple[Callable[..., object], tuple[object, ...], Done]] = []

    def run_inference_then(
        self, fn: Callable[..., object], args: tuple[object, ...], done: Done
    ) -> None:
        self.submitted.append((fn, args, done))


class Harness:
    """A batcher on a fake clock. ``cost_model`` is off unless asked: most tests here pin
    TF Serving's fixed-timeout rule; the cost model's tests turn it on."""

    def __init__(
        self, *, cost_model: bool = False, costs: CallCosts | None = None, **options: object
    ) -> None:
        self.clock = FakeClock()
        self.executor = FakeExecutor()
        self.timers: list[float] = []
        self.soon: list[Callable[[], None]] = []  # loop turns the batcher asked for
        self.formed: list[tuple[int, int]] = []
        self.depths: list[tuple[str, int]] = []
        self.batcher = Batcher(
            executor=self.executor,
            settings=BatchingSettings(**options),  # type: ignore[arg-type]
            clock=self.clock,
            call_at=lambda when, callback: self.timers.append(when),
            call_soon=self.soon.append,
            observer=self,
            costs=costs,
            cost_model=cost_model,
        )
        self.servable = HalfPlusTwo()

    # BatchObserver
    def queued(self, model_name: str, seconds: float) -> None:
        pass

    def batch_formed(self, model_name: str, input_rows: int, padded_rows: int) -> None:
        self.formed.append((input_rows, padded_rows))

    def queue_depth(self, model_name: str, rows: int) -> None:
        self.depths.append((model_name, rows))

    def enqueue(
        self, rows: list[list[float]] | float, deadline: float | None = None
    ) -> asyncio.Future[dict[str, np.ndarray]]:
        x = np.array(rows, np.float32)
        request = InferenceRequest(
            servable=self.servable,
            signature=self.servable.signatures["serving_default"],
            inputs={"x": x},
            output_names=("y",),
            batch_size=x.shape[0] if x.ndim else 1,
            deadline=deadline,
        )
        reply: asyncio.Future[dict[str, np.ndarray]] = asyncio.get_running_loop().create_future()
        self.servable.begin_request()  # as the data plane does for every request
        self.batcher.step(Enqueue(request=request, reply=reply))
        return reply

    async def run_next_batch(self) -> None:
        """Run the oldest submitted batch; its completion answers the requests directly."""
        fn, args, done = self.executor.submitted.pop(0)
        try:
            result, error = fn(*args), None
        except Exception as exc:  # noqa: BLE001 - any error goes back to the batch, as in the executor
            result, error = None, exc
        done(result, error)  # what the executor's loop callback does
        # Only the freed slot goes back through the inbox: take it.
        message = self.batcher._inbox.get_nowait()  # stepping the actor by hand
        assert isinstance(message, SlotFreed)
        self.batcher.step(message)

    def pass_turns(self, limit: int = 100) -> int:
        """Let loop turns pass (each a ``GatherTick``) while the batcher asks; their count."""
        turns = 0
        while self.soon and turns < limit:
            self.soon.pop(0)()  # posts a GatherTick
            message = self.batcher._inbox.get_nowait()
            assert isinstance(message, GatherTick)
            self.batcher.step(message)
            turns += 1
        return turns

    def batch_rows(self) -> list[int]:
        return [len(call["x"]) for call in self.servable.calls]


async def settle() -> None:
    """Let future callbacks (the executor's done-callback) run."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_partial_batch_goes_out_when_its_timeout_passes() -> None:
    h = Harness(max_batch_size=4, batch_timeout_micros=1000)
    first = h.enqueue([[1.0]])
    second = h.enqueue([[2.0]])
    assert h.executor.submitted == []
    assert h.timers == [pytest.approx(100.001)]
    h.clock.now = 100.001
    h.batcher.step(TimerFired())
    assert len(h.executor.submitted) == 1
    await settle()
    await h.run_next_batch()
    assert h.batch_rows() == [2]
    np.testing.assert_allclose(first.result()["y"], [[2.5]])
    np.testing.assert_allclose(second.result()["y"], [[3.0]])


async def test_queue_depth_counts_rows_waiting_until_their_batch_is_dispatched() -> None:
    h = Harness(max_batch_size=8, batch_timeout_micros=1000, num_batch_threads=1)
    h.enqueue([[1.0], [2.0]])
    h.enqueue([[3.0]])
    assert h.batcher.waiting_rows("m") == 3
    assert h.depths == [("m", 2), ("m", 3)]
    h.clock.now = 100.001
    h.batcher.step(TimerFired())
    assert h.batcher.waiting_rows("m") == 0  # running rows are not waiting
    assert h.depths[-1] == ("m", 0)
    h.enqueue([[4.0]])  # the only thread is busy: it waits
    assert h.depths[-1] == ("m", 1)
    await settle()
    await h.run_next_batch()
    h.clock.now = 100.01
    h.batcher.step(TimerFired())
    assert h.depths[-1] == ("m", 0)


async def test_a_full_batch_goes_out_at_once() -> None:
    h = Harness(max_batch_size=2, batch_timeout_micros=10_000_000)
    a = h.enqueue([[1.0]])
    b = h.enqueue([[3.0]])
    assert len(h.executor.submitted) == 1
    await settle()
    await h.run_next_batch()
    np.testing.assert_allclose(a.result()["y"], [[2.5]])
    np.testing.assert_allclose(b.result()["y"], [[3.5]])


async def test_timeout_zero_sends_a_lone_request_at_once_and_batches_what_arrives_while_busy() -> (
    None
):
    h = Harness(max_batch_size=8, batch_timeout_micros=0, num_batch_threads=1)
    first = h.enqueue([[1.0]])
    assert len(h.executor.submitted) == 1  # no timer involved
    later = [h.enqueue([[float(i)]]) for i in range(3)]
    assert len(h.executor.submitted) == 1  # the only thread is busy
    await settle()
    await h.run_next_batch()  # the first finishes; the three waiting gather a few turns
    assert len(h.executor.submitted) == 0
    assert h.pass_turns() == GATHER_TURNS  # then go out together
    assert len(h.executor.submitted) == 1
    await settle()
    await h.run_next_batch()
    assert h.batch_rows() == [1, 3]
    assert first.done() and all(f.done() for f in later)
    np.testing.assert_allclose([f.result()["y"][0, 0] for f in later], [2.0, 2.5, 3.0])


async def test_under_load_a_batch_gathers_a_few_loop_turns_and_takes_what_arrives() -> None:
    h = Harness(max_batch_size=8, batch_timeout_micros=0, num_batch_threads=1)
    lone = h.enqueue([[1.0]])
    assert len(h.executor.submitted) == 1 and h.soon == []  # idle: no turn waited
    early = h.enqueue([[2.0]])  # arrives while the only thread is busy: load
    await settle()
    await h.run_next_batch()
    assert lone.done() and not h.executor.submitted  # the thread is free; the batch gathers
    assert h.pass_turns(limit=3) == 3
    late = h.enqueue([[3.0]])  # arrives during the turns: joins the batch
    assert h.pass_turns() == GATHER_TURNS - 3
    assert len(h.executor.submitted) == 1
    await settle()
    await h.run_next_batch()
    assert h.batch_rows() == [1, 2]
    np.testing.assert_allclose(early.result()["y"], [[3.0]])
    np.testing.assert_allclose(late.result()["y"], [[3.5]])
    assert h.timers == []  # no timer at any point


async def test_a_gathering_batch_that_fills_goes_at_once() -> None:
    h = Harness(max_batch_size=2, batch_timeout_micros=0, num_batch_threads=1)
    h.enqueue([[1.0]])
    h.enqueue([[2.0]])
    await settle()
    await h.run_next_batch()
    assert not h.executor.submitted
    h.enqueue([[3.0]])  # the batch holds max_batch_size rows now
    assert len(h.executor.submitted) == 1


async def test_a_batch_over_half_full_does_not_gather() -> None:
    h = Harness(max_batch_size=4, batch_timeout_micros=0, num_batch_threads=1)
    h.enqueue([[1.0]])
    h.enqueue([[2.0], [3.0], [4.0]])  # under load, but another request like it cannot fit
    await settle()
    await h.run_next_batch()
    assert len(h.executor.submitted) == 1 and h.soon == []


async def test_with_a_timeout_batches_wait_on_the_timer_not_on_loop_turns() -> None:
    h = Harness(max_batch_size=8, batch_timeout_micros=1000, num_batch_threads=2)
    h.enqueue([[1.0]])
    h.enqueue([[2.0]])
    assert h.soon == [] and h.timers == [pytest.approx(100.001)]
    assert not h.executor.submitted


async def test_a_batch_is_padded_to_the_next_allowed_size_and_padding_is_dropped() -> None:
    h = Harness(
        max_batch_size=4, allowed_batch_sizes=(2, 4), batch_timeout_micros=0, num_batch_threads=1
    )
    blocker = h.enqueue([[0.0]])
    replies = [h.enqueue([[1.0], [2.0]]), h.enqueue([[3.0]])]
    await settle()
    await h.run_next_batch()
    h.pass_turns()
    await settle()
    await h.run_next_batch()
    assert h.batch_rows() == [2, 4]  # 1 row padded to 2, then 3 rows padded to 4
    assert h.formed == [(1, 2), (3, 4)]
    np.testing.assert_allclose(replies[0].result()["y"], [[2.5], [3.0]])
    np.testing.assert_allclose(replies[1].result()["y"], [[3.5]])
    assert blocker.done()


async def test_a_large_request_is_split_when_splitting_is_on() -> None:
    h = Harness(
        max_batch_size=2,
        enable_large_batch_splitting=True,
        batch_timeout_micros=0,
        num_batch_threads=4,
    )
    reply = h.enqueue([[float(i)] for i in range(5)])
    await settle()
    while h.executor.submitted:
        await h.run_next_batch()
    assert sorted(h.batch_rows()) == [1, 2, 2]
    np.testing.assert_allclose(reply.result()["y"][:, 0], [2.0, 2.5, 3.0, 3.5, 4.0])


async def test_a_large_request_is_rejected_naming_the_limit_without_splitting() -> None:
    h = Harness(max_batch_size=2)
    reply = h.enqueue([[1.0], [2.0], [3.0]])
    error = reply.exception()
    assert isinstance(error, ServingError) and error.code is Code.INVALID_ARGUMENT
    assert "max_batch_size" in error.message and "2" in error.message


async def test_a_full_queue_rejects_at_once_with_unavailable() -> None:
    h = Harness(
        max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1, batch_timeout_micros=0
    )
    running = h.enqueue([[1.0]])
    waiting = h.enqueue([[2.0]])
    rejected = h.enqueue([[3.0]])
    assert isinstance(rejected.exception(), ServingError)
    assert rejected.exception().code is Code.UNAVAILABLE  # type: ignore[union-attr]
    assert "full" in rejected.exception().message  # type: ignore[union-attr]
    await settle()
    await h.run_next_batch()
    await settle()
    await h.run_next_batch()
    assert running.done() and waiting.done()


async def test_requests_with_different_inner_shapes_fail_their_batch_without_padding() -> None:
    """batching_session.cc MergeInputTensors: "Tensors with name 'x' from different tasks
    have different shapes and padding is turned off. ..." (FAILED_PRECONDITION), for every
    request of the batch, as TF Serving keys its queues by tensor names, not shapes."""
    h = Harness(max_batch_size=8, batch_timeout_micros=1000)
    narrow = h.enqueue([[1.0]])
    wide = h.enqueue([[1.0, 2.0]])
    h.clock.now += 0.001
    h.batcher.step(TimerFired())
    await settle()
    await h.run_next_batch()
    for reply in (narrow, wide):
        error = reply.exception()
        assert isinstance(error, ServingError)
        assert error.code is Code.FAILED_PRECONDITION
        assert error.message.startswith(
            "Tensors with name 'x' from different tasks have different shapes and padding is "
            "turned off."
        )
    assert h.servable.calls == []


async def test_a_scalar_input_is_invalid_argument_with_batching_on() -> None:
    """batching_util.h ComputeTensorBatchSize: "Batching Run() input tensors must have at
    least one dimension" (INVALID_ARGUMENT), answered at once, nothing run."""
    h = Harness(max_batch_size=8, batch_timeout_micros=1000)
    reply = h.enqueue(1.0)
    error = reply.exception()
    assert isinstance(error, ServingError)
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == "Batching Run() input tensors must have at least one dimension"
    assert h.executor.submitted == []
    assert h.servable.in_flight == 0


def test_unequal_first_dimensions_and_no_inputs_cannot_batch() -> None:
    """batching_util.h ComputeTensorBatchSize's other two messages."""
    with pytest.raises(ServingError, match="must have equal 0th-dimension size"):
        batch_size_of({"a": np.zeros((2, 1)), "b": np.zeros((3, 1))})
    with pytest.raises(ServingError, match="must have at least one input tensor"):
        batch_size_of({})


def test_variable_length_padding_uses_each_tensors_first_value() -> None:
    """batching_util.cc PadTensor: ``T pad_value(input.flat<T>()(0))``, not zeros; an
    empty tensor that needs padding is "Got empty tensor in batch of non-empty tensors."."""
    short = {"x": np.array([[7.0], [8.0]], np.float32)}
    long = {"x": np.array([[1.0, 2.0, 3.0]], np.float32)}
    merged = merge_inputs([short, long], 3, pad_variable_length=True)["x"]
    np.testing.assert_array_equal(merged, [[7, 7, 7], [8, 7, 7], [1, 2, 3]])
    words = merge_inputs(
        [{"s": np.array([[b"a"]], object)}, {"s": np.array([[b"b", b"c"]], object)}],
        2,
        pad_variable_length=True,
    )["s"]
    assert words.tolist() == [[b"a", b"a"], [b"b", b"c"]]
    with pytest.raises(ServingError, match=r"Got empty tensor in batch of non-empty tensors\."):
        merge_inputs(
            [{"x": np.zeros((1, 0), np.float32)}, {"x": np.ones((1, 2), np.float32)}],
            2,
            pad_variable_length=True,
        )


async def test_variable_lengths_are_padded_into_one_batch_when_asked() -> None:
    h = Harness(max_batch_size=8, batch_timeout_micros=1000, pad_variable_length_inputs=True)
    short = h.enqueue([[1.0]])
    long = h.enqueue([[1.0, 2.0]])
    h.clock.now += 0.001
    h.batcher.step(TimerFired())
    await settle()
    await h.run_next_batch()
    assert h.batch_rows() == [2]
    assert h.servable.calls[0]["x"].shape == (2, 2)
    np.testing.assert_allclose(short.result()["y"], [[2.5, 2.5]])  # padded with its 1.0
    np.testing.assert_allclose(long.result()["y"], [[2.5, 3.0]])


async def test_a_failing_batch_fails_every_request_in_it() -> None:
    h = Harness(max_batch_size=2, batch_timeout_micros=0, num_batch_threads=1)

    def explode(*args: object, **kwargs: object) -> NoReturn:
        raise ServingError(Code.INVALID_ARGUMENT, "model says no")

    h.servable.run = explode  # type: ignore[method-assign]  # a model that fails from now on
    replies = [h.enqueue([[1.0]]), h.enqueue([[2.0]]), h.enqueue([[3.0]])]
    await settle()
    while h.executor.submitted:
        await h.run_next_batch()
        await settle()
    for reply in replies:
        assert isinstance(reply.exception(), ServingError)
        assert reply.exception().message == "model says no"  # type: ignore[union-attr]


async def test_a_cancelled_or_expired_request_is_dropped_before_it_is_computed() -> None:
    h = Harness(max_batch_size=8, batch_timeout_micros=1000)
    cancelled = h.enqueue([[1.0]])
    expired = h.enqueue([[2.0]], deadline=100.0005)
    kept = h.enqueue([[3.0]])
    cancelled.cancel()
    h.clock.now += 0.001
    h.batcher.step(TimerFired())
    await settle()
    await h.run_next_batch()
    assert h.batch_rows() == [1]
    np.testing.assert_allclose(h.servable.calls[0]["x"], [[3.0]])
    assert isinstance(expired.exception(), ServingError)
    assert expired.exception().code is Code.DEADLINE_EXCEEDED  # type: ignore[union-attr]
    np.testing.assert_allclose(kept.result()["y"], [[3.5]])


async def test_a_batch_answers_its_requests_before_the_batcher_hears_of_it() -> None:
    h = Harness(max_batch_size=2, batch_timeout_micros=0, num_batch_threads=1)
    reply = h.enqueue([[1.0]])
    fn, args, done = h.executor.submitted.pop(0)
    done(fn(*args), None)
    assert reply.done()  # straight from the completion, no batcher step in between
    assert h.batcher.running_batches == 1  # the slot is freed by the inbox message
    # The inbox's type also admits envelopes and the stop and barrier markers; only SlotFreed is queued.
    h.batcher.step(h.batcher._inbox.get_nowait())  # type: ignore[arg-type]
    assert h.batcher.running_batches == 0


async def test_the_in_flight_count_is_released_once_each_request_is_over() -> None:
    h = Harness(
        max_batch_size=2,
        batch_timeout_micros=0,
        enable_large_batch_splitting=True,
        num_batch_threads=1,
    )
    split = h.enqueue([[1.0], [2.0], [3.0]])  # two pieces: [2] goes out at once, [1] waits
    cancelled = h.enqueue([[4.0]])  # waits beside the second piece
    cancelled.cancel()
    rejected_harness = Harness(max_batch_size=1)
    rejected = rejected_harness.enqueue([[1.0], [2.0]])
    assert isinstance(rejected.exception(), ServingError)
    assert rejected_harness.servable.in_flight == 0  # rejected: released at once
    assert h.servable.in_flight == 2
    await h.run_next_batch()  # the first piece; the second batch goes out, unrun tasks dropped
    assert h.servable.in_flight == 1  # the cancelled request was released, the split one runs on
    assert not split.done()
    await h.run_next_batch()
    assert h.servable.in_flight == 0
    np.testing.assert_allclose(split.result()["y"][:, 0], [2.5, 3.0, 3.5])


async def test_a_client_that_gives_up_while_its_batch_runs_holds_the_version_until_it_ends() -> (
    None
):
    h = Harness(max_batch_size=2, batch_timeout_micros=0)
    reply = h.enqueue([[1.0]])
    reply.cancel()
    assert h.servable.in_flight == 1  # the model call is still running
    await h.run_next_batch()
    assert h.servable.in_flight == 0


async def test_a_batch_of_a_signature_measured_cheap_runs_on_the_loop() -> None:
    from actors.call_costs import WARMUP_CALLS, CallCosts

    h = Harness(max_batch_size=4, batch_timeout_micros=0)
    costs = CallCosts(1_000_000)
    cost = costs.of(h.servable, "serving_default")
    for _ in range(WARMUP_CALLS):
        cost.observe(1e-6)
    h.batcher._costs = costs  # the supervisor passes it at construction
    reply = h.enqueue([[1.0], [2.0]])
    assert h.executor.submitted == []  # no thread hop
    np.testing.assert_allclose(reply.result()["y"], [[2.5], [3.0]])
    assert h.batcher.running_batches == 0 and h.servable.in_flight == 0


# --- the batch cost model (actors.batching_policy), on a known cost line ----------------------

PER_ROW_SECONDS = 100e-6
FIXED_SECONDS = 200e-6


def known_line(costs: CallCosts, servable: HalfPlusTwo) -> None:
    """Teach ``costs`` the line 100 us * rows + 200 us for the harness's signature."""
    cost = costs.of(servable, "serving_default")
    for rows in [1, 2, 4, 8] * 4:
        cost.observe_batch(rows, PER_ROW_SECONDS * rows + FIXED_SECONDS)


def cost_model_harness(**options: object) -> Harness:
    costs = CallCosts(0)  # every call on the (fake) executor
    h = Harness(cost_model=True, costs=costs, **options)
    known_line(costs, h.servable)
    return h


def submitted_rows(h: Harness) -> list[int]:
    """Rows of each batch handed to the executor (``execute_batch``'s ``sizes``)."""
    return [sum(args[5]) for _, args, _ in h.executor.submitted]  # type: ignore[call-overload]


async def test_cost_model_runs_a_request_to_an_idle_batcher_at_once() -> None:
    h = cost_model_harness(max_batch_size=8, batch_timeout_micros=1000, num_batch_threads=2)
    reply = h.enqueue([[1.0]])
    assert submitted_rows(h) == [1]  # no wait for the 1 ms timeout
    assert h.timers == []
    await settle()
    await h.run_next_batch()
    np.testing.assert_allclose(reply.result()["y"], [[2.5]])


async def test_cost_model_under_load_waits_while_one_more_row_fits_the_budget() -> None:
    h = cost_model_harness(max_batch_size=8, batch_timeout_micros=1000, num_batch_threads=2)
    h.enqueue([[1.0]])  # idle: runs at once, and keeps running
    h.enqueue([[2.0]])  # a batch runs: this one may wait
    # One more row would make 2 rows: 100.001 - (2 * 100 us + 200 us) = 100.0006.
    assert submitted_rows(h) == [1]
    assert h.timers[-1] == pytest.approx(100.0006)
    h.clock.now = 100.0002
    h.enqueue([[3.0]])  # 2 rows now; a third closes at 100.001 - 500 us
    assert h.timers[-1] == pytest.approx(100.0005)
    h.clock.now = 100.00049
    h.batcher.step(TimerFired())
    assert submitted_rows(h) == [1]  # a third row would still finish within the budget
    h.clock.now = 100.0005
    h.batcher.step(TimerFired())
    assert submitted_rows(h) == [1, 2]  # it would not: closed, before the 1 ms timeout


async def test_cost_model_keeps_waiting_while_requests_keep_coming() -> None:
    h = cost_model_harness(max_batch_size=8, batch_timeout_micros=1000, num_batch_threads=1)
    h.enqueue([[1.0]])
    h.enqueue([[2.0]])
    h.enqueue([[3.0]])
    await settle()
    await h.run_next_batch()  # the thread is free, and nothing runs
    # Past the two-row batch's close time, about 100.001 - (3 * 100 + 200 us); about,
    # since the run above fed its own (fast) measured call into the line.
    h.clock.now = 100.0006
    h.batcher.step(TimerFired())
    assert submitted_rows(h) == [2]
    await settle()
    await h.run_next_batch()
    h.enqueue([[4.0]])  # nothing runs, but the last batch held two requests: load
    assert submitted_rows(h) == []
    h.clock.now = 100.0006 + 0.001  # out by its timeout at the latest
    h.batcher.step(TimerFired())
    assert submitted_rows(h) == [1]
    await settle()
    await h.run_next_batch()
    h.enqueue([[5.0]])  # the last batch held one request, nothing runs: idle again
    assert submitted_rows(h) == [1]


async def test_cost_model_never_waits_past_the_timeout_nor_grows_past_max_batch_size() -> None:
    h = Harness(cost_model=True, max_batch_size=3, batch_timeout_micros=1000, num_batch_threads=2)
    # No line yet (nothing measured): a batch under load waits for the whole timeout.
    h.enqueue([[1.0]])
    h.enqueue([[2.0]])
    assert h.timers[-1] == pytest.approx(100.001)
    h.clock.now = 100.0009
    h.batcher.step(TimerFired())
    assert submitted_rows(h) == [1]
    h.clock.now = 100.001
    h.batcher.step(TimerFired())
    assert submitted_rows(h) == [1, 1]
    # Both threads busy: rows pile up, but a batch never holds more than max_batch_size.
    for value in range(4):
        h.enqueue([[float(value)]])
    await settle()
    await h.run_next_batch()
    assert submitted_rows(h) == [1, 3]
    assert all(rows <= 3 for rows, _ in h.formed)


async def test_cost_model_closes_a_batch_once_requests_stop_coming() -> None:
    # Closed-loop clients: every one of them is waiting on this batch, so waiting out the
    # 20 ms budget would add it to every answer.
    h = cost_model_harness(max_batch_size=64, batch_timeout_micros=20_000, num_batch_threads=1)
    gap = 50e-6
    for value in range(ARRIVALS_TO_ESTIMATE + 1):  # one request every 50 us, under load
        h.enqueue([[float(value)]])
        h.clock.now += gap
    assert submitted_rows(h) == [1]  # the first went out at once; the rest wait
    await settle()
    await h.run_next_batch()  # the thread is free again: only the clock holds the batch
    quiet = h.clock.now - gap + QUIET_GAPS_TO_CLOSE * gap  # the last request, then 3 gaps
    assert h.timers[-1] == pytest.approx(quiet)
    h.clock.now = quiet - 1e-6
    h.batcher.step(TimerFired())
    assert submitted_rows(h) == []
    h.clock.now = quiet + 1e-9  # (the mean gap is a float sum of gaps)
    h.batcher.step(TimerFired())
    assert submitted_rows(h) == [ARRIVALS_TO_ESTIMATE]  # long before the budget's end


async def test_cost_model_keeps_a_batch_open_while_requests_keep_their_pace() -> None:
    h = cost_model_harness(max_batch_size=64, batch_timeout_micros=20_000, num_batch_threads=1)
    gap = 50e-6
    for value in range(3 * ARRIVALS_TO_ESTIMATE):
        h.enqueue([[float(value)]])
        h.clock.now += gap
        h.batcher.step(TimerFired())  # a timer may fire between two requests: not closed
    assert submitted_rows(h) == [1]  # the first, alone; the others keep gathering


def test_arrival_gaps_count_an_idle_stretch_as_one_timeout_at_most() -> None:
    gaps = ArrivalGaps()
    now = 0.0
    for _ in range(ARRIVALS_TO_ESTIMATE):
        assert gaps.quiet_after() is None
        gaps.observe(now, longest=0.01)
        now += 1e-3
    gaps.observe(now + 3600.0, longest=0.01)  # an idle hour
    quiet = gaps.quiet_after()
    assert quiet is not None and quiet < QUIET_GAPS_TO_CLOSE * 0.01
    assert ArrivalGaps.__slots__ == ("gaps", "last_at", "mean_seconds")  # constant memory


async def test_a_slow_line_closes_a_loaded_batch_at_once() -> None:
    costs = CallCosts(0)
    h = Harness(cost_model=True, costs=costs, max_batch_size=8, batch_timeout_micros=1000)
    cost = costs.of(h.servable, "serving_default")
    for rows in [1, 2, 4, 8] * 4:
        cost.observe_batch(rows, 2e-3 * rows)  # 2 ms a row: over the 1 ms budget
    h.enqueue([[1.0]])
    h.enqueue([[2.0]])
    assert submitted_rows(h) == [1, 1]
