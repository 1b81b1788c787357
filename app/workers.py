"""``--workers N``: the parent process of N server processes that share the ports.

The parent imports no TensorFlow and serves nothing itself. It:

1. Reserves the ports. A fixed port is first bound without ``SO_REUSEPORT`` for a moment,
   so a port that another program holds fails start-up (exit 1) instead of being shared.
   Then the parent binds (but never listens on) a ``SO_REUSEPORT`` socket on each port,
   port 0 turning into a concrete port here, and holds it for its whole life: the workers
   bind the same port with ``SO_REUSEPORT`` (only listening sockets receive connections),
   and no other program can take the port while a worker restarts.
2. Starts N workers: ``server.py`` with the same flags, plus ``--port``/``--rest_api_port``
   set to the reserved ports, ``--workers=1``, a private ``--port_file``, and
   ``AIOSERVING_WORKER_DIR`` / ``AIOSERVING_WORKER_INDEX`` (``app.worker_link``) in the
   environment. The run directory is a fresh private temporary folder, removed at exit.
   Each worker gets ``PR_SET_PDEATHSIG`` = SIGTERM, so none outlives a killed parent.
   Each worker also gets its share of the CPUs (``thread_budget``): left to themselves,
   TensorFlow's intra- and inter-op pools, OpenMP and the BLAS libraries each size their
   threads for every CPU the process may use, so N workers would start N times the
   threads the machine has cores for. Unless the flags or files already size TensorFlow's
   pools, each worker gets ``--tensorflow_intra_op_parallelism`` and
   ``--tensorflow_inter_op_parallelism`` = max(1, CPUs // N) (ONNX's and PyTorch's follow those
   flags), and ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` the
   same number where the environment sets none of them. CPUs are those this process may
   run on (``os.sched_getaffinity``), so a ``taskset`` or cpuset applies. With
   ``--worker_cpu_affinity``, each worker is also pinned to its own slice of those CPUs
   (``cpu_slices``) before it starts, so every thread it makes inherits the slice.
3. Once every worker wrote its port file (it listens, its first models loaded), writes
   the server's ``--port_file``: ``{"grpc": P, "rest": P, "worker_dir": DIR}``. A worker
   that exits during this first start-up fails the whole start: the others are stopped
   and the parent exits 1.
4. Restarts a worker that exits while serving, logged with its exit status, after a
   backoff: 1 s, doubled at each consecutive early death up to 30 s, back to 1 s once a
   worker served ``STABLE_SECONDS``.
5. On SIGTERM or SIGINT, forwards SIGTERM to every worker (each drains as a single server
   does) and waits for all; exits 0 when every worker exited 0, else 1. The ports stay
   reserved until then, and the run directory is removed at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from app.worker_link import WORKER_DIR_ENV, WORKER_INDEX_ENV
from config.flags import DISABLED_PORT, ServerOptions

log = logging.getLogger("aioserving")

SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "server.py"
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 60.0
_PR_SET_PDEATHSIG = 1
THREAD_ENVIRONMENT = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ThreadBudget:
    """What each worker is given so that N workers do not start N machines' worth of threads."""

    threads_per_worker: int  # max(1, CPUs // workers)
    flags: tuple[str, ...]  # appended to each worker's command line
    environment: Mapping[str, str]  # added to each worker's environment


