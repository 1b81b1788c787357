"""Run the bench and write its report: ``bench/run.sh [--quick] [options]``.

Order: prepare models and request bodies (``bench.prepare``); start every server the
selected tables need, pinned to CPU 0, and capture the real server's answers; measure the
scenarios (``bench.measure``); the in-process references; the load-while-serving scenario;
render the tables (``bench.tables``). ``--quick`` measures only the request-path table
(single-example digits, gRPC and REST, batching off and on, c1 and c64, each with its
floor): a few minutes. ``--targets`` measures issue 8's targets: the verdict table, the CNN
thread-pool study, ``--workers`` 1 against 2, and the in-process references they need. The
full run writes ``bench/RESULTS.md``, keeping any hand-recorded "## Request path, ..."
and "## Issue 21: ..." sections of the old file; ``--quick``, ``--targets`` and ``--only`` write
``bench/out/RESULTS-quick.md`` (``RESULTS-targets.md`` for ``--targets``); a partial run
measures the in-process references of the tables that show a selected scenario of that
model. wrk and h2load (``bench/tools``) are used when on the PATH, unless
``--python_only``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import measure, prepare
from bench.spec import (
    BENCH,
    FLOORS,
    FULL,
    IN_PROCESS,
    OUT,
    QUICK,
    REPO,
    SERVERS,
    TARGETS,
    TF_FLAGS,
    InProcess,
    Table,
)
from bench.tables import Results, render

# Hand-recorded sections (before/after studies) that survive a full run.
KEEP = ("## Request path, ", "## Issue 21: ")


def _in_process(spec: InProcess) -> tuple[InProcess, dict[str, dict[int, float]], float]:
    measure.wait_for_quiet()
    argv = [sys.executable, "-m", "bench.inprocess", f"--model={spec.model.name}"]
    argv += [f"--batch_sizes={','.join(map(str, spec.sizes))}"]
    argv += [f"--hop_sizes={','.join(map(str, spec.hop_sizes))}", *TF_FLAGS[spec.tf]]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, started = measure.busy_s(), time.monotonic()
    done = subprocess.run(["taskset", "-c", spec.cpus, *argv], cwd=REPO,
                          capture_output=True, check=True)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    noise = 100 * max(0.0, measure.busy_s() - busy - own) / (time.monotonic() - started)
    figures = json.loads(done.stdout.decode().strip().splitlines()[-1])
    parsed = {kind: {int(k): v for k, v in figures[kind].items()} for kind in ("tight", "hop")}
    measure.log(f"in-process {spec.model.name} ({spec.tf}, CPUs {spec.cpus}): {parsed['tight']}")
    return spec, parsed, noise


def _in_process_specs(tables: Sequence[Table], selected: Sequence[str]) -> list[InProcess]:
    """The references a partial run needs: each table's ``in_process`` whose model one of
    the table's selected scenarios uses."""
    specs: dict[InProcess, None] = {}
    for table in tables:
        models = {s.payload.model for s in table.rows if s.id in selected}
        specs |= dict.fromkeys(spec for spec in table.in_process if spec.model in models)
    return list(specs)


def _context(argv: Sequence[str], args: argparse.Namespace) -> dict[str, str]:
    from importlib.metadata import version

    def run(*command: str) -> str:
        found = shutil.which(command[0])
        return (
            subprocess.run(command, capture_output=True, text=True, cwd=REPO).stdout
            if found
            else ""
        )

    commit = run("git", "describe", "--always", "--dirty").strip() or "unknown"
    cpu = re.search(r"Model name:\s*(.*)", run("lscpu"))
    packages = ("tensorflow", "grpcio", "aiohttp", "uvloop", "orjson", "numpy", "protobuf")
    tools = (
        [] if args.python_only else [run("wrk", "-v").split(" [")[0], run("h2load", "--version")]
    )
    command = os.environ.get("BENCH_COMMAND") or "bench/run.sh " + " ".join(argv)
    return {
        "Command": f"`{command}`",
        "Commit": f"`{commit}`",
        "Date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "Machine": f"{os.cpu_count()} CPUs (nproc), {cpu.group(1) if cpu else '?'}, "
        f"Linux {platform.release()}",
        "Software": ", ".join(
            [f"Python {platform.python_version()}"] + [f"{p} {version(p)}" for p in packages]
        ),
        "Load generators": "; ".join(
            ["Python (`bench/loadgen.py`)"] + [t.strip() for t in tools if t]
        ),
        "Runs": f"{args.runs} of {args.duration_s:g} s per scenario",
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the request-path table only")
    parser.add_argument("--targets", action="store_true", help="issue 8's targets only")
    parser.add_argument("--only", default="", help="regex on scenario ids (see --list)")
    parser.add_argument("--list", action="store_true", help="print the scenario ids and exit")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per scenario")
    parser.add_argument("--duration_s", type=float, default=1.0, help="seconds per run")
    parser.add_argument("--python_only", action="store_true", help="never use wrk or h2load")
    parser.add_argument("--no_in_process", action="store_true")
    parser.add_argument("--no_spike", action="store_true")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    tables = QUICK if args.quick else TARGETS if args.targets else FULL
    selected = {s.id: s for t in tables for s in t.rows if re.search(args.only, s.id)}
    if args.list:
        print("\n".join(selected))
        return 0
    partial = args.quick or args.targets or bool(args.only)
    name = "RESULTS-targets.md" if args.targets else "RESULTS-quick.md"
    output = args.output or (OUT / name if partial else BENCH / "RESULTS.md")
    started = time.monotonic()
    context = _context(argv, args)
    measure.log("preparing models and request bodies")
    prepare.prepare()
    scenarios = list(selected.values())
    names = list(dict.fromkeys(m.server for s in scenarios for m in (s.floor(), s) if m))
    real = [n for n in names if n in SERVERS] or ["off"]  # a real server answers the floors' bytes
    with contextlib.ExitStack() as stack:
        servers = {}
        for name in real + [n for n in names if n not in SERVERS]:
            measure.log(f"starting {name}")
            flags = {**SERVERS, **FLOORS}[name]
            servers[name] = stack.enter_context(measure.started(name, flags))
            if name == real[0]:
                prepare.capture(servers[name].grpc_port, servers[name].rest_port)
        stack.callback(measure.stop, list(servers.values()))  # runs first: drains side by side
        summaries, failures = measure.measure(
            scenarios, servers, args.runs, args.duration_s, not args.python_only
        )
    results = Results(context, summaries, failures, [])
    if not args.no_in_process:
        specs = _in_process_specs(tables, list(selected)) if partial else IN_PROCESS
        results.in_process = [_in_process(spec) for spec in specs]
    if not (partial or args.no_spike):
        from bench.spike import run_spike

        measure.log("load while serving")
        results.spike = run_spike()
    context["Command"] += f" ({(time.monotonic() - started) / 60:.1f} min)"
    report = render(tables, results)
    if output.exists() and not partial:
        kept = [s for s in output.read_text().split("\n## ") if ("## " + s).startswith(KEEP)]
        report += "".join("\n## " + s.rstrip() + "\n" for s in kept)
    output.write_text(report)
    measure.log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
