"""The whole server configuration, read and validated before TensorFlow is imported.

``load_server_config(options)`` reads every file the flags name, in this order:
``--model_config_file`` (or ``--model_name``/``--model_base_path``), ``--model_repository``,
``--platform_config_file``, ``--batching_parameters_file``, ``--monitoring_config_file``,
``--ssl_config_file``, ``--rest_ssl_config_file``, ``--auth_basic_users_file``,
``--auth_bearer_tokens_file``, ``--tensorflow_session_config_file``,
``--shadow_config_file``, checks ``--custom_op_paths``, and derives the connection caps
from the open-file limit (``config.connection_limits``). It returns one frozen ``ServerConfig`` or raises the first
``ConfigError`` (file, line, field), so a malformed file stops the server before the
seconds TensorFlow takes to import. Nothing here imports TensorFlow; a unit test checks
that in a fresh interpreter.

Resolution, as TF Serving does it:

- ``--platform_config_file``, when given, replaces the TensorFlow session flags, the
  batching flags, ``--saved_model_tags`` and the warmup flags: batching is on exactly
  when it has ``batching_parameters``, warmup only when it says ``enable_model_warmup``.
  Each replaced flag that was given is a warning.
- Otherwise batching is on with ``--enable_batching``: the parameters come from
  ``--batching_parameters_file`` or are TF Serving's defaults. A parameters file
  without ``--enable_batching`` is refused, as TF Serving's ``server.cc`` refuses it.
- ``--tensorflow_session_parallelism`` together with both
  ``--tensorflow_intra_op_parallelism`` and ``--tensorflow_inter_op_parallelism`` is
  refused (``server.cc``: "You cannot configure all.").
- ``session_config`` is a serialized ``tensorflow.ConfigProto`` (see
  ``config.tensorflow_options``): bytes keep this value immutable and free of
  TensorFlow. ``servables.tensorflow.session_options.tensorflow_session_config`` turns
  it into TensorFlow's class, with the warnings that need TensorFlow's runtime state.

``warnings`` holds every start-up warning that needs no TensorFlow, each once: flags
accepted for compatibility that have no effect, flags the platform config replaced,
platform config fields without effect, session config fields only distributed sessions
read, and custom op directories without libraries. The caller logs them; this module
logs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.auth_config import AuthSettings, load_auth_settings
from config.batching_config import (
    BatchingSettings,
    default_batching_settings,
    load_batching_parameters,
)
from config.connection_limits import ConnectionCaps, connection_caps, current_descriptor_limit
from config.errors import COMMAND_LINE, ConfigError
from config.flags import ServerOptions, ignored_flag_warnings, require_model_source
from config.model_config import ModelServerSettings, load_model_config, single_model_config
from config.model_repository import load_model_repository, merge_model_lists
from config.monitoring_config import MonitoringSettings, load_monitoring_config
from config.platform_config import load_platform_config
from config.shadow_config import ShadowRule, load_shadow_config
from config.ssl_config import SslSettings, load_ssl_config
from config.tensorflow_options import resolve_tensorflow_settings


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Everything the server needs to start, resolved; see the module docstring."""

    options: ServerOptions
    """The command line as given."""
    models: ModelServerSettings
    """The models to serve at start-up."""
    batching: BatchingSettings | None
    """Server-wide batching; ``None``: off."""
    per_model_batching: bool
    """Read each version's ``assets.extra/batching_params.pbtxt``."""
    saved_model_tags: tuple[str, ...]
    enable_model_warmup: bool
    num_request_iterations_for_warmup: int
    monitoring: MonitoringSettings
    ssl: SslSettings | None
    """TLS for the gRPC port; ``None``: plaintext."""
    rest_ssl: SslSettings | None
    """TLS for the REST port; ``None``: plain HTTP."""
    auth: AuthSettings
    """Who may call the APIs; ``auth.enabled`` is false without credential files."""
    session_config: bytes
    """Serialized ``tensorflow.ConfigProto`` for every model version's session."""
    gpu_fraction_from_flag: bool
    """``per_process_gpu_memory_fraction`` came from the flag (a warning names the flag)."""
    custom_op_paths: tuple[Path, ...]
    """Custom op library files, in load order."""
    warnings: tuple[str, ...]
    """Start-up warnings that need no TensorFlow, each once."""
    connections: ConnectionCaps
    """Most connections each API holds open (``config.connection_limits``)."""
    shadows: tuple[ShadowRule, ...] = ()
    """``--shadow_config_file``'s rules; empty: no shadow versions."""
    repository_models: ModelServerSettings | None = None
    """The ``--model_repository`` models (also in ``models``), which every reload keeps."""


