"""The actor base class's contract (see ``actors/actor.py``), with no sleeps but yields."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from actors.actor import Actor
from protocol.status import Code, ServingError


class Recorder(Actor[object]):
    """Records what it handles; ``"boom"`` raises, ``gate`` (if set) blocks ``"wait"``."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[object] = []
        self.events: list[str] = []
        self.gate: asyncio.Event | None = None

    async def handle(self, message: object) -> object:
        if message == "boom":
            raise ValueError("boom")
        if message == "wait":
            assert self.gate is not None
            await self.gate.wait()
        self.handled.append(message)
        return f"answer to {message}"

    async def on_start(self) -> None:
        self.events.append("on_start")

    async def on_stop(self) -> None:
        self.events.append(f"on_stop after {self.handled}")


async def yields(count: int = 5) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


@pytest.fixture
async def actor() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    await recorder.start()
    yield recorder
    await recorder.stop(1)


async def test_messages_are_handled_in_the_order_posted(actor: Recorder) -> None:
    assert actor.events == ["on_start"]
    for number in range(5):
        actor.post(number)
    await actor.drain()
    assert actor.handled == [0, 1, 2, 3, 4]


async def test_ask_returns_the_answer_of_handle(actor: Recorder) -> None:
    actor.post("first")
    assert await actor.ask("second") == "answer to second"
    assert actor.handled == ["first", "second"]


async def test_ask_gets_the_error_of_handle_and_the_actor_keeps_running(actor: Recorder) -> None:
    with pytest.raises(ValueError, match="boom"):
        await actor.ask("boom")
    assert await actor.ask("after") == "answer to after"
    assert actor.task is not None and not actor.task.done()


async def test_drain_returns_once_everything_posted_before_it_was_handled(actor: Recorder) -> None:
    actor.gate = asyncio.Event()
    actor.post("wait")
    actor.post("next")
    drained = asyncio.create_task(actor.drain())
    await yields()
    assert not drained.done()
    actor.gate.set()
    await drained
    assert actor.handled == ["wait", "next"]


async def test_drain_on_an_unstarted_actor_returns_at_once() -> None:
    await Recorder().drain()


async def test_stop_handles_queued_messages_then_runs_on_stop() -> None:
    actor = Recorder()
    await actor.start()
    actor.post(1)
    actor.post(2)
    await actor.stop(5)
    assert actor.handled == [1, 2]
    assert actor.events == ["on_start", "on_stop after [1, 2]"]
    assert actor.task is not None and actor.task.done()


async def test_stop_answers_asks_still_queued_with_unavailable() -> None:
    actor = Recorder()
    actor.gate = asyncio.Event()  # never set: "wait" hangs past the grace period
    await actor.start()
    actor.post("wait")
    await yields()
    queued = asyncio.create_task(actor.ask("queued"))
    await yields()
    await actor.stop(0)
    assert actor.events[-1] == "on_stop after []"
    with pytest.raises(ServingError) as stopped:
        await queued
    assert stopped.value.code is Code.UNAVAILABLE


async def test_stop_answers_the_ask_being_handled_when_the_grace_period_ends() -> None:
    actor = Recorder()
    actor.gate = asyncio.Event()  # never set: "wait" hangs past the grace period
    await actor.start()
    hanging = asyncio.create_task(actor.ask("wait"))
    await yields()
    await actor.stop(0)
    await yields()
    if not hanging.done():
        hanging.cancel()  # leave no task behind the failed check
        pytest.fail("the caller of ask() still waits after stop() returned")
    with pytest.raises(ServingError) as stopped:
        await hanging
    assert stopped.value.code is Code.UNAVAILABLE


async def test_ask_on_a_stopped_actor_is_unavailable() -> None:
    actor = Recorder()
    await actor.start()
    await actor.stop(1)
    with pytest.raises(ServingError) as stopped:
        await actor.ask("late")
    assert stopped.value.code is Code.UNAVAILABLE
    assert "recorder" in stopped.value.message


async def test_ask_on_an_unstarted_actor_is_unavailable() -> None:
    with pytest.raises(ServingError) as not_started:
        await Recorder().ask("early")
    assert not_started.value.code is Code.UNAVAILABLE


async def test_a_crash_handling_a_posted_message_is_reported_by_wait_crashed() -> None:
    actor = Recorder()
    await actor.start()
    crashed = asyncio.create_task(actor.wait_crashed())
    actor.post("boom")
    error = await crashed
    assert isinstance(error, ValueError) and str(error) == "boom"
    assert actor.task is not None and actor.task.done()
    await actor.stop(1)  # safe on a crashed actor, and still runs on_stop
    assert actor.events[-1] == "on_stop after []"


async def test_a_crashing_background_task_is_reported_by_wait_crashed(actor: Recorder) -> None:
    async def ticker() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("ticker died")

    actor.spawn(ticker(), "ticker")
    error = await actor.wait_crashed()
    assert isinstance(error, RuntimeError) and str(error) == "ticker died"


async def test_stop_cancels_background_tasks(actor: Recorder) -> None:
    forever = asyncio.Event()
    task = actor.spawn(forever.wait(), "forever")  # type: ignore[arg-type]
    await actor.stop(1)
    await yields()
    assert task.cancelled()
    crashed = asyncio.create_task(actor.wait_crashed())
    await yields()
    assert not crashed.done()  # a cancelled background task is no crash
    crashed.cancel()


async def test_wait_crashed_before_start_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match=r"call recorder\.start\(\)"):
        await Recorder().wait_crashed()


async def test_starting_twice_raises_and_says_what_to_do(actor: Recorder) -> None:
    with pytest.raises(RuntimeError, match="already started; create a new actor instead"):
        await actor.start()
