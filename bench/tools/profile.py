"""Where the server's time goes under one load: py-spy (optional) on the real server.

Starts one configuration pinned as in the bench, drives it with the bench's generator and
samples it with ``py-spy record --gil`` (only the thread holding the GIL counts). Prints,
and writes to ``bench/out/profile-NAME.txt``, the share of samples per thread and the top
functions, inclusive and self; C code under the event loop (grpc, uvloop, protobuf) shows
as self time of the innermost Python frame, unless ``--native`` samples C frames too
(by symbol, where the library has them). ``--all-threads`` samples every thread, also
those not holding the GIL (TF's pools, grpc's event engine, a thread in a syscall).
Needs ``py-spy`` beside the interpreter.
Usage: ``python -m bench.tools.profile --config on --protocol grpc --concurrency 64``
(``--config floor-orjson`` profiles the framework floor under the same load).
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from bench import prepare
from bench.measure import GENERATOR_CPU, run_once, started
from bench.spec import FLOORS, OUT, PAYLOADS, SERVERS, Scenario

TOP = 30


def summarize(raw: str) -> str:
    """A text report of py-spy's collapsed stacks (``--format raw --threads``)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]  # lines merged
        threads[frames[0]] += int(count)
        inclusive.update(dict.fromkeys(frames[1:], int(count)))
        own[frames[-1]] += int(count)
    total = sum(threads.values()) or 1
    lines = [f"{total} samples (thread holding the GIL)"]
    for title, counter in (("by thread", threads), ("inclusive", inclusive), ("self", own)):
        lines += [
            "",
            f"{title}:",
            *(f"  {n / total:6.1%}  {k}" for k, n in counter.most_common(TOP)),
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="on", choices=sorted({**SERVERS, **FLOORS}))
    parser.add_argument("--protocol", default="grpc", choices=("grpc", "v2grpc", "rest"))
    parser.add_argument("--payload", default="digits-1", choices=[p.name for p in PAYLOADS])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument(
        "--native",
        action="store_true",
        help="also sample C frames (py-spy --native): what runs under the loop, by function",
    )
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every thread, not only the one holding the GIL (TF's and grpc's threads)",
    )
    args = parser.parse_args(argv)
    payload = next(p for p in PAYLOADS if p.name == args.payload)
    scenario = Scenario(args.config, args.protocol, payload, args.concurrency, reference="")
    raw = OUT / "profile.raw"
    flags = FLOORS.get(args.config) or SERVERS[args.config]
    with started(args.config, flags) as server:
        if args.config not in FLOORS:  # a floor replays what the real server answered
            prepare.capture(server.grpc_port, server.rest_port)
        run_once(scenario, server, 1.0, tools=True)  # warm-up
        load = threading.Thread(target=run_once, args=(scenario, server, args.seconds + 2, True))
        load.start()
        py_spy = Path(sys.executable).with_name("py-spy")
        subprocess.run(
            [
                *("taskset", "-c", GENERATOR_CPU, str(py_spy), "record", "-p", str(server.pid)),
                *("-d", str(args.seconds), "-r", "250", "--threads", "--format", "raw"),
                *(() if args.all_threads else ("--gil",)),
                *(("--native",) if args.native else ()),
                *("-o", str(raw)),
            ],
            check=True,
            capture_output=True,
        )
        load.join()
    report = summarize(raw.read_text())
    name = f"{args.config}-{args.protocol}-{args.payload}-c{args.concurrency}"
    name += "-native" if args.native else ""
    name += "-all" if args.all_threads else ""
    (OUT / f"profile-{name}.txt").write_text(report)
    print(report, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
