"""Server CPU per REST ``:predict`` request, for before/after comparisons of the REST path.

Starts ``server.py`` once per configuration (``bench.measure.started``: pinned to CPU 0,
the bench's models), checks that it answers the single-example digits body with the
recorded bytes, then runs wrk (pinned to CPU 1) ``--runs`` times for ``--seconds`` each
and prints, per run and as the median, the requests per second and the server's CPU
microseconds per request (``/proc/PID/stat`` user + system over the run). CPU per request
moves far less with the noise of a shared machine than req/s does. Needs wrk on the PATH
and ``bench/out`` prepared (``bench/run.sh`` prepares it).
Usage: ``python -m bench.rest_path --configs off,on --concurrency 64 --runs 5``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bench.measure import GENERATOR_CPU, cpu_s, started
from bench.spec import REPO, SERVERS, SINGLE
from bench.tools import external


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
    parser.add_argument("--configs", default="off,on")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=2)
    args = parser.parse_args(argv)
    for config in args.configs.split(","):
        with started(config, SERVERS[config]) as server, tempfile.TemporaryDirectory() as tmp:
            _check_answer(server.rest_port)
            argv_, parse = external.command(
                "rest", server.rest_port, SINGLE, args.concurrency, args.seconds, Path(tmp)
            )
            warm = ["taskset", "-c", GENERATOR_CPU, *argv_]
            subprocess.run(warm, cwd=REPO, capture_output=True, check=True)  # warm-up
            rates, costs = [], []
            for _ in range(args.runs):
                before = cpu_s(server.pid)
                done = subprocess.run(warm, cwd=REPO, capture_output=True, text=True, check=True)
                cpu = cpu_s(server.pid) - before
                result = parse(done.stdout)
                if result["errors"]:
                    raise SystemExit(f"{result['errors']} failed calls: {result['first_error']}")
                rates.append(result["requests"] / result["seconds"])
                costs.append(cpu / result["requests"] * 1e6)
                print(
                    f"  {config} c{args.concurrency}: {rates[-1]:7,.0f} req/s {costs[-1]:6.1f} us/req"
                )
            print(
                f"{config} c{args.concurrency}: median {statistics.median(rates):7,.0f} req/s "
                f"{statistics.median(costs):6.1f} us/req (min {min(costs):.1f})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
