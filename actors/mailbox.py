"""An actor's inbox: a FIFO that many post to and exactly one task reads.

``asyncio.Queue`` serves any number of readers and writers, bounded or not, and pays for
it on every message (a getters deque, an unfinished-task count and an ``Event`` cleared
on every put). An actor's inbox needs less: ``put_nowait`` appends and, when the reader
is waiting, wakes it by resolving one future; ``get`` returns at once while messages
are queued and only then waits. Messages come out in the order they were put.

Only one task may wait in ``get`` at a time (the actor's own); ``get_nowait`` and
``empty`` may be used by the same task, or by tests stepping an actor by hand.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """See the module docstring."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: collections.deque[T] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def get_nowait(self) -> T:
        """The oldest message; ``asyncio.QueueEmpty`` when there is none."""
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    async def get(self) -> T:
        """The oldest message, waiting for one if need be."""
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("a Mailbox has one reader; another task is waiting in get()")
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                if self._waiter is waiter:  # cancelled while waiting
                    self._waiter = None
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)
