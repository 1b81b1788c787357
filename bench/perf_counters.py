"""Instructions retired by the server's processes over a window, where ``perf stat`` counts them.

CPU time per request moves with the noise of a shared machine (a core's frequency, its
caches, other people's threads); the instructions a server retires per request move far
less, so a change of a few percent shows through. ``InstructionCounter`` runs ``perf stat
-e instructions -x, -p PIDS`` over a window (``start`` ... ``stop``) and returns the count,
or None when the count cannot be had: no ``perf`` on the PATH, a kernel or a virtual
machine without the hardware counter (``perf`` prints ``<not supported>``, as on the
machines this bench was written on), ``perf_event_paranoid`` forbidding it, or a process
that exited. It never raises for any of those: the tables then print ``n/a``.
``supported()`` tells once per process whether it is worth starting ``perf`` at all.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

STOP_TIMEOUT_S = 5.0


def parse_count(csv_output: str) -> float | None:
    """The ``instructions`` count in ``perf stat -x,`` output; None if not counted."""
    for line in csv_output.splitlines():
        fields = line.split(",")
        if len(fields) >= 3 and fields[2].startswith("instructions"):
            with contextlib.suppress(ValueError):
                return float(fields[0])  # "<not supported>" / "<not counted>" are not numbers
            return None
    return None


@functools.cache
def supported() -> bool:
    """Whether ``perf stat`` counts instructions here (one short probe, cached)."""
    if shutil.which("perf") is None:
        return False
    try:
        done = subprocess.run(
            ["perf", "stat", "-e", "instructions", "-x,", "--", "true"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return parse_count(done.stderr) is not None


class InstructionCounter:
    """Counts the instructions of ``pids`` (every thread of each) from ``start`` to ``stop``."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def start(self, pids: Sequence[int]) -> None:
        if not pids or not supported():
            return
        self._scratch = tempfile.TemporaryDirectory(prefix="perf-stat-")
        output = Path(self._scratch.name) / "stat.csv"
        command = ["perf", "stat", "-e", "instructions", "-x,", "-o", str(output)]
        command += ["-p", ",".join(str(pid) for pid in pids)]
        try:
            self._process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        except OSError:
            self._close()

    def stop(self) -> float | None:
        """The count since ``start``; None where it could not be had."""
        process, scratch = self._process, self._scratch
        if process is None or scratch is None:
            return None
        try:
            process.send_signal(signal.SIGINT)  # perf stat writes its counts on SIGINT
            process.wait(STOP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
            self._close()
            return None
        output = Path(scratch.name) / "stat.csv"
        count = parse_count(output.read_text()) if output.exists() else None
        self._close()
        return count

    def _close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
        self._process, self._scratch = None, None
