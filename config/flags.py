"""The command line: tensorflow_model_server's flags, parsed into a frozen ``ServerOptions``.

Flag names, meanings and defaults are TF Serving's, so existing start-up scripts work.
Both ``--flag=value`` and ``--flag value`` are accepted; a boolean flag may be given bare
(``--enable_batching``) or with ``=true`` / ``=false``. Flags are never abbreviated. An
unknown argument is reported ("unknown argument: X", a start-up warning) and the server
keeps running, as TF Serving's ``main.cc`` does; a malformed value of a known flag ends
the process with argparse's message and exit status 2. ``--help`` lists every flag with
its default; ``--version`` prints the versions and exits 0 (``main.cc``'s
``display_version``).

Where we differ from TF Serving, the help text says so:

- ``--port`` / ``--rest_api_port``: 0 binds an ephemeral port (tests read it back from
  ``--port_file``); -1 disables that frontend. TF Serving uses 0 to disable REST.
- ``--rest_api_port`` defaults to 8501 (the port TF Serving's Docker image passes;
  the binary's own default is 0, i.e. off).
- ``--load_retry_interval_micros`` defaults to 1 s; TF Serving waits 60 s.
- ``--config`` is an alias of ``--model_config_file``.
- Our own flags: ``--port_file``, ``--executor_threads``, ``--inline_call_threshold_micros``,
  ``--max_image_pixels``, ``--workers``, ``--model_load_timeout_micros``, ``--aspired_version_policy``,
  ``--drain_seconds``, ``--grace_seconds``, the ``--auth_*`` flags,
  ``--rest_ssl_config_file``, and the limits ``--grpc_max_message_bytes``,
  ``--rest_max_body_bytes``, ``--max_request_tensor_bytes``, ``--rest_idle_timeout_seconds``,
  ``--rest_max_connections``, ``--malloc_trim_threshold_bytes``.
- ``--batching_cost_model`` (ours, on by default) lets a batch close before TF Serving's
  ``batch_timeout_micros`` (``actors.batching_policy``); ``=false`` keeps TF Serving's rule.
- A handful of TF Serving flags for features this server does not have (TFLite, TPU,
  profiler, ...) are accepted so that scripts keep working, and have no effect;
  ``ServerOptions.ignored_flags`` names those that were given. ``--rest_api_num_threads``
  and ``--grpc_max_threads`` are parsed and checked but have no effect either.
  ``ignored_flag_warnings`` gives one warning for each such flag that was given, which
  ``config.server_config`` puts among the start-up warnings.

Each flag is declared once, as a ``ServerOptions`` field annotated with a ``Flag`` that
carries its value parser, help text and ``--help`` group beside the field's default;
``build_parser`` generates the argparse parser from those fields, in field order.

``parse_flags`` checks each flag on its own. ``--model_name`` and ``--model_base_path``
given beside ``--model_config_file`` are ignored with a warning, as TF Serving ignores
them ("If used, --model_name, --model_base_path are ignored"). That some model source is
given is checked separately by ``require_model_source``, because the server may fall back
to a bundled example model.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib.metadata
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from config.errors import COMMAND_LINE, ConfigError

DISABLED_PORT = -1


class AspiredVersionPolicy(enum.StrEnum):
    """How the manager moves a model from one set of versions to the next."""

    # Load the new version before unloading the old one: no gap in service (TF Serving's
    # default), at the cost of holding both versions in memory for a while.
    AVAILABILITY_PRESERVING = "availability_preserving"
    # Unload the old version first: never two versions in memory, a short gap in service.
    RESOURCE_PRESERVING = "resource_preserving"


# --- value parsers (argparse turns their ValueError/ArgumentTypeError into exit 2) ---


def parse_bool(text: str) -> bool:
    """``true``/``false`` (and ``1``/``0``), case-insensitive, as TF Serving's flags accept."""
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_non_negative = _int_at_least(0)


def _port(text: str) -> int:
    value = _int_at_least(DISABLED_PORT)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"port must be at most 65535, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _log_format(text: str) -> str:
    if text not in ("text", "json"):
        raise argparse.ArgumentTypeError(f"expected text or json, got {text!r}")
    return text


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    return value


def _optional_path(text: str) -> Path | None:
    """A file flag; the empty string means unset, as in TF Serving."""
    return Path(text) if text else None


def _optional_text(text: str) -> str | None:
    """A path or URL flag; the empty string means unset, as in TF Serving."""
    return text or None


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _path_list(text: str) -> tuple[Path, ...]:
    return tuple(Path(item) for item in _comma_list(text))


