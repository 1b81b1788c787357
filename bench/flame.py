"""Where the server's Python time goes: py-spy on the real server under load, summarised.

``python -m bench.flame [--server on] [--protocol grpc] [--concurrency 64] [--seconds 8]``
starts ``server.py`` with a ``bench.spec.SERVERS`` configuration (pinned to CPU 0, as
every bench server), drives it with the bench's load generator for that protocol (CPU 1),
and records it with ``py-spy record --gil`` (only the thread holding the GIL is sampled,
so idle threads and TensorFlow's own threads, which release the GIL, do not count). It
prints a markdown summary: the share of samples per frame, *self* (the frame was on top)
and *inclusive* (anywhere on the stack), for our own modules and the largest others.
Native code that runs under the GIL with no Python frame above it (grpc's Cython core,
uvloop, protobuf's C parser called from them) is counted under the runner's frame,
``Runner.run``: it is the part no Python change of ours can reach.

py-spy must be installed (the bench's extra); the summary goes to stdout, the raw
collapsed stacks to ``bench/out/flame-<server>-<protocol>-c<c>.txt``.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import started
from bench.spec import OUT, REPO, SERVERS, SINGLE, transport
from bench.tools import external

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")
_OURS = ("actors/", "app/", "config/", "dataplane/", "frontends/", "protocol/", "servables/")


def _short(frame: str) -> str:
    """``function (file)``, with the file relative to the repository or site-packages."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    file = match["file"].replace(f"{REPO}/", "")
    file = re.sub(r".*/(site-packages|lib/python3\.\d+)/", "", file)
    return f"{match['function']} ({file})"


def summarise(collapsed: str, top: int = 25) -> str:
    """Markdown tables of self and inclusive sample shares from py-spy's raw output."""
    own: collections.Counter[str] = collections.Counter()
    anywhere: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            anywhere[frame] += int(count)
    if not total:
        return "no samples\n"
    ours = sum(n for f, n in own.items() if any(p in f for p in _OURS))
    lines = [
        f"{total:,} samples of the GIL-holding thread; frames of our own packages on top: "
        f"{100 * ours / total:.0f}%.",
        "",
        "| self % | frame | | inclusive % | frame |",
        "|---|---|---|---|---|",
    ]
    selfs, inclusives = own.most_common(top), anywhere.most_common(top)
    for (f1, n1), (f2, n2) in zip(selfs, inclusives, strict=False):
        lines.append(f"| {100 * n1 / total:.1f} | `{f1}` | | {100 * n2 / total:.1f} | `{f2}` |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="on", choices=sorted(SERVERS))
    parser.add_argument("--protocol", default="grpc", choices=("grpc", "rest"))
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists() or not external.available(args.protocol):
        print("needs py-spy and the protocol's load generator (h2load or wrk)", file=sys.stderr)
        return 2
    raw = OUT / f"flame-{args.server}-{args.protocol}-c{args.concurrency}.txt"
    with started(args.server, SERVERS[args.server]) as server, tempfile.TemporaryDirectory() as d:
        port = server.grpc_port if transport(args.protocol) == "grpc" else server.rest_port
        load_s = args.seconds + 4
        argv, _ = external.command(args.protocol, port, SINGLE, args.concurrency, load_s, Path(d))
        load = subprocess.Popen(
            ["taskset", "-c", "1", *argv], cwd=REPO, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(2)  # past the connections' start
        subprocess.run(
            ["taskset", "-c", "1", py_spy, "record", "--gil", "-r", "400", "-d",
             str(args.seconds), "-f", "raw", "-o", str(raw), "-p", str(server.pid)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        load.wait()
    print(f"`python -m bench.flame --server {args.server} --protocol {args.protocol} "
          f"--concurrency {args.concurrency}`\n")  # fmt: skip
    print(summarise(raw.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
