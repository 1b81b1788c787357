"""Serving while another model loads (issue 21): a small model's stream during a big load.

One server (batching off, pinned to CPU 0 as in ``bench.measure``) serves
``half_plus_two`` (A) and ``big`` (B), a TensorFlow SavedModel this bench generates once
under ``bench/out/load_stall/`` (git-ignored): ``BIG_MATRICES`` float32 variables of
``BIG_SHAPE`` (331 MB of checkpoint) behind ``SMALL_LAYERS`` small dense layers (a
graph of about 13,500 nodes: the graph import, the restore and the warmup all cost what a
real model's do), with a warmup file of one Predict request.

Per repeat, on a fresh server with B's version 1 loaded, a closed-loop stream of
single-example gRPC Predict calls to A (``IN_FLIGHT`` at once, from its own process on
CPU 1, every call logged) starts; after ``QUIET_S`` B's version 1 is copied (by this process, also on CPU 1) to version 2
(aside, then renamed, as an exporter does). The server polls every second, loads it
(graph, restore, warmup), makes it AVAILABLE and then unloads version 1; the bench polls
B's status over REST and stops the stream ``AFTER_S`` after version 1 is gone. Any failed
call fails the run. The calls are split into three windows:

- ``quiet``: those answered before the copy;
- ``load``: those still waiting at the copy or started until version 2 is AVAILABLE;
- ``unload``: those started from then until ``AFTER_S`` after version 1 is gone.

Each window reports p50, p99 and max (the longest single wait); the figures are the
medians over ``--repeats``. ``--server_cpus 0,1`` lets the server use both cores (the
stream's too), where a load can take a core the requests leave idle. Beside them, per repeat, the *slow calls*: those of the load
and unload windows over ``SLOW_OVER_QUIET_P99`` times the quiet p99, less as many as the
quiet window's rate predicts. A window's p99 alone rewards a slower load (the same slow
calls spread over more calls); this count does not. ``--against COMMIT`` runs the same bench on the server of
another commit (its tree from ``git archive`` under ``bench/out``), repeats interleaved,
so that a change is measured before and after in one run; ``--server_flag`` passes a flag
to every server. Run:

    AIOSERVING_TESTDATA=/work/shared/testdata python -m bench.load_stall --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from bench.measure import GENERATOR_CPU, SERVER_CPU, Server, terminate
from bench.prepare import copy_version, write_model_config
from bench.spec import HALF_PLUS_TWO, HP2_SINGLE, OUT, REPO, Model

HOME = OUT / "load_stall"
BIG = Model("big", HOME / "big", "x", 64)
BIG_MATRICES, BIG_SHAPE = 10, (2048, 4096)  # 10 x 32 MiB of float32
SMALL_LAYERS = 500
IN_FLIGHT, QUIET_S, AFTER_S, LOAD_LIMIT_S = 4, 3.0, 0.5, 600.0
WINDOWS = ("quiet", "load", "unload")
SLOW_OVER_QUIET_P99 = 1.5


def export_big_model(target: Path) -> None:
    """Writes B's version 1 (a TF1 SavedModel with a warmup request) unless it exists."""
    if (target / "1" / "saved_model.pb").exists():
        return
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    staging = target / ".1.incomplete"
    shutil.rmtree(staging, ignore_errors=True)
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, BIG.width], name="x")
        h = x
        for i in range(SMALL_LAYERS):
            w = v1.get_variable(f"small_{i}/w", [BIG.width, BIG.width], tf.float32)
            b = v1.get_variable(f"small_{i}/b", [BIG.width], tf.float32, v1.zeros_initializer())
            h = tf.nn.relu(tf.matmul(h, w * 0.1) + b)
        wide = tf.tile(h, [1, BIG_SHAPE[0] // BIG.width])
        total = tf.zeros_like(wide[:, :1])
        for i in range(BIG_MATRICES):
            big = v1.get_variable(
                f"big_{i}", BIG_SHAPE, tf.float32, v1.random_normal_initializer(stddev=1e-3)
            )
            total += tf.reduce_sum(tf.matmul(wide, big), axis=1, keepdims=True)
        y = tf.identity(total, name="y")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(staging))
            signature = v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"serving_default": signature}
            )
            builder.save()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = BIG.name
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((1, BIG.width), np.float32)))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )
    (staging / "assets.extra").mkdir()
    with tf.io.TFRecordWriter(str(staging / "assets.extra" / "tf_serving_warmup_requests")) as w:
        w.write(log.SerializeToString())
    staging.rename(target / "1")


def _write_payload() -> None:
    """The serialized Predict request ``bench.loadgen`` sends to A."""
    path = HP2_SINGLE.file("grpc")
    if path.exists():
        return
    from bench.prepare import predict_request

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(predict_request(HALF_PLUS_TWO, 1).SerializeToString())


def _versions(server: Server) -> dict[int, str]:
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/{BIG.name}"
    with urllib.request.urlopen(url, timeout=120) as response:  # slow while a load holds the GIL
        states = json.load(response).get("model_version_status", [])
    return {int(s["version"]): s["state"] for s in states}


