"""What a version swap keeps: tracemalloc and RSS across SavedModel swaps, in-process (issue 13).

Drives the real actors with no server around them: a ``VersionManager`` whose
``TaskEffectRunner`` loads and unloads ``SavedModelLoader`` versions on an
``ExecutorPool``, as the supervisor wires them. Each swap aspires the other version of
``saved_model_half_plus_two_2_versions`` (123 <-> 124): the new one loads, then the old
one unloads. After ``WARMUP_SWAPS`` swaps (first-load caches), tracemalloc starts and,
two swaps later (so that the loaded version's allocations are traced), the bench takes
one snapshot, then another after ``SWAPS`` more, and prints what grew most (Python allocations,
grouped by traceback), with VmRSS growth per swap; every 10 swaps it also reads VmRSS
after glibc's ``malloc_trim(0)``. tracemalloc sees only allocations made
through Python's allocator: TensorFlow's C++ heap shows only in RSS. Run:

    AIOSERVING_TESTDATA=... python -m bench.swap_memory [SWAPS]
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from actors.executor_pool import ExecutorPool, ExecutorPoolOptions
from actors.load_effects import LoadRetryOptions, TaskEffectRunner
from actors.messages import AspiredLoader, AspiredLoadersRequest
from actors.routing import RoutingTable
from actors.version_manager import VersionManager
from servables.tensorflow.saved_model import SavedModelLoader, SavedModelOptions
from tests.integration.server_process import testdata_dir

WARMUP_SWAPS = 10
SWAPS = 50
TOP = int(os.environ.get("SWAP_MEMORY_TOP", "12"))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise KeyError("VmRSS")


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, to tell heap fragmentation from memory still held."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
        return trim
    except (OSError, AttributeError):
        return None


async def main(swaps: int) -> None:
    base = testdata_dir() / "saved_model_half_plus_two_2_versions"
    routing = RoutingTable()
    pool = ExecutorPool(ExecutorPoolOptions(inference_threads=1))
    manager = VersionManager(routing=routing)
    effects = TaskEffectRunner(manager=manager, executor=pool, retry=LoadRetryOptions())
    manager.set_effect_runner(effects)
    await pool.start()
    await manager.start()
    options = SavedModelOptions()

    async def swap_to(version: int) -> None:
        loader = SavedModelLoader(
            model_name="hpt", version=version, path=str(base / f"{version:08d}"), options=options
        )
        manager.post(
            AspiredLoadersRequest(
                model_name="hpt", loaders=(AspiredLoader(version=version, loader=loader),)
            )
        )
        await manager.drain()
        await manager.wait_model_idle("hpt")
        servable = routing.snapshot.resolve("hpt", None, None)
        assert servable.version == version, servable.version

    versions = (123, 124)
    for index in range(WARMUP_SWAPS):
        await swap_to(versions[index % 2])
    tracemalloc.start(12)
    # Two more swaps, so that the version loaded at the first snapshot was traced too.
    for index in range(2):
        await swap_to(versions[index % 2])
    gc.collect()
    rss_before = _rss_kib()
    first = tracemalloc.take_snapshot()
    trim = _malloc_trim()
    trace = []
    for index in range(swaps):
        await swap_to(versions[index % 2])
        if (index + 1) % 10 == 0:
            gc.collect()
            rss = _rss_kib()
            trace.append(f"{index + 1}: {rss - rss_before:+d}")
    print("VmRSS KiB since the first snapshot, by swap:", ", ".join(trace))
    gc.collect()
    last = tracemalloc.take_snapshot()
    rss_after = _rss_kib()
    if trim is not None:
        trim(0)
        print(f"VmRSS after malloc_trim(0): {_rss_kib() - rss_before:+d} KiB")
    traced, _ = tracemalloc.get_traced_memory()
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diffs = last.filter_traces(filters).compare_to(first.filter_traces(filters), "traceback")
    grown = sum(diff.size_diff for diff in diffs)
    print(
        f"{swaps} swaps: Python allocations {grown / 1024:+.1f} KiB "
        f"({grown / swaps / 1024:+.2f} KiB per swap; {traced / 1024**2:.1f} MiB traced), "
        f"VmRSS {(rss_after - rss_before):+d} KiB ({(rss_after - rss_before) / swaps:+.1f} "
        "KiB per swap)"
    )
    for diff in diffs[:TOP]:
        if diff.size_diff <= 0:
            continue
        print(f"\n{diff.size_diff / 1024:+.1f} KiB in {diff.count_diff:+d} blocks:")
        for frame in diff.traceback.format(limit=6, most_recent_first=True):
            print("   ", frame)
    await manager.stop()
    await pool.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else SWAPS))