def load_server_config(
    options: ServerOptions, *, descriptor_limit: int | None = None
) -> ServerConfig:
    """Read and validate every configuration file the flags name; ``ConfigError`` if any is bad.

    ``descriptor_limit``: the soft open-file limit the connection caps are derived from
    (default: this process's, read now).
    """
    require_model_source(options)
    repository = (
        load_model_repository(options.model_repository)
        if options.model_repository is not None
        else None
    )
    check_flag_combinations(options)
    models = _models(options, repository)
    platform = (
        load_platform_config(options.platform_config_file)
        if options.platform_config_file is not None
        else None
    )
    if platform is not None:
        batching = platform.batching
        per_model_batching = platform.per_model_batching
        tags = platform.saved_model_tags
        warmup = platform.enable_model_warmup
        iterations = platform.num_request_iterations_for_warmup
    else:
        batching = _batching_from_flags(options)
        per_model_batching = options.enable_per_model_batching_parameters
        tags = options.saved_model_tags
        warmup = options.enable_model_warmup
        iterations = options.num_request_iterations_for_warmup
    monitoring = (
        load_monitoring_config(options.monitoring_config_file)
        if options.monitoring_config_file is not None
        else MonitoringSettings()
    )
    ssl = load_ssl_config(options.ssl_config_file) if options.ssl_config_file is not None else None
    rest_ssl = (
        load_ssl_config(options.rest_ssl_config_file)
        if options.rest_ssl_config_file is not None
        else None
    )
    auth = load_auth_settings(
        options.auth_basic_users_file,
        options.auth_bearer_tokens_file,
        protect_health=options.auth_protect_health,
        open_metrics=options.auth_open_metrics,
    )
    tensorflow = resolve_tensorflow_settings(options, platform)
    return ServerConfig(
        options=options,
        models=models,
        batching=batching,
        per_model_batching=per_model_batching,
        saved_model_tags=tags,
        enable_model_warmup=warmup,
        num_request_iterations_for_warmup=iterations,
        monitoring=monitoring,
        ssl=ssl,
        rest_ssl=rest_ssl,
        auth=auth,
        session_config=tensorflow.session_config,
        gpu_fraction_from_flag=tensorflow.gpu_fraction_from_flag,
        custom_op_paths=tensorflow.custom_op_paths,
        warnings=tuple(ignored_flag_warnings(options)) + tensorflow.warnings,
        shadows=(
            load_shadow_config(options.shadow_config_file)
            if options.shadow_config_file is not None
            else ()
        ),
        repository_models=repository,
        connections=connection_caps(
            options,
            descriptor_limit if descriptor_limit is not None else current_descriptor_limit(),
        ),
    )


def check_flag_combinations(options: ServerOptions) -> None:
    """``ConfigError`` for the flag combinations TF Serving's ``Server::BuildAndStart`` refuses."""
    if options.platform_config_file is not None:
        return  # TF Serving checks these only without a platform config (server.cc)
    if options.batching_parameters_file is not None and not options.enable_batching:
        raise ConfigError(
            COMMAND_LINE,
            "--batching_parameters_file is set without setting --enable_batching to true "
            "(server_options.batching_parameters_file is set without setting "
            "server_options.enable_batching to true.)",
        )
    if (
        options.tensorflow_intra_op_parallelism > 0
        and options.tensorflow_inter_op_parallelism > 0
        and options.tensorflow_session_parallelism > 0
    ):
        raise ConfigError(
            COMMAND_LINE,
            "Either configure --tensorflow_session_parallelism or "
            "(--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism) "
            "separately. You cannot configure all.",
        )


def _models(options: ServerOptions, repository: ModelServerSettings | None) -> ModelServerSettings:
    if options.model_config_file is not None:
        listed = load_model_config(options.model_config_file)
    elif options.model_base_path is not None:
        listed = single_model_config(
            options.model_name, options.model_base_path, platform=options.model_platform
        )
    else:
        assert repository is not None  # require_model_source checked it
        return repository
    return listed if repository is None else merge_model_lists(listed, repository)


def _batching_from_flags(options: ServerOptions) -> BatchingSettings | None:
    if not options.enable_batching:
        return None
    if options.batching_parameters_file is not None:
        return load_batching_parameters(options.batching_parameters_file)
    return default_batching_settings()