async def _stream_until_stdin_closes(port: int, log: Path) -> None:
    """The stream's process: ``IN_FLIGHT`` callers, one call each in flight, until EOF."""
    import grpc

    from bench.prepare import GRPC_METHODS

    body = HP2_SINGLE.file("grpc").read_bytes()
    rows: list[str] = []
    errors: list[str] = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        method = channel.unary_unary(GRPC_METHODS["grpc"])
        await method(body, timeout=30)  # connected and warm
        loop = asyncio.get_running_loop()
        stdin_closed = loop.run_in_executor(None, sys.stdin.buffer.read)
        print("READY", flush=True)

        async def caller() -> None:
            while not stdin_closed.done():
                started, begun = time.time(), time.perf_counter()
                try:
                    await method(body, timeout=30)
                except grpc.RpcError as error:
                    errors.append(f"{error.code()}: {error.details()}")
                    continue
                rows.append(f"{started:.6f} {time.perf_counter() - begun:.6f}\n")

        await asyncio.gather(*(caller() for _ in range(IN_FLIGHT)))
    log.write_text("".join(rows))
    print(json.dumps({"calls": len(rows), "errors": len(errors), "first_error": errors[:1]}))


class _Stream:
    """The stream to A in its own process on ``GENERATOR_CPU``, until ``stop()``."""

    def __init__(self, server: Server, log: Path) -> None:
        self._log = log
        argv = [sys.executable, "-m", "bench.load_stall", f"--stream_port={server.grpc_port}"]
        self._process = subprocess.Popen(
            ["taskset", "-c", GENERATOR_CPU, *argv, f"--stream_log={log}"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != b"READY":
            raise RuntimeError("the stream did not start")

    def stop(self) -> np.ndarray:
        """Rows of (start epoch s, duration ms); raises if any call failed."""
        out, _ = self._process.communicate(b"", timeout=120)
        result = json.loads(out.decode().strip().splitlines()[-1])
        if result["errors"]:
            raise RuntimeError(f"stream errors: {result['errors']}, first: {result['first_error']}")
        rows = np.loadtxt(self._log, ndmin=2)
        return np.column_stack([rows[:, 0], rows[:, 1] * 1e3])


def _repeat(server: Server, big: Model, version: int) -> dict[str, float]:
    """One stream, one load of ``version`` (replacing ``version - 1``) and one unload."""
    stream = _Stream(server, HOME / f"stream-{server.name}-{version}.log")
    try:
        time.sleep(QUIET_S)
        copied = time.time()
        copy_version(big, version - 1, version)
        available = gone = 0.0
        deadline = time.monotonic() + LOAD_LIMIT_S
        while not gone and time.monotonic() < deadline:
            states = _versions(server)
            if not available and states.get(version) == "AVAILABLE":
                available = time.time()
            if available and states.get(version - 1, "END") == "END":
                gone = time.time()
            time.sleep(0.05)
        time.sleep(AFTER_S)
    finally:
        calls = stream.stop()
    if not gone:
        raise RuntimeError(f"version {version} did not replace {version - 1} in {LOAD_LIMIT_S} s")
    starts, ms = calls[:, 0], calls[:, 1]
    # A call counts in the window it started in, and in the load window also when it was
    # still waiting as the load began.
    windows = {
        "quiet": ms[starts + ms / 1e3 < copied],
        "load": ms[(starts + ms / 1e3 >= copied) & (starts < available)],
        "unload": ms[(starts >= available) & (starts < gone + AFTER_S)],
    }
    figures = {"load_s": available - copied, "unload_s": gone - available}
    # The p99 of a window falls when the same slow calls spread over a longer load (a load
    # run at a low CPU priority on this saturated core took 8x longer and halved its p99
    # with as many slow calls): so also count them, net of the quiet rate.
    slow_ms = SLOW_OVER_QUIET_P99 * float(np.percentile(windows["quiet"], 99))
    busy = np.concatenate((windows["load"], windows["unload"]))
    expected = busy.size * float(np.mean(windows["quiet"] > slow_ms))
    figures["slow_calls"] = float(np.sum(busy > slow_ms)) - expected
    for name, window in windows.items():
        figures[f"{name}_calls"] = float(window.size)
        for label, q in (("p50", 50), ("p99", 99), ("max", 100)):
            figures[f"{name}_{label}"] = float(np.percentile(window, q)) if window.size else 0.0
    return figures


@dataclasses.dataclass(frozen=True, slots=True)
class LoadStallResult:
    label: str
    repeats: list[dict[str, float]]

    def median(self, key: str) -> float:
        return float(statistics.median(r[key] for r in self.repeats))

    def table(self) -> str:
        head = f"{self.label}: medians of {len(self.repeats)} repeats\n"
        head += "| window | calls | p50 ms | p99 ms | max ms | p99 / quiet p99 |\n"
        head += "|---|--:|--:|--:|--:|--:|\n"
        quiet = self.median("quiet_p99")
        for name in WINDOWS:
            p99 = self.median(f"{name}_p99")
            head += (
                f"| {name} | {self.median(f'{name}_calls'):.0f} | "
                f"{self.median(f'{name}_p50'):.2f} | {p99:.2f} | "
                f"{self.median(f'{name}_max'):.1f} | {p99 / quiet:.2f}x |\n"
            )
        head += (
            f"load (copy to AVAILABLE) {self.median('load_s'):.1f} s, "
            f"unload {self.median('unload_s'):.1f} s; longest single wait per repeat (ms): "
            + ", ".join(f"{max(r[f'{w}_max'] for w in WINDOWS):.0f}" for r in self.repeats)
            + f"; slow calls (over {SLOW_OVER_QUIET_P99}x the quiet p99, load and unload, "
            + "net of the quiet rate) per repeat: "
            + ", ".join(f"{r.get('slow_calls', 0.0):.0f}" for r in self.repeats)
        )
        return head


@contextlib.contextmanager
def _started(
    tree: Path, name: str, models: Path, flags: Sequence[str], cpus: str
) -> Iterator[Server]:
    """``server.py`` of ``tree`` pinned to ``cpus``, on ports read back from a file."""
    port_file = HOME / f"{name}.ports.json"
    port_file.unlink(missing_ok=True)
    command = ["taskset", "-c", cpus, sys.executable, "server.py", "--port=0"]
    command += ["--rest_api_port=0", f"--model_config_file={models}", f"--port_file={port_file}"]
    with open(HOME / f"{name}.log", "wb") as output:
        process = subprocess.Popen([*command, *flags], cwd=tree, stdout=output, stderr=output)
    try:
        while not port_file.exists():
            if process.poll() is not None:
                raise RuntimeError(f"{name} did not start (see {HOME / name}.log)")
            time.sleep(0.05)
        ports = json.loads(port_file.read_text())
        yield Server(name, process.pid, ports["grpc"], ports["rest"])
    finally:
        terminate(process, 60.0)


def _checkout(commit: str) -> Path:
    """The tree of ``commit`` under ``HOME`` (``git archive``: no worktree, no branch)."""
    tree = HOME / f"tree-{commit}"
    if not (tree / "server.py").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", commit], cwd=REPO, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def run_load_stall(
    repeats: int,
    configurations: Sequence[tuple[str, Path, tuple[str, ...]]],
    server_cpus: str = SERVER_CPU,
) -> list[LoadStallResult]:
    """Each (label, source tree, server flags): a fresh server per repeat, interleaved."""
    export_big_model(BIG.base_path)
    _write_payload()
    results = [LoadStallResult(label, []) for label, _, _ in configurations]
    models = HOME / "models.config"
    big = dataclasses.replace(BIG, base_path=HOME / "serving" / "big")
    write_model_config(models, (HALF_PLUS_TWO, big))
    for repeat in range(repeats):
        for (label, tree, flags), result in zip(configurations, results, strict=True):
            shutil.rmtree(big.base_path, ignore_errors=True)
            shutil.copytree(BIG.base_path / "1", big.base_path / "1")
            try:
                with _started(
                    tree, f"{label}-{repeat}".replace(" ", "_"), models, flags, server_cpus
                ) as server:
                    _wait_available(server, 1)
                    figures = _repeat(server, big, 2)
            finally:
                shutil.rmtree(big.base_path, ignore_errors=True)
            result.repeats.append(figures)
            print(f"repeat {repeat + 1}, {label}: {json.dumps(figures)}", flush=True)
    return results


def _wait_available(server: Server, version: int) -> None:
    deadline = time.monotonic() + 300
    while _versions(server).get(version) != "AVAILABLE":
        if time.monotonic() > deadline:
            raise RuntimeError(f"version {version} of {BIG.name} never became available")
        time.sleep(0.2)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stream_port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stream_log", default="", help=argparse.SUPPRESS)
    parser.add_argument("--server_flag", action="append", default=[], help="repeatable")
    parser.add_argument("--against", default="", help="a commit to run interleaved (before)")
    parser.add_argument(
        "--server_cpus",
        default=SERVER_CPU,
        help=f"the CPUs the server may use (taskset's list; default {SERVER_CPU}: one core, "
        f"beside the stream on {GENERATOR_CPU}; '0,1': a core to spare for the load)",
    )
    args = parser.parse_args(argv)
    if args.stream_port:  # the stream's own process (``_Stream``)
        asyncio.run(_stream_until_stdin_closes(args.stream_port, Path(args.stream_log)))
        return
    # This process copies the new version (331 MB): on the generator's core, as an exporter
    # on another machine or core would, not on the server's (each server is pinned itself).
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(GENERATOR_CPU)})
    flags = tuple(args.server_flag)
    configurations = [("this tree", REPO, flags)]
    if args.against:
        configurations.insert(0, (f"commit {args.against}", _checkout(args.against), flags))
    for result in run_load_stall(args.repeats, configurations, args.server_cpus):
        print(result.table())


if __name__ == "__main__":
    main()
