"""The TF edge of the session options: serialized ``ConfigProto`` in, TensorFlow's class out.

``config.server_config`` resolves the session options without TensorFlow, into the bytes
of a ``tensorflow.ConfigProto`` (``ServerConfig.session_config``). This module imports
TensorFlow, so it is called after the configuration was validated, once, at start-up:

    session_config, warnings = tensorflow_session_config(
        config.session_config, gpu_fraction_from_flag=config.gpu_fraction_from_flag
    )

It returns TensorFlow's ``ConfigProto`` (what sessions accept) and the warnings that
depend on TensorFlow's state in this process, in this order, from what TensorFlow 2.21's
local ``DirectSession`` does (checked by experiment, not assumed):

- any set ``gpu_options`` field, and ``device_count["GPU"]``, has no effect when no GPU
  is visible;
- ``gpu_options`` fields and ``intra_op_parallelism_threads`` have no effect when
  TensorFlow's eager runtime already started in this process (it sized the intra-op
  thread pool and set up the GPU allocators that every session then shares).

``log_device_placement`` and ``allow_soft_placement`` take effect (placements are printed
on stdout), as do the thread settings when nothing started TensorFlow's runtime first.
The warnings that need no TensorFlow (distributed-only fields, ...) are already in
``ServerConfig.warnings``. Bytes that do not decode are a bug upstream, not a user error,
and raise protobuf's ``DecodeError``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorflow.core.protobuf.config_pb2 import ConfigProto

from config.session_config import set_fields

NO_GPU = "no GPU is visible to this process"
EAGER_STARTED = (
    "TensorFlow's eager runtime already started in this process and fixed it for every session"
)
_FLAG_FRACTION_FIELD = "gpu_options.per_process_gpu_memory_fraction"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeState:
    """What this process's TensorFlow can still honour; see ``probe_runtime``."""

    gpu_visible: bool
    eager_started: bool


def tensorflow_session_config(
    serialized: bytes,
    *,
    gpu_fraction_from_flag: bool = False,
    runtime: RuntimeState | None = None,
) -> tuple[ConfigProto, list[str]]:
    """TensorFlow's ``ConfigProto`` from ``serialized``, and the warnings above.

    ``gpu_fraction_from_flag``: ``per_process_gpu_memory_fraction`` came from the flag,
    so its warning names ``--per_process_gpu_memory_fraction``. ``runtime`` is probed
    when not given (tests pass one).
    """
    config = ConfigProto.FromString(serialized)
    if runtime is None:
        runtime = probe_runtime()
    return config, session_config_warnings(
        config, runtime, gpu_fraction_from_flag=gpu_fraction_from_flag
    )


def session_config_warnings(
    config: ConfigProto, runtime: RuntimeState, *, gpu_fraction_from_flag: bool = False
) -> list[str]:
    """Why some set fields of ``config`` cannot take effect in this process."""
    warnings: list[str] = []
    gpu_reason = None
    if not runtime.gpu_visible:
        gpu_reason = NO_GPU
    elif runtime.eager_started:
        gpu_reason = EAGER_STARTED
    if gpu_reason is not None:
        for name in set_fields(config.gpu_options, "gpu_options."):
            shown = name
            if gpu_fraction_from_flag and name == _FLAG_FRACTION_FIELD:
                shown = "--per_process_gpu_memory_fraction"
            warnings.append(f"{shown} has no effect: {gpu_reason}")
    gpu_count = config.device_count.get("GPU", 0)
    if gpu_count and not runtime.gpu_visible:
        warnings.append(f'device_count {{ key: "GPU" value: {gpu_count} }} has no effect: {NO_GPU}')
    if config.intra_op_parallelism_threads and runtime.eager_started:
        warnings.append(f"intra_op_parallelism_threads has no effect: {EAGER_STARTED}")
    return warnings


def probe_runtime() -> RuntimeState:
    """Whether a GPU is visible and whether TensorFlow's eager runtime has started.

    Neither check starts the runtime: listing physical devices does not create them.
    """
    import tensorflow as tf

    # Read before importing tensorflow.python: it runs the package's __init__ first when
    # that was deferred (servables.deferred_tensorflow).
    config = tf.config
    from tensorflow.python.eager import context

    # Private, but the only way to tell; an older or newer TF without it reads as "not
    # started", which at worst leaves out a warning.
    started = bool(getattr(context.context(), "_initialized", False))
    return RuntimeState(
        gpu_visible=bool(config.list_physical_devices("GPU")), eager_started=started
    )