def thread_budget(
    options: ServerOptions, cpus: int, environment: Mapping[str, str]
) -> ThreadBudget:
    """Each worker's share of ``cpus`` for its thread pools (see the module docstring).

    A pool the operator sized is left alone: a TensorFlow parallelism flag that is not 0
    (``--tensorflow_session_parallelism`` sizes both), a session config or platform config
    file (their thread settings would be overridden by the flags), or a thread variable
    already in ``environment`` (then none of the three is set, so they stay consistent).
    """
    share = max(1, cpus // options.workers)
    flags: list[str] = []
    sized_by_file = (
        options.tensorflow_session_config_file is not None
        or options.platform_config_file is not None
    )
    if not sized_by_file and options.tensorflow_session_parallelism == 0:
        if options.tensorflow_intra_op_parallelism == 0:
            flags.append(f"--tensorflow_intra_op_parallelism={share}")
        if options.tensorflow_inter_op_parallelism == 0:
            flags.append(f"--tensorflow_inter_op_parallelism={share}")
    variables: dict[str, str] = {}
    if not any(name in environment for name in THREAD_ENVIRONMENT):
        variables = dict.fromkeys(THREAD_ENVIRONMENT, str(share))
    return ThreadBudget(threads_per_worker=share, flags=tuple(flags), environment=variables)


def cpu_slices(cpus: Sequence[int], workers: int) -> list[tuple[int, ...]]:
    """Each worker's CPUs: ``cpus`` (sorted) cut into ``workers`` contiguous slices of
    ``len(cpus) // workers`` (the last one takes the remainder); with more workers than
    CPUs, one CPU each, in turn."""
    ordered = sorted(cpus)
    if workers > len(ordered):
        return [(ordered[index % len(ordered)],) for index in range(workers)]
    size = len(ordered) // workers
    slices = [tuple(ordered[index * size : (index + 1) * size]) for index in range(workers)]
    slices[-1] += tuple(ordered[workers * size :])
    return slices


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask: ``taskset``, a cpuset)."""
    return len(os.sched_getaffinity(0))


def reserve_port(port: int) -> socket.socket:
    """A bound, non-listening ``SO_REUSEPORT`` socket on ``port`` (0: the kernel picks one)."""
    if port != 0:  # refuse a port that anyone else holds, even with SO_REUSEPORT
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("0.0.0.0", port))
    reserved = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserved.bind(("0.0.0.0", port))
    return reserved


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _child_setup(cpus: tuple[int, ...] | None) -> Callable[[], None]:
    """What runs in a worker between fork and exec: the death signal, and its CPUs."""

    def setup() -> None:
        _die_with_parent()
        if cpus is not None:  # inherited by exec and by every thread the worker starts
            os.sched_setaffinity(0, cpus)

    return setup


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self.backoff_seconds = FIRST_BACKOFF_SECONDS


class WorkerParent:
    def __init__(self, options: ServerOptions, arguments: list[str], run_dir: Path) -> None:
        self._options = options
        self._arguments = arguments
        self._run_dir = run_dir
        self._workers = [_Worker(i) for i in range(options.workers)]
        self._stopping = asyncio.Event()
        self._ports: dict[str, int | None] = {"grpc": None, "rest": None}
        self._reserved: list[socket.socket] = []
        self._budget = thread_budget(options, usable_cpus(), os.environ)
        self._cpu_slices: list[tuple[int, ...]] | None = (
            cpu_slices(sorted(os.sched_getaffinity(0)), options.workers)
            if options.worker_cpu_affinity
            else None
        )

    def _reserve(self) -> None:
        for key, port in (("grpc", self._options.port), ("rest", self._options.rest_api_port)):
            if port != DISABLED_PORT:
                reserved = reserve_port(port)
                self._reserved.append(reserved)
                self._ports[key] = reserved.getsockname()[1]

    def _port_file(self, worker: _Worker) -> Path:
        return self._run_dir / f"worker-{worker.index}.ports"

    async def _spawn(self, worker: _Worker) -> None:
        self._port_file(worker).unlink(missing_ok=True)
        command = [
            sys.executable, str(SERVER_SCRIPT), *self._arguments,
            f"--port={self._ports['grpc'] if self._ports['grpc'] is not None else DISABLED_PORT}",
            f"--rest_api_port={self._ports['rest'] if self._ports['rest'] is not None else DISABLED_PORT}",
            f"--port_file={self._port_file(worker)}",
            "--workers=1",
            *self._budget.flags,
        ]  # fmt: skip
        environment = {
            **os.environ,
            **self._budget.environment,
            WORKER_DIR_ENV: str(self._run_dir),
            WORKER_INDEX_ENV: str(worker.index),
        }
        cpus = self._cpu_slices[worker.index] if self._cpu_slices is not None else None
        worker.process = await asyncio.create_subprocess_exec(
            *command, env=environment, preexec_fn=_child_setup(cpus)
        )
        worker.started_at = time.monotonic()
        pinned = f", CPUs {','.join(map(str, cpus))}" if cpus is not None else ""
        log.info("worker %d started (pid %d%s)", worker.index, worker.process.pid, pinned)

    async def _wait_listening(self, worker: _Worker) -> None:
        assert worker.process is not None
        while not self._port_file(worker).exists():
            if worker.process.returncode is not None:
                raise RuntimeError(
                    f"worker {worker.index} exited with {worker.process.returncode} while starting"
                )
            await asyncio.sleep(0.05)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stopping.set)
        try:
            self._reserve()
        except OSError as error:
            print(f"aioserving: cannot bind the ports for --workers: {error}", file=sys.stderr)
            return 1
        budget = self._budget
        given = [*budget.flags, *(f"{k}={v}" for k, v in budget.environment.items())]
        log.info("%d CPUs for %d workers: each worker's thread pools get %d (%s)", usable_cpus(),
                 len(self._workers), budget.threads_per_worker,
                 " ".join(given) or "already sized by the flags, files or environment")  # fmt: skip
        for worker in self._workers:
            await self._spawn(worker)
        starting = asyncio.ensure_future(
            asyncio.gather(*(self._wait_listening(w) for w in self._workers))
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        either: list[asyncio.Future[Any]] = [starting, stopping]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if starting.done() and starting.exception() is None:
            if self._options.port_file is not None:
                self._write_port_file(Path(self._options.port_file))
            pids = ", ".join(str(w.process.pid) for w in self._workers if w.process)
            log.info("%d workers serving gRPC on %s and REST on %s (pids %s)",
                     len(self._workers), self._ports["grpc"], self._ports["rest"], pids)  # fmt: skip
            await self._supervise()
            ok = True
        else:  # a worker died while starting, or SIGTERM came first (then the workers decide)
            ok = not starting.done()
            if starting.done():
                log.error("start-up failed: %s", starting.exception())
            starting.cancel()
        stopping.cancel()
        codes = await self._stop_all()
        for reserved in self._reserved:
            reserved.close()
        return 0 if ok and all(code == 0 for code in codes) else 1

    def _write_port_file(self, path: Path) -> None:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps({**self._ports, "worker_dir": str(self._run_dir)}))
        os.replace(temporary, path)

    async def _supervise(self) -> None:
        """Keep every worker running until SIGTERM (one keeper per worker, independent)."""
        await asyncio.gather(*(self._keep_alive(worker) for worker in self._workers))

    async def _keep_alive(self, worker: _Worker) -> None:
        while worker.process is not None:
            exited = asyncio.ensure_future(worker.process.wait())
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait([exited, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if self._stopping.is_set():
                exited.cancel()
                return
            code = exited.result()
            served = time.monotonic() - worker.started_at
            if served >= STABLE_SECONDS:
                worker.backoff_seconds = FIRST_BACKOFF_SECONDS
            status = f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"
            log.error("worker %d (pid %d) exited with %s after %.1f s; restarting it in %.1f s",
                      worker.index, worker.process.pid, status, served, worker.backoff_seconds)  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=worker.backoff_seconds)
            worker.backoff_seconds = min(worker.backoff_seconds * 2, MAX_BACKOFF_SECONDS)
            if self._stopping.is_set():
                return
            await self._spawn(worker)

    async def _stop_all(self) -> list[int]:
        """SIGTERM every running worker and wait for each (they drain as one server does)."""
        running = [
            w.process
            for w in self._workers
            if w.process is not None and w.process.returncode is None
        ]
        log.info("stopping %d workers", len(running))
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        codes = [await process.wait() for process in running]
        log.info("every worker stopped (exit statuses %s)", codes)
        return codes


def run_workers(options: ServerOptions, arguments: list[str]) -> int:
    """Run the parent until SIGTERM; returns the process exit status."""
    run_dir = Path(tempfile.mkdtemp(prefix="aioserving-workers-"))  # mode 0700
    try:
        return asyncio.run(WorkerParent(options, arguments, run_dir).run())
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