def _channel_arguments(text: str) -> tuple[tuple[str, int | str], ...]:
    """``key=value,...``; a value that reads as an integer is passed as one (as TF Serving)."""
    arguments: list[tuple[str, int | str]] = []
    for item in _comma_list(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"expected key=value, got {item!r}")
        try:
            arguments.append((key.strip(), int(value)))
        except ValueError:
            arguments.append((key.strip(), value.strip()))
    return tuple(arguments)


def _policy(text: str) -> AspiredVersionPolicy:
    try:
        return AspiredVersionPolicy(text)
    except ValueError:
        choices = ", ".join(policy.value for policy in AspiredVersionPolicy)
        raise argparse.ArgumentTypeError(f"expected one of {choices}, got {text!r}") from None


REST_FLOAT_FORMATS = ("tf_serving", "shortest")
"""``--rest_float_format`` values (``protocol.rest_codec.FloatFormat``; config imports no
protocol module)."""


def _float_format(text: str) -> str:
    if text not in REST_FLOAT_FORMATS:
        choices = ", ".join(REST_FLOAT_FORMATS)
        raise argparse.ArgumentTypeError(f"expected one of {choices}, got {text!r}")
    return text


_METAVARS: dict[Callable[[str], Any], str] = {
    _port: "PORT",
    _optional_path: "PATH",
    _path_list: "PATH,...",
    _comma_list: "TAG,...",
    _channel_arguments: "KEY=VALUE,...",
    _fraction: "FRACTION",
    _seconds: "SECONDS",
    str: "NAME",
}

# --help groups, in the order they are listed.
FRONTENDS = "frontends"
MODELS = "models and versions"
LOADING = "loading"
RUNTIME = "TensorFlow runtime and inference"
BATCHING = "batching"
MONITORING = "monitoring"
SECURITY = "authentication and TLS"
SHUTDOWN = "shutdown"
IGNORED = "accepted for compatibility with tensorflow_model_server; no effect"
_GROUPS = (FRONTENDS, SECURITY, MODELS, LOADING, RUNTIME, BATCHING, MONITORING, SHUTDOWN)


