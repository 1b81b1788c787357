"""Loader and servable for TensorFlow SavedModels (``model_platform: "tensorflow"``).

A version is loaded the way TF Serving's C++ server loads it: a fresh graph and session
per version, restored with the configured tags, init ops run; the graph goes in a step at a
time (``servables.tensorflow.graph_import``), so that a load never holds the GIL for long,
and the variables are restored in an inter-op pool of their own (``with_load_pool``). Calls go through
``Session._make_callable_from_options`` rather than ``Session.run(feed_dict=...)``
because the callable, like TF Serving's C++ session, does not check fed shapes against
the placeholders' declared shapes (a ``[3]`` tensor fed to a ``[-1,1]`` input runs).
One callable is built per (signature, output set) and cached; callables are thread-safe
and release the GIL while TensorFlow computes. ``load()`` replays the version's warmup
requests (``servables.tensorflow.warmup``) before it returns; a failed warmup fails the load.

Where the graph runs (``SessionCall``). A session run normally hands its ops to TF's
inter-op pool and waits for them: for the bench's 784->10 digits model that hand-off is
most of the call (21 us of CPU per call through the pool against 8 in the caller's
thread, one process; ~60 us per request of ``tf_Compute`` time under load). So each
callable first runs with ``RunOptions.inter_op_thread_pool = -1``, TF's "run
``Session::Run`` in the caller's thread" option, meant for graphs whose run costs about
as much as that hand-off. Its calls are timed by the calling thread's CPU time; once
``SLOW_CALLS_TO_MOVE`` calls in a row used more than ``CALLER_THREAD_MAX_SECONDS`` of it,
the callable is rebuilt without the option and every later call uses TF's inter-op pool,
which runs a large graph's independent branches at once. CPU time, not wall time: under
load a call's wall time includes the wait to take the GIL back from the event loop
(0.1 to 1 ms for an 8 us digits call at 64 requests in flight), which once moved every
cheap signature to the pool for good. Intra-op parallelism (the threads inside one matmul or convolution) is
the same either way. A cheap signature then also measures cheap in
``actors.call_costs``, so the data plane and the batcher run it on the event loop: no
thread hop, and no hand-off inside TensorFlow either.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2

from protocol.signatures import Signature, TensorSpec
from protocol.status import invalid_argument
from servables.loader import VersionLoader
from servables.servable import Servable
from servables.tensorflow.graph_import import load_saved_model
from servables.tensorflow.session_options import tensorflow_session_config
from servables.tensorflow.warmup import run_warmup
from servables.version_folder import per_model_batching_settings, require_artifact
from servables.warmup_options import WarmupOptions

log = logging.getLogger(__name__)

_REF_OFFSET = 100  # TF encodes DT_X_REF as DT_X + 100

CALLER_THREAD_MAX_SECONDS: Final = 1e-3
"""A call that uses more CPU than this in the caller's thread counts as slow."""
SLOW_CALLS_TO_MOVE: Final = 8
"""This many slow calls in a row move a callable to TF's inter-op pool for good.

In a row, so that one call stretched by the machine (a descheduled thread, a GC pause,
the GIL held elsewhere while TF hands back its results) moves nothing: only a graph that
is slow call after call does.
"""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SavedModelOptions:
    """How every TF SavedModel version is loaded."""

    tags: tuple[str, ...] = ("serve",)
    session_config: config_pb2.ConfigProto = dataclasses.field(
        default_factory=config_pb2.ConfigProto
    )
    warmup: WarmupOptions = dataclasses.field(default_factory=WarmupOptions)
    """Replaying ``assets.extra/tf_serving_warmup_requests`` before ``load()`` returns."""
    per_model_batching: bool = False
    """Read the version's own ``batching_params.pbtxt`` (``per_model_batching_settings``)."""


def saved_model_options(
    *,
    tags: tuple[str, ...],
    session_config: bytes,
    gpu_fraction_from_flag: bool,
    warmup: WarmupOptions,
    per_model_batching: bool,
) -> SavedModelOptions:
    """The options of every SavedModel version, from the server's TensorFlow-free settings.

    ``session_config`` is the serialized ``ConfigProto`` (``ServerConfig.session_config``).
    Called once, when ``app.platforms`` first prepares or loads TensorFlow; logs each set field
    of the session config that cannot take effect in this process (``session_options``).
    """
    session, warnings = tensorflow_session_config(
        session_config, gpu_fraction_from_flag=gpu_fraction_from_flag
    )
    for warning in warnings:
        log.warning("%s", warning)
    return SavedModelOptions(
        tags=tags, session_config=session, warmup=warmup, per_model_batching=per_model_batching
    )


