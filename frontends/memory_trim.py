"""Hand memory back to the OS after an unusually large request (glibc's ``malloc_trim``).

Decoding a large request (a JSON body takes many times its size as Python objects, then
numpy arrays) grows the C heap; when the request ends, glibc keeps most of those pages
mapped for reuse, so a single 60 MB request could leave hundreds of MB resident for good.
``malloc_trim(0)`` returns the free pages at the top and inside the heap to the OS.

Contract:
- ``MemoryTrimmer.after_request(size_bytes)`` is called by a frontend when a request is
  done, with its size (REST: the body, decompressed; gRPC: the serialized request). At or
  above ``threshold_bytes`` it schedules one trim; below, it does nothing.
- The trim runs in a worker thread (it walks the whole heap: tens of ms for a large one),
  never on the event loop, ``DELAY_SECONDS`` after the request, so that the buffers still
  held while its answer is written are freed first. Requests that end while a trim is
  scheduled or running share it: at most one trim runs at a time, and at most one more
  is queued behind it.
- Only on glibc (``malloc_trim`` found in the C library); elsewhere ``available`` is
  False and ``after_request`` does nothing. ``threshold_bytes=0`` disables trimming.
- ``trims`` counts the trims that ran (for tests and logs).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

DELAY_SECONDS = 0.2


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim  # absent on musl, macOS
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda pad: int(trim(pad))


class MemoryTrimmer:
    def __init__(self, threshold_bytes: int) -> None:
        self._threshold_bytes = threshold_bytes
        self._trim = _glibc_malloc_trim() if threshold_bytes > 0 else None
        self._scheduled = False  # a trim is waiting for its delay or running
        self._again = False  # a large request ended while a trim ran: trim once more
        self._task: asyncio.Task[None] | None = None
        self.trims = 0

    @property
    def available(self) -> bool:
        return self._trim is not None

    def after_request(self, size_bytes: int) -> None:
        """Schedule a trim if ``size_bytes`` reaches the threshold (module doc)."""
        if self._trim is None or size_bytes < self._threshold_bytes:
            return
        if self._scheduled:
            self._again = True
            return
        self._scheduled = True
        self._task = asyncio.get_running_loop().create_task(self._run(self._trim))

    async def idle(self) -> None:
        """Return once no trim is scheduled or running (tests)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _run(self, trim: Callable[[int], int]) -> None:
        try:
            while True:
                await asyncio.sleep(DELAY_SECONDS)
                self._again = False  # requests ending from here on need a trim after this one
                await asyncio.to_thread(trim, 0)
                self.trims += 1
                if not self._again:
                    return
        except Exception:  # a trim is an optimisation: never let it disturb serving
            log.exception("malloc_trim failed")
        finally:
            self._scheduled = False