@dataclass(frozen=True, slots=True)
class Flag:
    """How one ``ServerOptions`` field is read from the command line.

    It annotates the field (``port: Annotated[int, Flag(...)] = 8500``), so the default,
    the value parser and the help text are written once, side by side.
    """

    parse: Callable[[str], Any]
    """Text to value; raises ``argparse.ArgumentTypeError`` (exit 2) on a bad value.
    ``parse_bool`` makes a boolean flag, which may be given bare (meaning true)."""
    help: str
    group: str
    """The ``--help`` section."""
    aliases: tuple[str, ...] = ()
    """Further spellings, e.g. ``--config`` for ``--model_config_file``."""
    metavar: str | None = None
    no_effect: str | None = None
    """Accepted and checked but ignored here: the reason, for the start-up warning."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions:
    """Every command-line setting; field names are the flag names. See ``--help``."""

    # Frontends.
    port: Annotated[
        int,
        Flag(
            _port,
            "TCP port for the gRPC API. 0 binds an ephemeral port (see --port_file); -1 disables gRPC.",
            group=FRONTENDS,
        ),
    ] = 8500
    grpc_socket_path: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "If set, also serve gRPC on this UNIX domain socket.",
            group=FRONTENDS,
        ),
    ] = None
    rest_api_port: Annotated[
        int,
        Flag(
            _port,
            "TCP port for the HTTP/REST API. 0 binds an ephemeral port (see --port_file); -1 "
            "disables REST. (TF Serving uses 0 to disable REST.) Must differ from --port.",
            group=FRONTENDS,
        ),
    ] = 8501
    rest_api_num_threads: Annotated[
        int,
        Flag(
            _non_negative,
            "No effect (a warning at start-up): the asyncio REST frontend uses no thread pool.",
            group=FRONTENDS,
            no_effect="the asyncio REST frontend uses no thread pool",
        ),
    ] = 0
    rest_api_timeout_in_ms: Annotated[
        int,
        Flag(
            _non_negative,
            "Timeout for one REST request, in milliseconds.",
            group=FRONTENDS,
        ),
    ] = 30_000
    max_image_pixels: Annotated[
        int,
        Flag(
            _int_at_least(1),
            "Largest image (width x height) the REST port decodes for an image input "
            '(multipart uploads and {"b64": ...} values fed to a numeric input); larger ones are '
            "a 400. Our own flag.",
            group=FRONTENDS,
        ),
    ] = 16_777_216
    rest_api_enable_cors_support: Annotated[
        bool,
        Flag(
            parse_bool,
            "Add CORS headers to REST responses. CORS preflights (OPTIONS) are answered "
            "with or without it, as in TF Serving.",
            group=FRONTENDS,
        ),
    ] = False
    grpc_max_threads: Annotated[
        int,
        Flag(
            _non_negative,
            "No effect (a warning at start-up): the asyncio gRPC server uses no thread pool "
            "for requests.",
            group=FRONTENDS,
            no_effect="the asyncio gRPC server uses no thread pool for requests",
        ),
    ] = 0
    grpc_channel_arguments: Annotated[
        tuple[tuple[str, int | str], ...],
        Flag(
            _channel_arguments,
            "Comma-separated gRPC server arguments, e.g. grpc.max_connection_age_ms=2000.",
            group=FRONTENDS,
        ),
    ] = ()
    grpc_max_message_bytes: Annotated[
        int,
        Flag(
            _int_at_least(1),
            "(aioserving) Largest gRPC message received or sent, in bytes. The default is TF "
            "Serving's (2 GiB - 1); a grpc.max_receive_message_length in "
            "--grpc_channel_arguments overrides it.",
            group=FRONTENDS,
        ),
    ] = 2**31 - 1
    rest_max_body_bytes: Annotated[
        int,
        Flag(
            _int_at_least(1),
            "(aioserving) Largest REST request body, in bytes, after decompressing a "
            "Content-Encoding: gzip or deflate body. Larger bodies are answered 413.",
            group=FRONTENDS,
        ),
    ] = 64 * 1024**2
    rest_float_format: Annotated[
        str,
        Flag(
            _float_format,
            "(aioserving) How REST responses write floats: tf_serving writes TF Serving's "
            "text (6 significant digits when they read back as the same value, else 9 for "
            "float32 and 17 for float64: 9e+06, 2.00000024); shortest writes the shortest "
            "text that reads back as the same value (9000000.0, 2.0000002), about 1 us less "
            "per float (e.g. 0.9 ms less for a 100 x 10 float32 response).",
            group=FRONTENDS,
            metavar="{" + ",".join(REST_FLOAT_FORMATS) + "}",
        ),
    ] = "tf_serving"
    max_request_tensor_bytes: Annotated[
        int,
        Flag(
            _int_at_least(1),
            "(aioserving) Largest total size of one request's input tensors (elements x item "
            "size, summed over the inputs), in bytes, checked before they are allocated. "
            "Larger requests are answered INVALID_ARGUMENT (400).",
            group=FRONTENDS,
        ),
    ] = 1024**3
    rest_idle_timeout_seconds: Annotated[
        float,
        Flag(
            _positive_seconds,
            "(aioserving) A REST connection with no request in progress for this long is "
            "closed (idle keep-alive, or headers not sent in full), and a request body must "
            "arrive in full within this long (else 408).",
            group=FRONTENDS,
        ),
    ] = 60.0
    rest_max_connections: Annotated[
        int,
        Flag(
            _int_at_least(-1),
            "(aioserving) Most REST connections open at once; further ones are closed on "
            "accept. -1: derived from the open-file limit (an equal share per API of what "
            "it leaves after a reserve, logged at start-up), so that REST can never take "
            "the descriptors gRPC needs; 0: no limit.",
            group=FRONTENDS,
        ),
    ] = -1
    malloc_trim_threshold_bytes: Annotated[
        int,
        Flag(
            _non_negative,
            "(aioserving) After a request of at least this many bytes (a REST body, "
            "decompressed, or a serialized gRPC request), hand freed memory back to the OS "
            "with glibc's malloc_trim, in a worker thread. 0: never. No effect without glibc.",
            group=FRONTENDS,
        ),
    ] = 32 * 1024**2
    ssl_config_file: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "If set, serve gRPC over TLS as the SSLConfig text file says.",
            group=FRONTENDS,
        ),
    ] = None
    rest_ssl_config_file: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "(aioserving) If set, serve REST over TLS (HTTPS) as this SSLConfig text file says "
            "(the format of --ssl_config_file; client_verify: true requires client "
            "certificates signed by custom_ca). May name the same file as --ssl_config_file.",
            group=SECURITY,
        ),
    ] = None
    auth_basic_users_file: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "(aioserving) Require HTTP basic credentials on both APIs: one 'user:hash' line "
            "per user, hash bcrypt ($2b$...) or sha256:<64 hex digits>; # starts a comment.",
            group=SECURITY,
        ),
    ] = None
    auth_bearer_tokens_file: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "(aioserving) Accept 'Authorization: Bearer TOKEN' on both APIs: one token per "
            "line (at least 16 characters); # starts a comment.",
            group=SECURITY,
        ),
    ] = None
    auth_protect_health: Annotated[
        bool,
        Flag(
            parse_bool,
            "(aioserving) With authentication on, health checks need credentials too.",
            group=SECURITY,
        ),
    ] = False
    auth_open_metrics: Annotated[
        bool,
        Flag(
            parse_bool,
            "(aioserving) With authentication on, serve /metrics without credentials.",
            group=SECURITY,
        ),
    ] = False
    port_file: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "(aioserving) Once listening, write the bound ports to this file as JSON, e.g. "
            '{"grpc": 8500, "rest": 8501}; a disabled frontend\'s port is null.',
            group=FRONTENDS,
        ),
    ] = None
    # Models and versions.
    model_config_file: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "ModelServerConfig text file listing the models to serve. Relative base paths "
            "in it are resolved against the file's directory. Excludes --model_base_path.",
            group=MODELS,
            aliases=("--config",),
        ),
    ] = None
    model_repository: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "(aioserving) A Triton model repository to serve: each sub-folder with a "
            "config.pbtxt (or a version folder holding model.onnx, model.savedmodel, "
            "model.pt, model.pt2 or model.py) is a model. Alone or beside "
            "--model_config_file / --model_base_path.",
            group=MODELS,
        ),
    ] = None
    model_config_file_poll_wait_seconds: Annotated[
        int,
        Flag(
            int,
            "Seconds between re-reads of --model_config_file; 0 reads it once at start-up.",
            group=MODELS,
        ),
    ] = 0
    model_name: Annotated[
        str,
        Flag(
            str,
            "Name of the single model served from --model_base_path.",
            group=MODELS,
        ),
    ] = "default"
    model_base_path: Annotated[
        str | None,
        Flag(
            _optional_text,
            "Directory (or s3://bucket/prefix) of the single model to serve; numbered "
            "sub-directories are its versions. Excludes --model_config_file.",
            group=MODELS,
        ),
    ] = None
    model_platform: Annotated[
        str,
        Flag(
            str,
            "Platform of the single model served from --model_base_path: tensorflow, onnx, "
            "sklearn, xgboost, pytorch, python, lightgbm or catboost (models.config sets "
            "model_platform per model). Empty: told from the files (saved_model.pb is "
            "tensorflow, model.onnx onnx, model.joblib or model.pkl sklearn, model.ubj, "
            "model.json or model.bst xgboost, model.pt or model.pt2 pytorch, model.py python, "
            "model.txt lightgbm, model.cbm catboost), tensorflow while there are none yet.",
            group=MODELS,
        ),
    ] = ""
    file_system_poll_wait_seconds: Annotated[
        int,
        Flag(
            int,
            "Seconds between scans of the base paths for new versions; 0 scans once a "
            "second only until every version folder found is complete, then stops; a "
            "negative value scans once, at start-up.",
            group=MODELS,
        ),
    ] = 1
    model_cache_dir: Annotated[
        str,
        Flag(
            str,
            "(aioserving) Folder under which versions of s3:// base paths are downloaded "
            "before loading (a private sub-folder per server, removed at stop); empty means "
            "the system temporary folder.",
            group=MODELS,
        ),
    ] = ""
    allow_version_labels_for_unavailable_models: Annotated[
        bool,
        Flag(
            parse_bool,
            "Allow assigning a version label to a version that is not loaded yet.",
            group=MODELS,
        ),
    ] = False
    aspired_version_policy: Annotated[
        AspiredVersionPolicy,
        Flag(
            _policy,
            "(aioserving) How versions are replaced: availability_preserving loads the new "
            "version before unloading the old one (TF Serving's behaviour); "
            "resource_preserving unloads first.",
            group=MODELS,
            metavar="{" + ",".join(p.value for p in AspiredVersionPolicy) + "}",
        ),
    ] = AspiredVersionPolicy.AVAILABILITY_PRESERVING
    # Loading.
    saved_model_tags: Annotated[
        tuple[str, ...],
        Flag(
            _comma_list,
            "Comma-separated tags of the SavedModel meta graph to load.",
            group=LOADING,
        ),
    ] = ("serve",)
    exit_on_load_failure: Annotated[
        bool,
        Flag(
            parse_bool,
            "(aioserving) Exit non-zero at start-up when a configured model's version fails "
            'to load ("N servable(s) did not become available", as TF Serving does); '
            "false keeps serving the other models, reports the failed one's error in its "
            "status and stays unready. A version failing after start-up never stops the "
            "server.",
            group=LOADING,
        ),
    ] = True
    max_num_load_retries: Annotated[
        int,
        Flag(
            _non_negative,
            "Times a failed model load is retried.",
            group=LOADING,
        ),
    ] = 5
    load_retry_interval_micros: Annotated[
        int,
        Flag(
            _non_negative,
            "Microseconds between load retries. (TF Serving's default is 60 s.)",
            group=LOADING,
        ),
    ] = 1_000_000
    model_load_timeout_micros: Annotated[
        int,
        Flag(
            _non_negative,
            "(aioserving) A load that takes longer, in microseconds, fails; 0 means no limit.",
            group=LOADING,
        ),
    ] = 0
    num_load_threads: Annotated[
        int,
        Flag(
            _non_negative,
            "Threads that load models, off the event loop; 0 means one, so versions load "
            "one at a time, as TF Serving's 0 does.",
            group=LOADING,
        ),
    ] = 0
    num_unload_threads: Annotated[
        int,
        Flag(
            _non_negative,
            "Threads that unload models, off the event loop; 0 means one, so versions "
            "unload one at a time, as TF Serving's 0 does.",
            group=LOADING,
        ),
    ] = 0
    enable_model_warmup: Annotated[
        bool,
        Flag(
            parse_bool,
            "Replay assets.extra/tf_serving_warmup_requests before a version is made available.",
            group=LOADING,
        ),
    ] = True
    num_request_iterations_for_warmup: Annotated[
        int,
        Flag(
            _int_at_least(1),
            "Times each warmup request is replayed.",
            group=LOADING,
        ),
    ] = 1
    custom_op_paths: Annotated[
        tuple[Path, ...],
        Flag(
            _path_list,
            "Comma-separated custom op libraries to load before any model.",
            group=LOADING,
        ),
    ] = ()
    platform_config_file: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "PlatformConfigMap text file; its session config, batching parameters, "
            "saved_model_tags and warmup settings replace the matching flags (ignored, with a "
            "warning); fields that do not map to this server are refused.",
            group=LOADING,
        ),
    ] = None
    # TensorFlow runtime and inference.
    tensorflow_intra_op_parallelism: Annotated[
        int,
        Flag(
            _non_negative,
            "Threads that run one op in parallel; 0 lets TensorFlow choose.",
            group=RUNTIME,
        ),
    ] = 0
    tensorflow_inter_op_parallelism: Annotated[
        int,
        Flag(
            _non_negative,
            "Threads that run independent ops in parallel; 0 lets TensorFlow choose.",
            group=RUNTIME,
        ),
    ] = 0
    tensorflow_session_parallelism: Annotated[
        int,
        Flag(
            _non_negative,
            "Sets both of the above when they are 0; 0 lets TensorFlow choose.",
            group=RUNTIME,
        ),
    ] = 0
    onnx_intra_op_threads: Annotated[
        int,
        Flag(
            _non_negative,
            "Threads onnxruntime uses inside one op, per ONNX model version; 0 takes "
            "--tensorflow_intra_op_parallelism (or --tensorflow_session_parallelism), and "
            "when those are 0 too, lets onnxruntime choose.",
            group=RUNTIME,
        ),
    ] = 0
    onnx_inter_op_threads: Annotated[
        int,
        Flag(
            _non_negative,
            "Threads onnxruntime uses to run independent ops, per ONNX model version; 0 takes "
            "--tensorflow_inter_op_parallelism (or --tensorflow_session_parallelism), and "
            "when those are 0 too, lets onnxruntime choose.",
            group=RUNTIME,
        ),
    ] = 0
    tensorflow_session_config_file: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "ConfigProto text file for TensorFlow; the parallelism flags above override its "
            "thread settings.",
            group=RUNTIME,
        ),
    ] = None
    per_process_gpu_memory_fraction: Annotated[
        float,
        Flag(
            _fraction,
            "Fraction of each GPU's memory TensorFlow may use; 0 lets TensorFlow choose.",
            group=RUNTIME,
        ),
    ] = 0.0
    enable_signature_method_name_check: Annotated[
        bool,
        Flag(
            parse_bool,
            "Reject Classify/Regress/Predict calls on a signature whose method_name does not match.",
            group=RUNTIME,
        ),
    ] = False
    executor_threads: Annotated[
        int,
        Flag(
            _int_at_least(1),
            "(aioserving) Inference calls run at the same time. TensorFlow spreads each call "
            "over its own threads, so a few suffice to keep a device busy while other "
            "requests are converted.",
            group=RUNTIME,
        ),
    ] = 4
    inline_call_threshold_micros: Annotated[
        int,
        Flag(
            _int_at_least(0),
            "(aioserving) A signature whose measured call time stays under this many "
            "microseconds runs on the event loop itself, skipping the thread hop (about "
            "50-80 us here); one that turns slower moves back to the executor at once. A "
            "signature whose executor calls use less CPU than this but take longer (under "
            "load they wait for the GIL) is tried on the loop once a second at most, and "
            "stays there if that call is fast. 0 runs every call on the executor.",
            group=RUNTIME,
        ),
    ] = 40
    workers: Annotated[
        int,
        Flag(
            _int_at_least(1),
            "(aioserving) Server processes sharing the gRPC and REST ports (SO_REUSEPORT), "
            "each with its own models and event loop, under one parent that restarts a "
            "worker that dies and forwards SIGTERM. /metrics and HandleReloadConfigRequest "
            "on any worker cover all of them. Each worker's TensorFlow, OpenMP and BLAS thread "
            "pools get max(1, CPUs / N) threads unless flags, files or the environment size "
            "them. 1 runs the server in this process, with no parent. Excludes "
            "--grpc_socket_path.",
            group=RUNTIME,
        ),
    ] = 1
    worker_cpu_affinity: Annotated[
        bool,
        Flag(
            parse_bool,
            "(aioserving) With --workers N > 1, pin each worker (every thread of it) to its own "
            "slice of the CPUs the server may run on: CPUs / N each, or one each in turn when "
            "N exceeds them. A worker's threads then share one core's caches and never crowd "
            "another worker's core. Helps where the server has the cores to itself; hurts "
            "where other programs load some of them. No effect with --workers 1.",
            group=RUNTIME,
        ),
    ] = False
    # Batching.
    enable_batching: Annotated[
        bool,
        Flag(
            parse_bool,
            "Batch concurrent inference requests together.",
            group=BATCHING,
        ),
    ] = False
    batching_parameters_file: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "BatchingParameters text file; unset fields take TF Serving's defaults.",
            group=BATCHING,
        ),
    ] = None
    enable_per_model_batching_parameters: Annotated[
        bool,
        Flag(
            parse_bool,
            "Read each model's batching parameters from assets.extra/batching_params.pbtxt in "
            "its SavedModel.",
            group=BATCHING,
        ),
    ] = False
    batching_cost_model: Annotated[
        bool,
        Flag(
            parse_bool,
            "(aioserving) Close batches early by a cost model, where batch_timeout_micros "
            "(a Triton model's max_queue_delay_microseconds) is above 0: a request that "
            "finds its model idle (none of its batches running or waiting, its last batch "
            "a lone request) runs at once instead of waiting for the timeout, and under "
            "load a batch waits only while one more "
            "request would still let it finish, by the signature's measured cost line "
            "(a * rows + b), within batch_timeout_micros of its first request. Never "
            "later or larger than TF Serving's parameters allow. false: TF Serving's "
            "fixed timeout.",
            group=BATCHING,
        ),
    ] = True
    # Monitoring.
    access_log_sample_rate: Annotated[
        float,
        Flag(
            _fraction,
            "(aioserving) Share of requests written to the access log (model, version, API, "
            "method, status, latency, peer), 0 to 1; 0 turns it off.",
            group=MONITORING,
        ),
    ] = 0.0
    log_format: Annotated[
        str,
        Flag(
            _log_format,
            "(aioserving) text, or json: every log line one JSON object.",
            group=MONITORING,
        ),
    ] = "text"
    verbose: Annotated[
        bool,
        Flag(
            parse_bool,
            "(aioserving) Let TensorFlow's start-up notices and deprecation warnings through "
            "(oneDNN, CUDA probing, TF1 loader warnings); quiet by default.",
            group=MONITORING,
        ),
    ] = False
    monitoring_config_file: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "MonitoringConfig text file, e.g. to export Prometheus metrics on the REST port.",
            group=MONITORING,
        ),
    ] = None
    # Request logging (a model's logging_config) and shadow versions.
    request_log_queue_records: Annotated[
        int,
        Flag(
            _int_at_least(1),
            "(aioserving) Sampled request-log records waiting to be written; beyond this "
            "they are dropped and counted, never waited for.",
            group=MONITORING,
        ),
    ] = 10_000
    request_log_max_file_bytes: Annotated[
        int,
        Flag(
            _int_at_least(1),
            "(aioserving) A request-log file is closed and the next one opened before a "
            "record would take it past this size.",
            group=MONITORING,
        ),
    ] = 128 * 1024 * 1024
    shadow_config_file: Annotated[
        Path | None,
        Flag(
            _optional_path,
            "(aioserving) Shadow rules, one per line: 'model primary shadow sampling_rate', "
            "e.g. 'resnet * canary 0.05' mirrors one in twenty of resnet's requests to the version "
            "labelled canary after replying, to compare their answers.",
            group=MONITORING,
        ),
    ] = None
    shadow_max_in_flight: Annotated[
        int,
        Flag(
            _int_at_least(1),
            "(aioserving) Shadow runs at a time; a sampled shadow beyond this is dropped.",
            group=MONITORING,
        ),
    ] = 8
    # Shutdown.
    drain_seconds: Annotated[
        float,
        Flag(
            _seconds,
            "(aioserving) On SIGTERM, report not ready at once and keep serving this long "
            "so that load balancers notice, then stop accepting.",
            group=SHUTDOWN,
        ),
    ] = 5.0
    grace_seconds: Annotated[
        float,
        Flag(
            _seconds,
            "(aioserving) After the drain, requests in flight get this long to finish before "
            "they are cancelled; then every version is unloaded. A second SIGTERM or SIGINT "
            "exits at once.",
            group=SHUTDOWN,
        ),
    ] = 10.0
    # Not a flag: the names in IGNORED_TF_SERVING_FLAGS that were given, in that order.
    ignored_flags: tuple[str, ...] = ()
    # Not a flag: warnings about the command line itself (unknown arguments, model flags
    # that --model_config_file overrides), in the order found.
    command_line_warnings: tuple[str, ...] = ()

    @property
    def model_config_path(self) -> Path | None:
        """``--model_config_file`` (alias ``--config``)."""
        return self.model_config_file

    @property
    def grpc_enabled(self) -> bool:
        return self.port != DISABLED_PORT

    @property
    def rest_enabled(self) -> bool:
        return self.rest_api_port != DISABLED_PORT


# TF Serving flags for features we do not have; accepted with any value, no effect.
IGNORED_TF_SERVING_FLAGS: tuple[str, ...] = (
    "enable_profiler",
    "enable_grpc_healthcheck_service",
    "flush_filesystem_caches",
    "mixed_precision",
    "num_tflite_interpreters_per_pool",
    "num_tflite_pools",
    "prefer_tflite_model",
    "remove_unused_fields_from_bundle_metagraph",
    "skip_initialize_tpu",
    "thread_pool_factory_config_file",
    "use_alts_credentials",
    "xla_cpu_compilation_enabled",
)
_IGNORED_PREFIX = "ignored__"
_DEFAULTS = ServerOptions()


_BOTH_SOURCES_MESSAGE = (
    "--model_config_file and --model_base_path are mutually exclusive: "
    "list the model in the config file instead"
)


def parse_flags(argv: Sequence[str]) -> ServerOptions:
    """Parse ``argv`` (without the program name). Exits with status 2 on a bad flag value.

    Unknown arguments and model flags that ``--model_config_file`` overrides become
    ``command_line_warnings`` (see the module docstring).
    """
    parser = build_parser()
    namespace, unknown = parser.parse_known_args(list(argv))
    values = vars(namespace)
    ignored = tuple(
        name for name in IGNORED_TF_SERVING_FLAGS if values.pop(_IGNORED_PREFIX + name) is not None
    )
    warnings = [f"unknown argument: {argument}" for argument in unknown]
    if values["model_config_file"] is not None:
        for name in ("model_name", "model_base_path"):
            if values[name] != getattr(_DEFAULTS, name):
                warnings.append(f"--{name} is ignored because --model_config_file is set")
                values[name] = getattr(_DEFAULTS, name)
    options = ServerOptions(**values, ignored_flags=ignored, command_line_warnings=tuple(warnings))
    if options.port == options.rest_api_port and options.port > 0:
        parser.error(f"--port and --rest_api_port must differ, both are {options.port}")
    if options.workers > 1 and options.grpc_socket_path is not None:
        parser.error("--grpc_socket_path serves one process: it cannot be used with --workers > 1")
    return options


def require_model_source(options: ServerOptions) -> None:
    """``ConfigError`` unless one of the config file and the base path, or a repository, is given."""
    has_file = options.model_config_file is not None
    has_path = options.model_base_path is not None
    if has_file and has_path:
        raise ConfigError(COMMAND_LINE, _BOTH_SOURCES_MESSAGE)
    if not has_file and not has_path and options.model_repository is None:
        raise ConfigError(
            COMMAND_LINE,
            "either --model_config_file, --model_base_path or --model_repository is required",
        )


def ignored_flag_warnings(options: ServerOptions) -> list[str]:
    """One warning per flag that was given and has no effect here, in ``--help`` order.

    A checked flag with no effect counts as given when it is not at its default.
    """
    warnings = [
        f"--{name} has no effect in aioserving: {spec.no_effect}"
        for name, spec in flags().items()
        if spec.no_effect is not None and getattr(options, name) != getattr(_DEFAULTS, name)
    ]
    warnings += [
        f"--{name} has no effect in aioserving (accepted for compatibility with "
        "tensorflow_model_server)"
        for name in options.ignored_flags
    ]
    return list(options.command_line_warnings) + warnings


def flags() -> dict[str, Flag]:
    """Each flag's field name and ``Flag``, in declaration order."""
    hints = typing.get_type_hints(ServerOptions, include_extras=True)
    found: dict[str, Flag] = {}
    for field in dataclasses.fields(ServerOptions):
        specs = [
            extra
            for extra in getattr(hints[field.name], "__metadata__", ())
            if isinstance(extra, Flag)
        ]
        if specs:
            found[field.name] = specs[0]
    return found


