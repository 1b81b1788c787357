"""Load and unload work at a lower CPU priority than the requests being served.

Contract:
- ``lower_thread_priority(tid)`` makes one thread of this process ``BACKGROUND_NICENESS``
  nicer than the process (capped at 19); the calling thread when ``tid`` is None. Best
  effort: where threads cannot be reniced (no per-thread priorities, a sandbox that
  refuses), nothing changes and it returns False.
- ``run_at_background_priority(fn, *args)`` runs ``fn(*args)`` in a new thread so lowered,
  waits for it, and returns its result or raises its exception in the caller's thread.

Why a new thread: an unprivileged thread cannot raise its priority back, and threads
inherit their creator's. A load thread that reniced itself for good would hand the lower
priority to every thread it creates later: the first TensorFlow session's thread pools, an
ONNX Runtime session's own pools, which then serve requests. A loader creates its
sessions (and their pools) first, then runs the long part here.

Why at all: on a core that also serves requests, a load's CPU time (TensorFlow's graph
optimizer on the first run, a warmup's compute, freeing a large model) otherwise takes
half the core from the event loop, and every request in the meantime waits about twice
as long (``bench/load_stall.py``). At nice 19 the kernel gives such a thread the core's
idle time, and little more. Work done with the GIL held is not helped: the GIL, not the
kernel, decides who runs then (see ``actors.load_effects`` and
``servables.tensorflow.graph_import``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

BACKGROUND_NICENESS = 19
"""How much nicer than the process background threads run (the result is capped at 19)."""


def lower_thread_priority(tid: int | None = None) -> bool:
    """Renice thread ``tid`` (default: the caller) to the background priority; done or not."""
    target = threading.get_native_id() if tid is None else tid
    try:
        nice = min(19, os.getpriority(os.PRIO_PROCESS, 0) + BACKGROUND_NICENESS)
        if os.getpriority(os.PRIO_PROCESS, target) < nice:
            os.setpriority(os.PRIO_PROCESS, target, nice)
    except OSError:  # the thread ended, or renicing is not allowed here
        return False
    return True


def run_at_background_priority(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a new thread at the background priority (see the module docstring)."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        lower_thread_priority()
        try:
            outcome.append(fn(*args))
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(error)

    thread = threading.Thread(target=run, name=f"{threading.current_thread().name}-background")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
