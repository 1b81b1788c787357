"""Background priority: a function run in a thread of its own, below the caller's priority."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from servables.background_priority import (
    lower_thread_priority,
    run_at_background_priority,
)

PER_THREAD = Path("/proc/self/task").is_dir()  # Linux: priorities are per thread


def _own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_returns_the_result_from_another_thread() -> None:
    caller = threading.get_native_id()
    ran_in = run_at_background_priority(threading.get_native_id)
    assert ran_in != caller


def test_raises_the_functions_exception_in_the_caller() -> None:
    def fails(reason: str) -> None:
        raise ValueError(reason)

    with pytest.raises(ValueError, match="bad graph"):
        run_at_background_priority(fails, "bad graph")


@pytest.mark.skipif(not PER_THREAD, reason="per-thread priorities are Linux's")
def test_runs_nicer_than_the_process_and_leaves_the_caller_as_it_was() -> None:
    before = _own_niceness()
    inside = run_at_background_priority(_own_niceness)
    assert inside == 19 or inside > before
    assert _own_niceness() == before


@pytest.mark.skipif(not PER_THREAD, reason="per-thread priorities are Linux's")
def test_a_thread_created_by_a_lowered_thread_inherits_its_priority() -> None:
    # Why the loaders create their sessions (and thread pools) before lowering.
    seen: list[int] = []

    def lowered_then_spawn() -> None:
        lower_thread_priority()
        child = threading.Thread(target=lambda: seen.append(_own_niceness()))
        child.start()
        child.join()

    thread = threading.Thread(target=lowered_then_spawn)
    thread.start()
    thread.join()
    assert seen and seen[0] > _own_niceness()


def test_a_thread_that_does_not_exist_is_not_lowered() -> None:
    beyond_any_thread_id = 2**22 + 1  # Linux's largest pid_max is 2**22
    assert lower_thread_priority(beyond_any_thread_id) is False