def build_parser() -> argparse.ArgumentParser:
    """The argument parser behind ``parse_flags`` (for ``--help`` and tests)."""
    parser = argparse.ArgumentParser(
        prog="aioserving",
        usage="%(prog)s [--flag=value ...]  (--help lists every flag)",
        description="An asyncio drop-in replacement for TensorFlow Serving's "
        "tensorflow_model_server.",
        allow_abbrev=False,
        formatter_class=_HelpFormatter,
    )
    groups = {title: parser.add_argument_group(title) for title in _GROUPS}
    for name, spec in flags().items():
        default = getattr(_DEFAULTS, name)
        extra: dict[str, Any] = {}
        metavar = spec.metavar or _METAVARS.get(spec.parse, "N" if type(default) is int else None)
        if spec.parse is parse_bool:
            extra = {"nargs": "?", "const": True}
            metavar = "true|false"
        groups[spec.group].add_argument(
            f"--{name}",
            *spec.aliases,
            dest=name,
            type=spec.parse,
            default=default,
            help=spec.help,
            metavar=metavar,
            **extra,
        )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="Print the server's and TensorFlow's versions and exit.",
    )
    ignored = parser.add_argument_group(IGNORED)
    for name in IGNORED_TF_SERVING_FLAGS:
        ignored.add_argument(
            f"--{name}",
            dest=_IGNORED_PREFIX + name,
            nargs="?",
            const="true",
            default=None,
            metavar="VALUE",
            help="no effect (a warning at start-up)",
        )
    return parser


