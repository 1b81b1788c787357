"""The batch cost model against TF Serving's fixed timeout, same batching parameters.

Starts ``server.py`` once per configuration (pinned to CPU 0, the bench's models and
monitoring config, through ``bench.measure.started``): ``fixed`` (``batching_timeout.pbtxt``,
a 2 ms timeout, with ``--batching_cost_model=false``) and ``cost`` (the same file, the
cost model on, the default) are the comparison; ``cost20`` (a 20 ms budget, cost model)
shows what a longer budget buys once c1 no longer pays for it, and ``t0`` (the bench's
``batching.pbtxt``, timeout 0, where the cost model does not act) is the bench's usual
batching. For each protocol and concurrency it runs the generator (wrk or h2load,
pinned to CPU 1) ``--runs`` times for ``--seconds`` each, alternating between the
servers after one warm-up run each, so the noise of a shared machine hits both alike.
Prints each run, then per server the medians of req/s, p50, p99 and server CPU µs per
request, and the batches formed over the measured runs (from the server's ``/metrics``
``input_batch_size`` histogram: count, mean, and the share of batches in each bucket).
Needs the generators on the PATH and ``bench/out`` prepared (``bench.prepare.prepare()``);
it records the answers (``bench.prepare.capture``) from the ``fixed`` server.
Usage: ``python -m bench.cost_model --protocols grpc,rest --concurrency 1,64 --runs 3``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.measure import GENERATOR_CPU, Server, batch_histogram, cpu_s, started
from bench.prepare import capture
from bench.spec import BENCH, REPO, SINGLE, transport
from bench.tools import external

SERVERS: dict[str, tuple[Path, tuple[str, ...]]] = {
    "t0": (BENCH / "batching.pbtxt", ()),  # the bench's usual timeout 0, for reference
    "fixed": (BENCH / "batching_timeout.pbtxt", ("--batching_cost_model=false",)),
    "cost": (BENCH / "batching_timeout.pbtxt", ()),
    "cost20": (BENCH / "batching_timeout_20ms.pbtxt", ()),
}
"""Each server's batching parameters file and flags."""


def _histogram(before: dict[str, float], after: dict[str, float]) -> str:
    """Batches formed in between: count, mean rows, share per bucket (non-empty ones)."""
    delta = {key: value - before.get(key, 0.0) for key, value in after.items()}
    count = delta.get("count", 0.0)
    if not count:
        return "no batches"
    bounds = sorted((float(k), k) for k in delta if k not in ("count", "sum"))
    shares, below = [], 0.0
    for bound, key in bounds:
        inside = delta[key] - below
        below = delta[key]
        if inside:
            label = "+Inf" if bound == float("inf") else f"{bound:g}"
            shares.append(f"<={label}: {inside / count:.0%}")
    return f"{count:,.0f} batches, mean {delta.get('sum', 0.0) / count:.1f} rows; " + ", ".join(
        shares
    )


def _flags(name: str) -> tuple[str, ...]:
    """``server.py``'s flags for ``name`` besides the bench's models and monitoring."""
    parameters, flags = SERVERS[name]
    return ("--enable_batching", f"--batching_parameters_file={parameters}", *flags)


def _ports(server: Server) -> dict[str, int]:
    return {"grpc": server.grpc_port, "rest": server.rest_port}


def _generator(
    load: tuple[str, int, int, Path], ports: dict[str, int]
) -> tuple[list[str], external.Parser]:
    """One run's generator command for (protocol, concurrency, seconds, scratch root),
    pinned, in a fresh folder: h2load appends to its latency log."""
    protocol, concurrency, seconds, scratch_root = load
    scratch = Path(tempfile.mkdtemp(dir=scratch_root))
    command, parse = external.command(
        protocol, ports[transport(protocol)], SINGLE, concurrency, seconds, scratch
    )
    return ["taskset", "-c", GENERATOR_CPU, *command], parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocols", default="grpc,rest")
    parser.add_argument("--concurrency", default="1,64")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args(argv)
    for name, (parameters, flags) in SERVERS.items():
        print(f"{name}: {parameters.name} {' '.join(flags)}")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(started(name, _flags(name))) for name in SERVERS}
        capture(
            servers["fixed"].grpc_port, servers["fixed"].rest_port
        )  # the answers h2load checks sizes against
        for protocol in args.protocols.split(","):
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                figures: dict[str, dict[str, list[float]]] = {
                    name: {"rate": [], "p50": [], "p99": [], "cpu": []} for name in servers
                }
                series = {}
                load = (protocol, concurrency, args.seconds, Path(tmp))
                for name, server in servers.items():
                    warm_up, _ = _generator(load, _ports(server))
                    subprocess.run(warm_up, cwd=REPO, capture_output=True, check=True)
                    series[name] = batch_histogram(server, "digits")
                for _ in range(args.runs):
                    for name, server in servers.items():
                        command, parse = _generator(load, _ports(server))
                        before = cpu_s(server.pid)
                        done = subprocess.run(
                            command, cwd=REPO, capture_output=True, text=True, check=True
                        )
                        used = cpu_s(server.pid) - before
                        result = parse(done.stdout)
                        if result["errors"]:
                            raise SystemExit(f"{result['errors']} failed: {result['first_error']}")
                        runs = figures[name]
                        runs["rate"].append(result["requests"] / result["seconds"])
                        runs["p50"].append(result["p50_ms"])
                        runs["p99"].append(result["p99_ms"])
                        runs["cpu"].append(used / result["requests"] * 1e6)
                        print(
                            f"  {name:5} {protocol} c{concurrency}: {runs['rate'][-1]:7,.0f} "
                            f"req/s p50 {runs['p50'][-1]:.3f} ms p99 {runs['p99'][-1]:.3f} ms "
                            f"{runs['cpu'][-1]:.0f} us/req",
                            flush=True,
                        )
                for name, server in servers.items():
                    median = {key: statistics.median(v) for key, v in figures[name].items()}
                    print(
                        f"{name:5} {protocol} c{concurrency}: median {median['rate']:7,.0f} req/s "
                        f"p50 {median['p50']:.3f} ms p99 {median['p99']:.3f} ms "
                        f"{median['cpu']:.0f} us/req; "
                        f"{_histogram(series[name], batch_histogram(server, 'digits'))}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