def _tensor_info(alias: str, proto: meta_graph_pb2.TensorSpec) -> TensorSpec:
    dtype = proto.dtype - _REF_OFFSET if proto.dtype > _REF_OFFSET else proto.dtype
    shape: tuple[int, ...] | None
    if not proto.HasField("tensor_shape") or proto.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = tuple(int(dim.size) for dim in proto.tensor_shape.dim)
    return TensorSpec(alias=alias, tensor_name=proto.name, dtype=dtype, shape=shape)


def signatures_from_meta_graph(
    meta_graph: meta_graph_pb2.MetaGraphDef,
) -> dict[str, Signature]:
    """Our ``Signature`` view of every SignatureDef that names real tensors."""
    signatures = {}
    for name, definition in meta_graph.signature_def.items():
        signatures[name] = Signature(
            name=name,
            method_name=definition.method_name,
            inputs={a: _tensor_info(a, t) for a, t in definition.inputs.items()},
            outputs={a: _tensor_info(a, t) for a, t in definition.outputs.items()},
        )
    return signatures


class SessionCall:
    """One session callable (fixed feeds and fetches), run in the caller's thread while cheap.

    See the module docstring. Thread-safe: executor threads and the event loop may call it
    at once. The counters are updated without a lock (a lost update only delays the
    decision by a call), and the switch to the pool happens once, under a lock.
    """

    __slots__ = ("_lock", "_options", "_session", "call", "in_caller_thread", "slow_in_a_row")

    def __init__(
        self, session: tf.compat.v1.Session, feeds: Sequence[str], fetches: Sequence[str]
    ) -> None:
        self._session = session
        self._options = config_pb2.CallableOptions(feed=feeds, fetch=fetches)
        in_caller = config_pb2.CallableOptions()
        in_caller.CopyFrom(self._options)
        in_caller.run_options.inter_op_thread_pool = -1  # run in the caller's thread
        self.call: object = self._make(in_caller)
        self.in_caller_thread = True
        self.slow_in_a_row = 0
        self._lock = threading.Lock()

    def _make(self, options: config_pb2.CallableOptions) -> object:
        return self._session._make_callable_from_options(options)  # noqa: SLF001 - the only shape-lenient call path TF exposes

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        call = self.call
        if not self.in_caller_thread:
            return call(*arrays)  # type: ignore[operator,no-any-return]  # an untyped TF session callable
        started = time.thread_time()
        try:
            return call(*arrays)  # type: ignore[operator,no-any-return]  # an untyped TF session callable
        finally:
            if time.thread_time() - started <= CALLER_THREAD_MAX_SECONDS:
                self.slow_in_a_row = 0
            else:
                self.slow_in_a_row += 1
                if self.slow_in_a_row >= SLOW_CALLS_TO_MOVE:
                    self._move_to_pool()

    def _move_to_pool(self) -> None:
        with self._lock:
            if not self.in_caller_thread:
                return
            # The caller-thread callable is dropped (TF releases it), so a large graph's
            # kernels are not held twice.
            self.call = self._make(self._options)
            self.in_caller_thread = False
        log.info(
            "session calls fetching %s took over %.0f us %d times in a row: "
            "running them on TF's inter-op pool",
            list(self._options.fetch),
            CALLER_THREAD_MAX_SECONDS * 1e6,
            SLOW_CALLS_TO_MOVE,
        )


class SavedModelServable(Servable):
    """A loaded SavedModel version backed by its own ``tf.compat.v1.Session``."""

    def __init__(
        self,
        *,
        model_name: str,
        version: int,
        session: tf.compat.v1.Session,
        meta_graph: meta_graph_pb2.MetaGraphDef,
    ) -> None:
        self.model_name = model_name
        self.version = version
        self.signatures = signatures_from_meta_graph(meta_graph)
        self._session = session
        self._callables: dict[tuple[tuple[str, ...], tuple[str, ...]], SessionCall] = {}
        self._callables_lock = threading.Lock()

    def _callable_for(
        self, signature: Signature, input_names: tuple[str, ...], output_names: tuple[str, ...]
    ) -> SessionCall:
        # Keyed by tensor names: a merged MultiInference signature shares callables with
        # the signatures it came from, and no two signatures can collide by name.
        key = (
            tuple(signature.inputs[n].tensor_name for n in input_names),
            tuple(signature.outputs[n].tensor_name for n in output_names),
        )
        found = self._callables.get(key)
        if found is not None:
            return found
        with self._callables_lock:
            found = self._callables.get(key)
            if found is None:
                found = self._callables[key] = SessionCall(self._session, key[0], key[1])
        return found

    def run(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
    ) -> dict[str, np.ndarray]:
        input_names = tuple(sorted(inputs))
        outputs = tuple(output_names) or tuple(sorted(signature.outputs))
        call = self._callable_for(signature, input_names, outputs)
        try:
            results = call(*(inputs[n] for n in input_names))
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
            raise invalid_argument(_first_line(error)) from error
        return {name: np.asarray(value) for name, value in zip(outputs, results, strict=True)}

    def unload(self) -> None:
        self._callables.clear()
        self._session.close()


