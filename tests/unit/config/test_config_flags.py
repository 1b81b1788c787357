"""Command-line flags (config.flags)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.flags import (
    IGNORED_TF_SERVING_FLAGS,
    AspiredVersionPolicy,
    ServerOptions,
    build_parser,
    ignored_flag_warnings,
    parse_flags,
    require_model_source,
)


def test_defaults_are_tf_servings() -> None:
    options = parse_flags([])
    assert options == ServerOptions()
    assert options.port == 8500
    assert options.rest_api_port == 8501
    assert options.rest_api_timeout_in_ms == 30_000
    assert options.model_name == "default"
    assert options.model_config_file is None and options.model_base_path is None
    assert options.model_config_file_poll_wait_seconds == 0
    assert options.file_system_poll_wait_seconds == 1
    assert options.saved_model_tags == ("serve",)
    assert options.max_num_load_retries == 5
    assert options.load_retry_interval_micros == 1_000_000
    assert options.num_load_threads == 0 and options.num_unload_threads == 0
    assert options.tensorflow_intra_op_parallelism == 0
    assert options.tensorflow_inter_op_parallelism == 0
    assert options.tensorflow_session_parallelism == 0
    assert options.per_process_gpu_memory_fraction == 0.0
    assert options.enable_batching is False
    assert options.allow_version_labels_for_unavailable_models is False
    assert options.enable_model_warmup is True
    assert options.num_request_iterations_for_warmup == 1
    assert options.enable_signature_method_name_check is False
    assert options.aspired_version_policy is AspiredVersionPolicy.AVAILABILITY_PRESERVING
    assert options.ignored_flags == ()
    assert options.grpc_enabled and options.rest_enabled


def test_every_option_is_a_flag() -> None:
    dests = {action.dest for action in build_parser()._actions}
    fields = {field.name for field in dataclasses.fields(ServerOptions)}
    assert fields - {"ignored_flags", "command_line_warnings"} <= dests


def test_help_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_flags(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for field in dataclasses.fields(ServerOptions):
        if field.name not in ("ignored_flags", "command_line_warnings"):
            assert f"--{field.name}" in text
    assert "--config" in text
    assert "(default: 8500)" in text
    assert "(default: serve)" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["--port=9000", "--model_base_path=/m"],
        ["--port", "9000", "--model_base_path", "/m"],
    ],
)
def test_equals_and_space_forms(argv: list[str]) -> None:
    options = parse_flags(argv)
    assert options.port == 9000
    assert options.model_base_path == "/m"


@pytest.mark.parametrize("flag", ["--config", "--model_config_file"])
def test_config_alias(flag: str) -> None:
    assert parse_flags([f"{flag}=/etc/models.config"]).model_config_path == Path(
        "/etc/models.config"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--enable_batching"], True),
        (["--enable_batching=true"], True),
        (["--enable_batching=TRUE"], True),
        (["--enable_batching=1"], True),
        (["--enable_batching=false"], False),
        (["--enable_batching", "false"], False),
        (["--enable_batching=0"], False),
    ],
)
def test_boolean_forms(argv: list[str], expected: bool) -> None:
    assert parse_flags(argv).enable_batching is expected


def test_warmup_can_be_disabled() -> None:
    assert parse_flags(["--enable_model_warmup=false"]).enable_model_warmup is False


def test_ports_zero_is_ephemeral_and_minus_one_disables() -> None:
    options = parse_flags(["--port=0", "--rest_api_port=0"])
    assert (options.port, options.rest_api_port) == (0, 0)
    options = parse_flags(["--rest_api_port", "-1"])
    assert options.rest_api_port == -1 and not options.rest_enabled


def test_list_flags() -> None:
    options = parse_flags(
        [
            "--saved_model_tags=serve, gpu",
            "--custom_op_paths=/a.so,/b.so",
            "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,grpc.lb_policy_name=rr",
        ]
    )
    assert options.saved_model_tags == ("serve", "gpu")
    assert options.custom_op_paths == (Path("/a.so"), Path("/b.so"))
    assert options.grpc_channel_arguments == (
        ("grpc.max_connection_age_ms", 2000),
        ("grpc.lb_policy_name", "rr"),
    )


def test_our_own_flags() -> None:
    options = parse_flags(
        [
            "--port_file=/tmp/ports.json",
            "--executor_threads=2",
            "--model_load_timeout_micros=5000000",
            "--aspired_version_policy=resource_preserving",
            "--workers=3",
        ]
    )
    assert options.workers == 3
    assert options.port_file == Path("/tmp/ports.json")
    assert options.executor_threads == 2
    assert options.model_load_timeout_micros == 5_000_000
    assert options.aspired_version_policy is AspiredVersionPolicy.RESOURCE_PRESERVING


def test_empty_path_means_unset() -> None:
    assert parse_flags(["--batching_parameters_file="]).batching_parameters_file is None


def test_ignored_tf_serving_flags_are_accepted_and_reported() -> None:
    options = parse_flags(["--enable_profiler=false", "--flush_filesystem_caches"])
    assert options.ignored_flags == ("enable_profiler", "flush_filesystem_caches")
    assert set(options.ignored_flags) <= set(IGNORED_TF_SERVING_FLAGS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port=x"], "argument --port: expected an integer"),
        (["--port=70000"], "at most 65535"),
        (["--port=-2"], "at least -1"),
        (["--enable_batching=maybe"], "expected true or false"),
        (["--executor_threads=0"], "at least 1"),
        (["--per_process_gpu_memory_fraction=1.5"], "between 0 and 1"),
        (["--grpc_channel_arguments=novalue"], "expected key=value"),
        (["--aspired_version_policy=eager"], "expected one of"),
        (["--port=9000", "--rest_api_port=9000"], "must differ"),
        (["--workers=0"], "at least 1"),
        (["--workers=2", "--grpc_socket_path=/tmp/s"], "cannot be used with --workers > 1"),
    ],
)
def test_bad_flags_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_flags(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argument", ["--no_such_flag=1", "--por=1", "stray"])
def test_an_unknown_argument_is_reported_and_the_server_keeps_going(argument: str) -> None:
    """TF Serving main.cc: ``if (argc != 1) std::cout << "unknown argument: " << argv[1]``,
    then it starts all the same. Flags are never abbreviated (``--por`` is unknown)."""
    options = parse_flags([argument, "--port=9000"])
    assert options.port == 9000
    assert f"unknown argument: {argument}" in ignored_flag_warnings(options)


def test_model_flags_beside_a_config_file_are_ignored_with_a_warning() -> None:
    """TF Serving main.cc: --model_config_file "(If used, --model_name, --model_base_path
    are ignored.)"; server.cc reads only the file when it is set."""
    options = parse_flags(["--config=/c", "--model_base_path=/m", "--model_name=x"])
    assert options.model_base_path is None
    assert options.model_name == ServerOptions().model_name
    warnings = ignored_flag_warnings(options)
    assert "--model_base_path is ignored because --model_config_file is set" in warnings
    assert "--model_name is ignored because --model_config_file is set" in warnings
    require_model_source(options)


