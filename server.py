"""aioserving: a drop-in replacement for TensorFlow Serving's ``tensorflow_model_server``.

``python server.py --config models.config`` (or ``--model_base_path PATH``) serves the
models over TF Serving's gRPC API on ``--port`` and its REST API on ``--rest_api_port``.
With no model source at all it serves the bundled digits example, exporting it first.

Start-up is in dependency order, each part ready before the next starts: executor pool,
version manager, source adapter, path poller (its first scan's versions are loaded before
the ports open, as TF Serving does), config reloader, worker link (``--workers``),
batcher, then the gRPC and REST frontends. One log line per port is written once it is
listening. A configured model whose version fails to
load in that first scan stops the start-up ("Failed to start server. Error: UNKNOWN: N
servable(s) did not become available: ...", exit 1), as TF Serving does, unless
``--exit_on_load_failure=false``; a version failing later never stops the server.

SIGTERM or SIGINT starts a graceful drain: readiness turns false at once (the health
checks answer NOT_SERVING / not ready) while every API keeps serving for
``--drain_seconds``, so that load balancers stop sending; then the parts stop in the
reverse order: the frontends stop accepting and give in-flight requests
``--grace_seconds``, the batcher flushes, the config reloader and the poller stop, every
version is unloaded, the executor threads exit, and the process exits 0. A second SIGTERM or SIGINT exits at
once with status 1. A crashed part exits 1 without the drain.
SIGHUP re-reads ``--model_config_file`` and applies it, as a ReloadConfig request does;
it never stops the server. At start the soft open-file limit is raised to the hard one.
Every configuration file is read and validated into one ``ServerConfig`` before
TensorFlow is imported, so a malformed one exits with status 1, naming the file, line and
field, in a fraction of a second. TensorFlow itself starts only for a TensorFlow model
(or a warmup file): the frontends' protos import without it
(``servables.deferred_tensorflow``). TensorFlow runs its own kernels, not oneDNN's, as TF
Serving's released binary does, unless ``TF_ENABLE_ONEDNN_OPTS`` is set. Without ``--verbose``, TensorFlow's native start-up
lines (absl, oneDNN, CUDA probing) are kept out of the log, first run included. With ``--workers N`` (N > 1) this process becomes the
parent of N such servers sharing the ports (``app.workers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

from app.log_format import configure_logging, native_stderr_filtered
from config.errors import ConfigError
from config.flags import ServerOptions, parse_flags
from config.server_config import ServerConfig, load_server_config
from protocol.status import ServingError

log = logging.getLogger("aioserving")

EXAMPLE_MODEL_NAME = "mnist"
EXAMPLE_MODEL_DIR = Path(__file__).resolve().parent / "examples" / "models" / EXAMPLE_MODEL_NAME


def _example_model_flags(options: ServerOptions) -> ServerOptions:
    """No model source given: serve the bundled digits example, exporting it if missing."""
    import dataclasses

    if not (EXAMPLE_MODEL_DIR / "1").is_dir():
        log.info("exporting the example digits model to %s", EXAMPLE_MODEL_DIR)
        # Imports TensorFlow and trains on a device: its start-up noise is filtered.
        with native_stderr_filtered(options.verbose):
            from examples.export_digits import export_digits_model

            export_digits_model(EXAMPLE_MODEL_DIR)
    return dataclasses.replace(
        options, model_name=EXAMPLE_MODEL_NAME, model_base_path=str(EXAMPLE_MODEL_DIR)
    )


async def serve(config: ServerConfig) -> int:
    """Run until SIGTERM/SIGINT (then drain and stop; exit 0) or a crashed part (exit 1)."""
    options = config.options
    with native_stderr_filtered(options.verbose):
        from servables.deferred_tensorflow import defer_tensorflow_init

        # The frontends' protos live in the tensorflow package but need none of TensorFlow:
        # it is initialised when a TensorFlow model (or warmup file) first needs it.
        defer_tensorflow_init()
        from app.supervisor import Supervisor
        from app.worker_link import WorkerIdentity

        server = Supervisor(config, worker=WorkerIdentity.from_environment())
        # Imports the configured models' platforms: TensorFlow's start-up and its device
        # probing (CUDA) happen here, inside the filter.
        server.prepare_platforms()
    freeze_imported_heap()  # before the first model loads
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        if not stop_requested.is_set():
            stop_requested.set()
            return
        # A second signal: the operator wants out now, not after the drain and grace.
        log.warning("second %s: exiting at once", signum.name)
        logging.shutdown()
        os._exit(1)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    # SIGHUP re-reads the model config file, as a reload does; by default it would kill us.
    loop.add_signal_handler(signal.SIGHUP, server.reloader.reread_config_file)
    try:
        await server.start()
    except BaseException:
        await server.stop(options.grace_seconds)
        raise
    settle_garbage_collector()
    crashed = asyncio.ensure_future(server.wait_crashed())
    stopping = asyncio.ensure_future(stop_requested.wait())
    await asyncio.wait([crashed, stopping], return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    if crashed.done():
        log.error("a part of the server crashed (%r); shutting down", crashed.result())
        exit_code = 1
    else:
        # Not ready from now on, but still serving, so that load balancers take this
        # replica out of rotation before it stops accepting.
        server.begin_drain()
        log.info("shutdown requested: not ready; draining for %ss", options.drain_seconds)
        await asyncio.wait([crashed], timeout=options.drain_seconds)
        if crashed.done():
            log.error("a part of the server crashed during the drain (%r)", crashed.result())
            exit_code = 1
        log.info("drain over: stopping (in-flight requests get %ss)", options.grace_seconds)
    crashed.cancel()
    stopping.cancel()
    await server.stop(options.grace_seconds)
    return exit_code


GC_GEN0_THRESHOLD = 20_000
"""Allocations between young collections once serving (CPython's default is 700)."""


def freeze_imported_heap() -> None:
    """Before any model loads: freeze what the imports made, so no collection walks it.

    The imports (TensorFlow's modules and the other configured platforms', the frontends'
    protos) leave hundreds of thousands of long-lived objects that every full collection
    would walk again: over 400,000 with TensorFlow (a full collection over 490,000 took
    136 ms here).
    ``gc.freeze()`` moves them out of the collector's sight. It runs before the first
    model loads, not after: a frozen object that ends in a reference cycle is never freed,
    and a TF graph is one, so a version loaded at start-up would keep its graph (and a
    frozen graph's constants) in memory for good after its unload. Start-up versions are
    collected like any later version instead.
    """
    gc.collect()
    gc.freeze()


def settle_garbage_collector() -> None:
    """Once serving: young collections rarer.

    A REST request allocates thousands of objects (its decoded JSON), so the default
    young-generation threshold ran a collection every few requests; ``GC_GEN0_THRESHOLD``
    lets each collection cover many requests. Cyclic garbage still goes, only in larger
    steps; reference counting frees the rest at once.
    """
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, older, oldest)


