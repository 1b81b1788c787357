"""The compute limit: a model's signature called in-process, with no server around it.

Loads the latest version as a TF1 session, as TF Serving (and our server) runs a
SavedModel, with the session options the server builds from the same flags
(``--tensorflow_intra_op_parallelism``, ``--tensorflow_inter_op_parallelism``,
``--tensorflow_session_config_file``), and calls the signature through the session's
callable, as the server does. For each batch size it times calls on the examples the load
generators send:

- ``tight``: back-to-back calls on the main thread: the most the model can do;
- ``hop`` (for ``--hop_sizes``): the same calls, one at a time, each sent from a uvloop
  event loop to a worker thread with ``run_in_executor`` and awaited, as a server does
  with batching off and one request in flight: the difference is the cost of the thread
  hand-off (futures, wake-ups, the GIL changing hands) without any protocol.

Each figure is the median of ``REPEATS`` timed stretches after a warm-up (half a second of
calls once, then ``WARMUP_CALLS`` per size). Run it pinned to the server's core (the bench
does) so that it competes for the same CPU as the server did. Prints one JSON object:
``{"tight": {rows: calls_per_s}, "hop": {rows: calls_per_s}}``.

Usage: ``python -m bench.inprocess --model digits --batch_sizes 1,8,64 --hop_sizes 1
[server flags]``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import uvloop

from bench.prepare import SIGNATURE, examples, latest_version
from bench.spec import ALL_MODELS, Model

WARMUP_CALLS, REPEATS, SECONDS = 20, 5, 0.2
# Once, before the first size: the first calls after a load stay slow (lazy allocations,
# cold caches) for longer than WARMUP_CALLS, which would bias the smallest batch size.
PROCESS_WARMUP_S = 0.5


def session_config(server_flags: Sequence[str]) -> Any:
    """The ``ConfigProto`` the server builds from these flags (the three the bench uses)."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import config_pb2

    config = config_pb2.ConfigProto()
    for flag in server_flags:
        name, _, value = flag.removeprefix("--").partition("=")
        if name == "tensorflow_session_config_file":
            text_format.Parse(Path(value).read_text(), config)
        elif name in ("tensorflow_intra_op_parallelism", "tensorflow_inter_op_parallelism"):
            setattr(config, name.removeprefix("tensorflow_") + "_threads", int(value))
    return config


def load(model: Model, server_flags: Sequence[str]) -> Callable[[np.ndarray], object]:
    """The model's ``serving_default`` as a callable of its one input array."""
    from server import use_tensorflow_defaults  # TF's kernels as the server runs them

    use_tensorflow_defaults()
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2

    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=session_config(server_flags))
    with graph.as_default():
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(latest_version(model)))
    signature = meta.signature_def[SIGNATURE]
    (feed,) = signature.inputs.values()
    fetches = [t.name for t in signature.outputs.values()]
    options = config_pb2.CallableOptions(feed=[feed.name], fetch=fetches)
    # As the server runs a cheap signature: the graph in the calling thread, not TF's pool.
    options.run_options.inter_op_thread_pool = -1
    # What the server calls (and TF Serving's C++ ``MakeCallable``): the public
    # ``make_callable`` wraps it in per-call Python that costs ~100 µs, 5x the digits model.
    return session._make_callable_from_options(options)  # type: ignore[no-any-return]  # noqa: SLF001 - as above


def calls_per_s(run_calls: Callable[[float], int]) -> float:
    """Median over ``REPEATS`` stretches of ``run_calls(SECONDS)`` (which returns calls made)."""
    rates = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        rates.append(run_calls(SECONDS) / (time.perf_counter() - started))
    return statistics.median(rates)


def measure(
    model: Model, sizes: Sequence[int], hop_sizes: Sequence[int], flags: Sequence[str]
) -> dict[str, dict[int, float]]:
    run = load(model, flags)
    stop = time.perf_counter() + PROCESS_WARMUP_S
    while time.perf_counter() < stop:
        run(examples(model, sizes[0]))
    pool = concurrent.futures.ThreadPoolExecutor(1, "inference")
    results: dict[str, dict[int, float]] = {"tight": {}, "hop": {}}
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        for rows in sizes:
            inputs = examples(model, rows)

            def tight(budget_s: float, inputs: np.ndarray = inputs) -> int:
                calls, stop = 0, time.perf_counter() + budget_s
                while time.perf_counter() < stop:
                    run(inputs)
                    calls += 1
                return calls

            async def hop(budget_s: float, inputs: np.ndarray = inputs) -> int:
                loop, calls, stop = asyncio.get_running_loop(), 0, time.perf_counter() + budget_s
                while time.perf_counter() < stop:
                    await loop.run_in_executor(pool, run, inputs)
                    calls += 1
                return calls

            for _ in range(WARMUP_CALLS):
                run(inputs)
            results["tight"][rows] = calls_per_s(tight)
            if rows in hop_sizes:
                runner.run(hop(WARMUP_CALLS * 1e-4))
                results["hop"][rows] = calls_per_s(lambda budget: runner.run(hop(budget)))
    pool.shutdown()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, choices=[m.name for m in ALL_MODELS])
    parser.add_argument("--batch_sizes", required=True, help="comma-separated rows per call")
    parser.add_argument("--hop_sizes", default="1", help="comma-separated rows to time with a hop")
    args, flags = parser.parse_known_args(argv)
    model = next(m for m in ALL_MODELS if m.name == args.model)
    sizes, hops = ([int(s) for s in a.split(",")] for a in (args.batch_sizes, args.hop_sizes))
    print(json.dumps(measure(model, sizes, hops, flags)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