def version_text() -> str:
    """What ``--version`` prints: ``main.cc``'s two lines, with this server's version.

    Read from the installed distributions' metadata, so TensorFlow is not imported.
    """
    return (
        f"TensorFlow ModelServer: aioserving {_distribution_version('aioserving')}\n"
        "TensorFlow Library: "
        f"{_distribution_version('tensorflow', 'tensorflow-cpu', 'tf-nightly')}\n"
    )


def _distribution_version(*names: str) -> str:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


class _VersionAction(argparse.Action):
    """``--version`` (bare, or ``=true``): print ``version_text()`` and exit 0."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.update(nargs="?", const="true", default=None, metavar="true|false")
        super().__init__(option_strings, dest=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        try:
            wanted = parse_bool(str(values))
        except argparse.ArgumentTypeError as error:
            parser.error(f"argument --version: {error}")
        if wanted:
            sys.stdout.write(version_text())
            parser.exit(0)


class _HelpFormatter(argparse.HelpFormatter):
    """Appends each flag's default, written the way it is typed on the command line."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        if action.help is None or default is None or default is argparse.SUPPRESS:
            return action.help
        if isinstance(default, bool):
            shown = str(default).lower()
        elif isinstance(default, tuple):
            shown = ",".join(str(item) for item in default) or '""'
        else:
            shown = str(default)
        return f"{action.help} (default: {shown})"