@pytest.mark.parametrize("argv", [["--version"], ["--version=true"], ["--port=1", "--version"]])
def test_version_prints_the_versions_and_exits_0(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """TF Serving main.cc display_version: "TensorFlow ModelServer: ..." and "TensorFlow
    Library: ...", then ``return 0``."""
    with pytest.raises(SystemExit) as exit_info:
        parse_flags(argv)
    assert exit_info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("TensorFlow ModelServer: aioserving ")
    assert lines[1].startswith("TensorFlow Library: ")


def test_version_false_does_nothing() -> None:
    assert parse_flags(["--version=false", "--port=1"]).port == 1


def test_require_model_source() -> None:
    require_model_source(ServerOptions(model_base_path="/m"))
    require_model_source(ServerOptions(model_config_file=Path("/c")))
    require_model_source(ServerOptions(model_repository=Path("/r")))
    with pytest.raises(ConfigError) as caught:
        require_model_source(ServerOptions())
    assert str(caught.value) == (
        "command line: either --model_config_file, --model_base_path or --model_repository "
        "is required"
    )
    with pytest.raises(ConfigError, match="mutually exclusive"):
        require_model_source(ServerOptions(model_base_path="/m", model_config_file=Path("/c")))


def test_options_are_frozen() -> None:
    options = ServerOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.port = 1  # type: ignore[misc]
