"""Runs scenarios: the server and the load generator as pinned subprocesses; medians.

``started(name, flags)`` runs ``server.py`` with flags (never imported, never patched) or
``bench.floor_server``, pinned to CPU 0 (``taskset``; every thread inherits it) unless the
config is in ``UNPINNED`` (``--workers``: no ``taskset``), on ephemeral ports read back
from ``--port_file``; SIGTERM on exit (``stop`` signals every server at once first).

``measure`` groups scenarios by load (transport, payload, concurrency, client, gRPC
connections, pinned or not); the servers
of a group and the floors they refer to take turns run by run (floor, off, on, floor, ...),
after one warm-up run each, so TF Serving's API and the V2 protocol over the same transport
are measured interleaved. A run starts the generator on CPU 1 (unpinned for an unpinned
server) and, once it sends, reads over a window the CPU time of both, each summed over its
process tree (``/proc/PID/stat`` of the process and its descendants: a ``--workers``
parent and its workers), and of the whole machine (``/proc/stat``; the rest is *noise*:
other people's work); over the same window, the instructions the server's processes
retire, where ``perf stat`` counts them (``bench.perf_counters``; None elsewhere, shown
as n/a: CPU time per request is then the figure that sees through the noise); the batch
sizes come from the
server's own ``/metrics`` (``input_batch_size`` count, sum and buckets, read before and
after). A run above ``NOISY_PCT`` noise is measured once more after waiting for a quieter
machine (``NOISE_BUDGET_S`` per bench run at most), keeping the quieter run. Any failed
call fails a run; a failed run is tried once more, then its scenario is reported as
failed and the rest go on. A ``Summary`` takes each figure's median over the runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.perf_counters import InstructionCounter
from bench.spec import (
    CNN,
    FLOORS,
    MODEL_CONFIG,
    MONITORING_CONFIG,
    OUT,
    REPO,
    UNPINNED,
    Scenario,
    transport,
)
from bench.tools import external

SERVER_CPU, GENERATOR_CPU = "0", "1"
LOGS = OUT / "logs" / f"run-{os.getpid()}"
METRICS_PATH = "/monitoring/prometheus/metrics"
NOISY_PCT, QUIET_PCT, QUIET_WAIT_S, NOISE_BUDGET_S = 30.0, 25.0, 3.0, 90.0
MARGIN_S = 0.2  # the CPU window skips the generator's first and last moments
TICKS = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass(frozen=True, slots=True)
class Server:
    name: str
    pid: int
    grpc_port: int
    rest_port: int


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    server_pct: float
    generator_pct: float
    noise_pct: float
    batches: tuple[float, float, float]  # (count, rows, largest bucket bound) over the run
    instructions_per_s: float | None = None  # the server's, where perf counts them


@dataclasses.dataclass(frozen=True, slots=True)
class Summary:
    runs: list[Run]
    retried: int
    generator: str

    def median(self, field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in self.runs))

    @property
    def batch_mean(self) -> float | None:
        count = sum(r.batches[0] for r in self.runs)
        return sum(r.batches[1] for r in self.runs) / count if count else None

    @property
    def batch_max(self) -> float:
        return max(r.batches[2] for r in self.runs)

    @property
    def instructions_per_request(self) -> float | None:
        """The median over the runs that counted instructions; None when none did."""
        counted = [
            r.instructions_per_s / r.requests_per_s
            for r in self.runs
            if r.instructions_per_s is not None and r.requests_per_s
        ]
        return float(statistics.median(counted)) if counted else None

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU microseconds per request (medians of its CPU % and of req/s)."""
        return self.median("server_pct") * 1e4 / self.median("requests_per_s")


def format_instructions(per_request: float | None) -> str:
    """Instructions per request as the tables show them: ``1.23M``, or ``n/a``."""
    return "n/a" if per_request is None else f"{per_request / 1e6:.2f}M"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cpu_s(pid: int) -> float:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = raw[raw.rindex(b")") + 2 :].split()  # the name (field 2) may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and each of its descendants, by pid."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_bytes()
        except OSError:
            continue
        children.setdefault(int(raw[raw.rindex(b")") + 2 :].split()[1]), []).append(
            int(stat.parent.name)
        )
    found, todo = {}, [pid]
    while todo:
        p = todo.pop()
        found[p] = cpu_s(p)
        todo += children.get(p, [])
    return found


def tree_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(p, 0.0) for p, v in after.items())


def busy_s() -> float:
    """Busy CPU time of the whole machine (idle and iowait excluded, steal included)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS


def wait_for_quiet() -> None:
    deadline = time.monotonic() + QUIET_WAIT_S
    while time.monotonic() < deadline:
        before = busy_s()
        time.sleep(0.25)
        if (busy_s() - before) / 0.25 * 100 < QUIET_PCT:
            return


_SIGNALLED: set[int] = set()


def terminate(process: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if the server is still draining after ``grace_s``."""
    process.send_signal(signal.SIGTERM)
    _wait_then_kill(process, grace_s)