def raise_file_limit() -> int | None:
    """Raise the soft RLIMIT_NOFILE to the hard limit, log both, and return the soft one.

    Each REST or gRPC connection holds a descriptor: under a common soft limit of 1024,
    about a thousand idle clients would stop both APIs. The connection caps are derived
    from the limit this returns (``config.connection_limits``); None: unlimited.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as error:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, hard, error)
    log.info("open-file limit (RLIMIT_NOFILE): %s (hard limit %s)", soft, hard)
    return None if soft == resource.RLIM_INFINITY else int(soft)


TENSORFLOW_DEFAULT_ENVIRONMENT = {"TF_ENABLE_ONEDNN_OPTS": "0"}
"""Set before TensorFlow is imported, unless the operator set them (``use_tensorflow_defaults``)."""


def use_tensorflow_defaults() -> None:
    """TensorFlow's own kernels, as TF Serving's released binary runs them, unless set.

    Call before anything imports TensorFlow (the bench's in-process and floor servers do
    too, so that they measure what the server runs). TF Serving's release is built without
    oneDNN (``--config=mkl`` is a separate build), where pip's TensorFlow turns oneDNN's
    kernels on. For the small dense layers that most served models end in, oneDNN's matmul
    costs 5-8x more per batch of 2 to 64 rows (digits: 64 rows 145 us against 27); it gains
    10-15 % on large convolution batches. TF_ENABLE_ONEDNN_OPTS=1 chooses it.
    """
    for name, value in TENSORFLOW_DEFAULT_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def main(argv: Sequence[str] | None = None) -> int:
    use_tensorflow_defaults()
    configure_logging()  # text until the flags say otherwise: parsing may log
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = parse_flags(arguments)
    configure_logging(options.log_format, verbose=options.verbose)  # before TensorFlow
    if (
        options.model_config_file is None
        and options.model_base_path is None
        and options.model_repository is None
    ):
        options = _example_model_flags(options)
        arguments += [
            f"--model_name={options.model_name}",
            f"--model_base_path={options.model_base_path}",
        ]
    descriptor_limit = raise_file_limit()  # before the connection caps are derived from it
    try:
        config = load_server_config(  # every file, before TensorFlow is imported
            options, descriptor_limit=descriptor_limit
        )
    except ConfigError as error:
        print(f"aioserving: configuration error: {error}", file=sys.stderr)
        return 1
    log.info("%s", config.connections.describe())
    if options.workers > 1:  # the parent: no TensorFlow here, the workers are servers
        from app.workers import run_workers

        return run_workers(options, arguments)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a declared dependency
        runner = asyncio.Runner()
    try:
        with runner:
            return runner.run(serve(config))
    except ConfigError as error:
        print(f"aioserving: configuration error: {error}", file=sys.stderr)
        return 1
    except ServingError as error:  # e.g. a configured model failed to load at start-up
        print(f"Failed to start server. Error: {error.code.name}: {error.message}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"aioserving: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