def _first_line(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error)
    return message.strip().split("\n\n")[0]


INFERENCE_POOL_NAME, LOAD_POOL_NAME = "aioserving_inference", "aioserving_load"


def with_load_pool(config: config_pb2.ConfigProto) -> tuple[config_pb2.ConfigProto, int | None]:
    """The session config with a one-thread inter-op pool for restores, and that pool's index.

    Why: TF runs every session's ops in one process-wide inter-op pool, as many threads as
    cores. A restore's RestoreV2 op holds one of them for the whole read (seconds for
    300 MB), so on one core every other model's requests waited behind it: up to 1.1 s
    (``bench/load_stall.py``). Here every session gets two pools shared by name across
    sessions, as TF's ``session_inter_op_thread_pool`` documentation recommends for
    low-priority work: pool 0, ``INFERENCE_POOL_NAME``, the size the config asks for
    (``inter_op_parallelism_threads``, 0: one per core), which runs every request; and
    pool 1, ``LOAD_POOL_NAME``, one thread (``LOAD_POOL_NICENESS`` nicer than the process:
    ``lower_load_pool_priority``), which restores and runs init ops while loading. With
    that, requests waited at most 20 ms during the same restore. Warmup stays in pool 0:
    its requests build the callables that serving then uses.

    A config that already chose its pools (``session_inter_op_thread_pool``, per-session
    threads, or a negative ``inter_op_parallelism_threads``: run in the caller's thread) is
    returned unchanged, with None.
    """
    if (
        config.session_inter_op_thread_pool
        or config.use_per_session_threads
        or config.inter_op_parallelism_threads < 0
    ):
        return config, None
    pooled = config_pb2.ConfigProto()
    pooled.CopyFrom(config)
    pooled.session_inter_op_thread_pool.add(
        num_threads=config.inter_op_parallelism_threads, global_name=INFERENCE_POOL_NAME
    )
    pooled.session_inter_op_thread_pool.add(num_threads=1, global_name=LOAD_POOL_NAME)
    return pooled, 1


LOAD_POOL_NICENESS = 10
"""How much nicer than the process the load pool's thread runs (capped at 19): the event loop
and requests go first on a busy core."""


def lower_load_pool_priority(pool: int) -> int:
    """Makes the load pool's threads ``LOAD_POOL_NICENESS`` nicer than the process; how many.

    TF names a session's inter-op pool threads ``tf_Compute<index>`` (Linux, in
    ``/proc/self/task/*/comm``); the load pool's thread exists once a session with it was
    created. A restore is C++ with the GIL released, so a lower priority cannot hold up a
    thread waiting for the GIL. Best effort: anywhere the threads cannot be found or reniced
    (no ``/proc``, another TF naming), nothing changes.
    """
    name = f"tf_Compute{pool}"
    nice = min(19, os.getpriority(os.PRIO_PROCESS, 0) + LOAD_POOL_NICENESS)
    lowered = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                if comm.read().strip() != name:
                    continue
            if os.getpriority(os.PRIO_PROCESS, int(task)) < nice:
                os.setpriority(os.PRIO_PROCESS, int(task), nice)
            lowered += 1
        except OSError:  # the thread ended, or renicing is not allowed here
            continue
    return lowered


class SavedModelLoader(VersionLoader[SavedModelOptions]):
    """Loads one SavedModel version folder with the configured tags and session config."""

    def load(self) -> SavedModelServable:
        # The folder holding saved_model.pb: the version folder, or its model.savedmodel/
        # in a Triton repository.
        export_dir = os.path.dirname(require_artifact("tensorflow", self.path))
        graph = tf.Graph()
        config, restore_pool = with_load_pool(self._options.session_config)
        session = tf.compat.v1.Session(graph=graph, config=config)
        if restore_pool is not None:
            lower_load_pool_priority(restore_pool)
        try:
            with graph.as_default():
                meta_graph = load_saved_model(
                    session, self._options.tags, export_dir, restore_pool=restore_pool
                )
        except BaseException:
            session.close()
            raise
        servable = SavedModelServable(
            model_name=self.model_name,
            version=self.version,
            session=session,
            meta_graph=meta_graph,
        )
        try:
            if self._options.per_model_batching:
                servable.batching = per_model_batching_settings(self.path)
            # Before returning: the version becomes AVAILABLE only once warmed up.
            run_warmup(servable, self.path, self._options.warmup)
        except BaseException:
            servable.unload()
            raise
        return servable
