"""The actor inbox: order, waking the one reader, cancellation, the one-reader rule."""

from __future__ import annotations

import asyncio

import pytest

from actors.mailbox import Mailbox


async def test_messages_come_out_in_order_without_waiting_while_queued() -> None:
    box: Mailbox[int] = Mailbox()
    for n in range(3):
        box.put_nowait(n)
    assert box.qsize() == 3 and not box.empty()
    assert [await box.get(), box.get_nowait(), await box.get()] == [0, 1, 2]
    assert box.empty()
    with pytest.raises(asyncio.QueueEmpty):
        box.get_nowait()


async def test_a_waiting_reader_is_woken_by_a_put() -> None:
    box: Mailbox[str] = Mailbox()
    reader = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)
    assert not reader.done()
    box.put_nowait("hello")
    box.put_nowait("again")
    assert await reader == "hello"
    assert await box.get() == "again"


async def test_a_cancelled_reader_leaves_the_box_usable() -> None:
    box: Mailbox[int] = Mailbox()
    reader = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    box.put_nowait(7)
    assert await asyncio.wait_for(box.get(), 1) == 7


async def test_a_second_waiting_reader_is_refused() -> None:
    box: Mailbox[int] = Mailbox()
    first = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await box.get()
    box.put_nowait(1)
    assert await first == 1