def _wait_then_kill(process: subprocess.Popen[bytes], grace_s: float) -> None:
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:  # still draining a client's connection
        process.kill()
        process.wait()


def stop(servers: Sequence[Server]) -> None:
    """SIGTERM to every server at once, so that they drain side by side; each ``started``
    then only waits for its own."""
    for server in servers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGTERM)
        _SIGNALLED.add(server.pid)


@contextlib.contextmanager
def started(name: str, flags: Sequence[str], models: Path = MODEL_CONFIG) -> Iterator[Server]:
    LOGS.mkdir(parents=True, exist_ok=True)
    port_file = LOGS / f"{name}.ports.json"
    port_file.unlink(missing_ok=True)
    if name in FLOORS:
        program = ["-m", "bench.floor_server"]
    else:
        program = ["server.py", "--port=0", "--rest_api_port=0"]
        program += [f"--model_config_file={models}"]
        program += [f"--monitoring_config_file={MONITORING_CONFIG}"]
    pin = [] if name in UNPINNED else ["taskset", "-c", SERVER_CPU]
    command = [*pin, sys.executable, *program, *flags]
    with open(LOGS / f"{name}.log", "wb") as output:
        process = subprocess.Popen(
            [*command, f"--port_file={port_file}"], cwd=REPO, stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 180.0
        while not port_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (LOGS / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} did not start (see {LOGS}):\n{tail}")
            time.sleep(0.05)
        ports = json.loads(port_file.read_text())
        yield Server(name, process.pid, ports["grpc"], ports["rest"])
    finally:
        if process.pid not in _SIGNALLED:
            terminate(process)
        else:
            _wait_then_kill(process, 30.0)


_SERIES = re.compile(
    r"^:tensorflow:serving:batching_session:input_batch_size_(bucket|count|sum)\{([^}]*)\} (\S+)$"
)


def batch_histogram(server: Server, model: str) -> dict[str, float]:
    """``model``'s ``input_batch_size`` series from /metrics: count, sum and ``le`` buckets."""
    if server.name in FLOORS:
        return {}
    url = f"http://127.0.0.1:{server.rest_port}{METRICS_PATH}"
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    series: dict[str, float] = {}
    for line in text.splitlines():
        found = _SERIES.match(line)
        if found and f'model_name="{model}"' in found.group(2):
            le = re.search(r'le="([^"]+)"', found.group(2))
            series[le.group(1) if le else found.group(1)] = float(found.group(3))
    return series


def _batches(before: dict[str, float], after: dict[str, float]) -> tuple[float, float, float]:
    """(batches, rows, upper bound of the largest batch's bucket) formed in between."""
    delta = {key: value - before.get(key, 0.0) for key, value in after.items()}
    count = delta.get("count", 0.0)
    bounds = sorted(float(k) for k in delta if k not in ("count", "sum", "+Inf"))
    largest = next((b for b in bounds if delta[f"{b}"] >= count), float("inf")) if count else 0.0
    return count, delta.get("sum", 0.0), largest


def run_once(scenario: Scenario, server: Server, duration_s: float, tools: bool) -> Run:
    """One measured run of ``scenario`` against ``server``; raises on any failed call."""
    port = server.grpc_port if transport(scenario.protocol) == "grpc" else server.rest_port
    s, python = scenario, generator(scenario, tools) == "python"
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        argv = [sys.executable, "-m", "bench.loadgen", f"--protocol={s.protocol}", f"--port={port}"]
        argv += [f"--payload={s.payload.name}", f"--concurrency={s.concurrency}"]
        argv += [f"--duration_s={duration_s}", f"--requests={s.requests}"]
        argv += ["--build"] if s.client else []
        argv += [f"--connections={s.connections}"] if s.connections else []
        parse: external.Parser = external.python
        if not python:
            seconds = max(1, round(duration_s))
            argv, parse = external.command(
                s.protocol, port, s.payload, s.concurrency, seconds, Path(scratch), s.connections
            )
        before = batch_histogram(server, s.payload.model.name)
        pin = ["taskset", "-c", GENERATOR_CPU] if s.pinned else []
        process = subprocess.Popen(
            [*pin, *argv], cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        counter = InstructionCounter()
        try:
            while python and (line := process.stdout.readline()) and line != "READY\n":  # type: ignore[union-attr]
                pass  # the Python generator warms up first; the tools send at once
            time.sleep(MARGIN_S)
            pids = (server.pid, process.pid)
            cpu0 = [tree_cpu_s(p) for p in pids]
            counter.start(list(cpu0[0]))  # every process of the server's tree
            busy0, wall0 = busy_s(), time.monotonic()
            time.sleep(0.5 if s.requests else max(0.1, duration_s - 2 * MARGIN_S))
            cpu = [tree_delta(c, tree_cpu_s(p)) for p, c in zip(pids, cpu0, strict=True)]
            busy, wall = busy_s() - busy0, time.monotonic() - wall0
            instructions = counter.stop()
            output, errors = process.communicate(timeout=duration_s + 300)
        finally:
            counter.stop()  # a no-op unless the window was cut short
            if process.poll() is None:
                process.kill()
                process.wait()
        if process.returncode != 0:
            raise RuntimeError(f"{argv[0]} exited {process.returncode}: {errors[-2000:]}")
        result = parse(output)
    if not result["requests"]:
        raise RuntimeError(f"no call finished within the run ({result['errors']} failed)")
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} failed calls: {result['first_error']}")
    return Run(
        requests_per_s=result["requests"] / result["seconds"],
        p50_ms=result["p50_ms"],
        p99_ms=result["p99_ms"],
        server_pct=100 * cpu[0] / wall,
        generator_pct=100 * cpu[1] / wall,
        noise_pct=max(0.0, 100 * (busy - sum(cpu)) / wall),
        batches=_batches(before, batch_histogram(server, s.payload.model.name)),
        instructions_per_s=None if instructions is None else instructions / wall,
    )


def _groups(scenarios: Sequence[Scenario]) -> list[list[Scenario]]:
    """Scenarios with the same load, each group led by the floors its members refer to (a
    floor already placed with its own load is not measured again: CNN rows read the digits
    floor measured beside the digits rows)."""
    groups: dict[tuple[object, ...], list[Scenario]] = {}
    for s in scenarios:
        load: tuple[object, ...] = (
            transport(s.protocol),
            s.payload,
            s.concurrency,
            s.client,
            s.requests,
        )
        load += (s.connections, s.pinned)
        group = groups.setdefault(load, [])
        floor = s.floor()
        if floor is not None and not any(floor in g for g in groups.values()):
            group.insert(0, floor)
        if s not in group:
            group.append(s)
    return list(groups.values())


def generator(scenario: Scenario, tools: bool) -> str:
    if tools and not scenario.client and external.available(scenario.protocol):
        return "h2load" if transport(scenario.protocol) == "grpc" else "wrk"
    return "python"


def measure(
    scenarios: Sequence[Scenario],
    servers: dict[str, Server],
    runs: int,
    duration_s: float,
    tools: bool,
) -> tuple[dict[Scenario, Summary], list[str]]:
    """Summaries by scenario (floors included), and the failures as text."""
    summaries: dict[Scenario, Summary] = {}
    failures: list[str] = []
    noise_budget_s = NOISE_BUDGET_S
    for group in _groups([s for s in scenarios if s.server in servers]):
        kept: dict[Scenario, list[Run]] = {s: [] for s in group}
        retried = dict.fromkeys(group, 0)
        # Slow loads (100 images at c64: ~0.5 s per answer over REST; CNN batches of many
        # images: 0.1 to 0.2 s per call) get longer runs, their warm-up too (h2load's timed
        # mode reports nothing when no answer came back within the run).
        head = group[0].payload
        slow = (head.rows >= 100 and group[0].concurrency >= 64) or (
            head.model is CNN and head.rows > 1
        )
        seconds = max(duration_s, 3.0 if slow else 0.0)
        warm_up_s = seconds if slow else 1.0
        for index in range(runs + 1):  # pass 0 warms every server up
            for s in [s for s in group if s in kept]:
                try:
                    run = _attempt(s, servers[s.server], seconds if index else warm_up_s, tools)
                    if index and run.noise_pct > NOISY_PCT and noise_budget_s > 0:
                        began = time.monotonic()
                        wait_for_quiet()
                        again = _attempt(s, servers[s.server], seconds, tools)
                        run, retried[s] = min(run, again, key=lambda r: r.noise_pct), retried[s] + 1
                        noise_budget_s -= time.monotonic() - began
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                    failures.append(f"`{s.id}`: {str(error).strip()[:300]}")
                    log(f"  {s.id}: FAILED: {str(error).strip().splitlines()[0]}")
                    del kept[s]
                    continue
                if index:
                    kept[s].append(run)
        for s, measured in kept.items():
            m = summaries[s] = Summary(measured, retried[s], generator(s, tools))
            log(
                f"  {s.id:32s} {m.median('requests_per_s'):7,.0f} req/s  p50 {m.median('p50_ms'):7.3f}"
                f"  p99 {m.median('p99_ms'):7.2f} ms  cpu {m.median('server_pct'):3.0f}/"
                f"{m.median('generator_pct'):3.0f}%  {m.cpu_us_per_request:5.0f} us/req  "
                f"{format_instructions(m.instructions_per_request)} instr/req  "
                f"noise {m.median('noise_pct'):3.0f}%  {m.generator}"
            )
    return summaries, failures


def _attempt(scenario: Scenario, server: Server, seconds: float, tools: bool) -> Run:
    try:
        return run_once(scenario, server, seconds, tools)
    except (RuntimeError, OSError) as error:  # OSError: /metrics did not answer in time
        log(f"  {scenario.id}: a run failed, trying once more: {str(error)[:200]}")
        return run_once(scenario, server, seconds, tools)
