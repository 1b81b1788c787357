"""Server CPU per single-example Predict, this tree beside another checkout (before/after).

Starts ``server.py`` (pinned to CPU 0 unless the configuration is in ``UNPINNED``, the
bench's models and monitoring config, as ``bench.measure.started`` does) for each
configuration, and with ``--baseline DIR`` a
second one from another checkout (a copy of the tree before a change, with its own
``bench/out``); over REST, checks that each answers the single-example digits body with
the recorded bytes (over gRPC, h2load checks each answer's size); then runs the protocol's
generator (wrk or h2load, pinned to CPU 1; unpinned beside an unpinned server)
``--runs`` times for ``--seconds`` each, alternating between the servers, so that the
noise of a shared machine hits both alike. Prints each run and the medians: requests per
second, the server's CPU microseconds per request (``/proc/PID/stat`` user + system over
the run, summed over the server's process tree: a ``--workers`` parent and its workers),
its instructions per request where ``perf stat`` counts them (``bench.perf_counters``;
``n/a`` elsewhere) and the p50 latency; CPU per request, and instructions more so, move
far less with that noise than req/s or latency do. ``--connections`` sets h2load's gRPC
connections (``SO_REUSEPORT`` spreads connections, not calls, over ``--workers``). ``--floor`` adds the
bare framework floor (``bench.floor_server``, pinned the same way) to the rotation and
prints each server's ratio to it (CPU per request, req/s, p50 difference). ``--threads``
also prints, per server, the CPU µs per request of each group of threads (by name, digits
dropped: ``MainThread`` is the event loop, ``inference-`` the executor, grpc's own
threads by theirs; every worker's threads together), summed over all runs. Needs the generator on
the PATH and ``bench/out`` prepared (``bench/run.sh`` does).
Usage: ``python -m bench.side_by_side --protocol grpc --configs off,on --concurrency 64
--runs 5 [--baseline /tmp/before] [--floor]`` (``--protocol v2grpc``: V2 ModelInfer);
``--configs on-w1,on-w2 --connections 64`` compares one worker with two, unpinned.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.measure import (
    GENERATOR_CPU,
    SERVER_CPU,
    TICKS,
    format_instructions,
    terminate,
    tree_cpu_s,
)
from bench.perf_counters import InstructionCounter
from bench.spec import FLOOR, FLOORS, REPO, SERVERS, SINGLE, UNPINNED, transport
from bench.tools import external


def _threads(tree: dict[int, float]) -> dict[str, float]:
    """``thread_cpu_s`` summed over every process of a tree (``tree_cpu_s``'s pids)."""
    found: dict[str, float] = collections.defaultdict(float)
    for pid in tree:
        for group, seconds in thread_cpu_s(pid).items():
            found[group] += seconds
    return found


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of ``pid``, summed by name with its digits dropped."""
    found: dict[str, float] = collections.defaultdict(float)
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            raw = stat.read_bytes()
        except OSError:  # the thread ended meanwhile
            continue
        name = raw[raw.index(b"(") + 1 : raw.rindex(b")")].decode(errors="replace")
        fields = raw[raw.rindex(b")") + 2 :].split()
        group = name.rstrip("0123456789-_") or name
        if int(stat.parent.name) == pid:
            group = "MainThread (the loop)"
        found[group] += (int(fields[11]) + int(fields[12])) / TICKS
    return found


@contextlib.contextmanager
def _server(repo: Path, config: str, scratch: Path, protocol: str) -> Iterator[tuple[int, int]]:
    """``server.py`` of checkout ``repo`` with ``config``'s flags: (pid, the protocol's port)."""
    port_file = scratch / f"{repo.name}-{config}.ports.json"
    pin = [] if config in UNPINNED else ["taskset", "-c", SERVER_CPU]
    if config in FLOORS:
        argv = [*pin, sys.executable, "-m", "bench.floor_server", *FLOORS[config]]
    else:
        flags = [flag.replace(str(REPO), str(repo)) for flag in SERVERS[config]]
        argv = [*pin, sys.executable, "server.py", "--port=0"]
        argv += ["--rest_api_port=0", f"--model_config_file={repo}/bench/out/models.config"]
        argv += [f"--monitoring_config_file={repo}/bench/monitoring.pbtxt", *flags]
    log = open(scratch / f"{repo.name}-{config}.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [*argv, f"--port_file={port_file}"], cwd=repo, stdout=log, stderr=log
    )
    try:
        while not port_file.exists():
            if process.poll() is not None:
                raise SystemExit(f"{repo} {config} did not start: see {log.name}")
            time.sleep(0.05)
        yield process.pid, json.loads(port_file.read_text())[transport(protocol)]
    finally:
        terminate(process)
        log.close()


def _check_answer(port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/models/digits:predict",
        data=SINGLE.file("json").read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = response.read()
    expected = SINGLE.file("rest_response").read_bytes()
    if answer != expected:
        raise SystemExit(f"answer differs from the recorded one:\n{answer!r}\n{expected!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", default="rest", choices=("rest", "grpc", "v2grpc"))
    parser.add_argument("--configs", default="off,on")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="another checkout, measured alternately")
    parser.add_argument("--floor", action="store_true", help="the framework floor too")
    parser.add_argument("--threads", action="store_true", help="CPU per request by thread")
    parser.add_argument("--connections", type=int, default=0, help="h2load's gRPC connections")
    args = parser.parse_args(argv)
    repos = {"this": REPO, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    for config in args.configs.split(","):
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
            servers = {
                k: stack.enter_context(_server(r, config, Path(tmp), args.protocol))
                for k, r in repos.items()
            }
            if args.floor:
                servers["floor"] = stack.enter_context(
                    _server(REPO, FLOOR, Path(tmp), args.protocol)
                )
            rates: dict[str, list[float]] = {name: [] for name in servers}
            costs: dict[str, list[float]] = {name: [] for name in servers}
            p50s: dict[str, list[float]] = {name: [] for name in servers}
            instructions: dict[str, list[float]] = {name: [] for name in servers}
            by_thread: dict[str, collections.defaultdict[str, float]] = {
                name: collections.defaultdict(float) for name in servers
            }
            served: dict[str, int] = dict.fromkeys(servers, 0)
            commands = {}
            for name, (_, port) in servers.items():
                if args.protocol == "rest":
                    _check_answer(port)
                command, parse = external.command(
                    args.protocol,
                    port,
                    SINGLE,
                    args.concurrency,
                    args.seconds,
                    Path(tmp),
                    args.connections,
                )
                unpinned = config in UNPINNED and name != "floor"
                pin = [] if unpinned else ["taskset", "-c", GENERATOR_CPU]
                commands[name] = [*pin, *command]
                subprocess.run(commands[name], cwd=REPO, capture_output=True, check=True)  # warm
            for _ in range(args.runs):
                for name, (pid, _) in servers.items():
                    before = tree_cpu_s(pid)  # a --workers parent and its workers
                    threads_before = _threads(before) if args.threads else {}
                    counter = InstructionCounter()
                    counter.start(list(before))
                    done = subprocess.run(
                        commands[name], cwd=REPO, capture_output=True, text=True, check=True
                    )
                    counted = counter.stop()
                    after = tree_cpu_s(pid)
                    used = sum(v - before.get(p, 0.0) for p, v in after.items())
                    if args.threads:
                        for group, seconds in _threads(after).items():
                            by_thread[name][group] += seconds - threads_before.get(group, 0.0)
                    result = parse(done.stdout)
                    if result["errors"]:
                        raise SystemExit(f"{result['errors']} failed: {result['first_error']}")
                    served[name] += result["requests"]
                    rates[name].append(result["requests"] / result["seconds"])
                    costs[name].append(used / result["requests"] * 1e6)
                    p50s[name].append(result["p50_ms"])
                    if counted is not None:
                        instructions[name].append(counted / result["requests"])
                    print(
                        f"  {name:8} {config} c{args.concurrency}: {rates[name][-1]:7,.0f} req/s "
                        f"{costs[name][-1]:6.1f} us/req "
                        f"{format_instructions(counted and counted / result['requests'])} "
                        f"instr/req p50 {p50s[name][-1]:.3f} ms",
                        flush=True,
                    )
            median = {
                name: tuple(statistics.median(v[name]) for v in (rates, costs, p50s))
                for name in servers
            }
            for name, (rate, cost, p50) in median.items():
                versus = ""
                if "floor" in median and name != "floor":
                    floor_rate, floor_cost, floor_p50 = median["floor"]
                    versus = (
                        f"  vs floor: cpu {cost / floor_cost:.2f}x req/s {rate / floor_rate:.2f}x"
                        f" p50 {p50 - floor_p50:+.3f} ms"
                    )
                counts = instructions[name]
                per_request = statistics.median(counts) if counts else None
                print(
                    f"{name:8} {config} c{args.concurrency}: median {rate:7,.0f} req/s "
                    f"{cost:6.1f} us/req (min {min(costs[name]):.1f}) "
                    f"{format_instructions(per_request)} instr/req p50 {p50:.3f} ms{versus}"
                )
                if args.threads and served[name]:
                    split = ", ".join(
                        f"{group} {seconds / served[name] * 1e6:.0f}"
                        for group, seconds in sorted(
                            by_thread[name].items(), key=lambda item: -item[1]
                        )
                        if seconds > 0
                    )
                    print(f"{'':8} CPU us/req by thread: {split}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
