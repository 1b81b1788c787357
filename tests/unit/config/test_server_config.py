"""The whole configuration, read before TensorFlow (config.server_config)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config.batching_config import BatchingSettings
from config.errors import ConfigError
from config.flags import parse_flags
from config.monitoring_config import MonitoringSettings
from config.protos import ConfigProto
from config.server_config import ServerConfig, load_server_config
from config.ssl_config import SslSettings

REPO_ROOT = Path(__file__).resolve().parents[3]
WriteFile = Callable[[str, str], Path]
ADAPTER = "tensorflow.serving.SavedModelBundleSourceAdapterConfig"


def platform_text(legacy_config: str) -> str:
    """A PlatformConfigMap whose ``legacy_config`` text starts on line 7."""
    return (
        "platform_configs {\n"
        '  key: "tensorflow"\n'
        "  value {\n"
        "    source_adapter_config {\n"
        f"      [type.googleapis.com/{ADAPTER}] {{\n"
        f"        legacy_config {{\n{legacy_config}\n        }}\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    path = tmp_path / "models" / "m"
    path.mkdir(parents=True)
    return path


def load(model_dir: Path, *flags: str) -> ServerConfig:
    return load_server_config(parse_flags([f"--model_base_path={model_dir}", *flags]))


def session_config(config: ServerConfig) -> Any:
    return ConfigProto.FromString(config.session_config)


def test_a_base_path_alone_gives_tf_servings_defaults(model_dir: Path) -> None:
    config = load(model_dir)
    assert config.options == parse_flags([f"--model_base_path={model_dir}"])
    assert config.models.names == ("default",)
    assert config.models.models[0].base_path == str(model_dir)
    assert config.batching is None
    assert not config.per_model_batching
    assert config.saved_model_tags == ("serve",)
    assert config.enable_model_warmup
    assert config.num_request_iterations_for_warmup == 1
    assert config.monitoring == MonitoringSettings()
    assert config.ssl is None
    assert config.session_config == b""
    assert not config.gpu_fraction_from_flag
    assert config.custom_op_paths == ()
    assert config.warnings == ()


def test_every_file_is_read(tmp_path: Path, model_dir: Path, write_file: WriteFile) -> None:
    models = write_file(
        "models.config",
        f'model_config_list {{ config {{ name: "m" base_path: "{model_dir}" }} }}',
    )
    batching = write_file("batching.txt", "max_batch_size { value: 8 }")
    monitoring = write_file("monitoring.txt", "prometheus_config { enable: true }")
    ssl = write_file("ssl.txt", 'server_key: "KEY" server_cert: "CERT"')
    session = write_file("session.txt", "inter_op_parallelism_threads: 3")
    library = write_file("libop.so", "")
    config = load_server_config(
        parse_flags(
            [
                f"--model_config_file={models}",
                "--enable_batching",
                f"--batching_parameters_file={batching}",
                "--enable_per_model_batching_parameters",
                f"--monitoring_config_file={monitoring}",
                f"--ssl_config_file={ssl}",
                f"--tensorflow_session_config_file={session}",
                "--tensorflow_intra_op_parallelism=2",
                "--per_process_gpu_memory_fraction=0.5",
                "--saved_model_tags=serve,gpu",
                "--enable_model_warmup=false",
                "--num_request_iterations_for_warmup=3",
                f"--custom_op_paths={library}",
            ]
        )
    )
    assert config.models.names == ("m",)
    assert config.batching is not None and config.batching.max_batch_size == 8
    assert config.per_model_batching
    assert config.monitoring.prometheus_enabled
    assert config.ssl == SslSettings(
        server_key="KEY", server_cert="CERT", custom_ca="", client_verify=False
    )
    session_proto = session_config(config)
    assert session_proto.inter_op_parallelism_threads == 3
    assert session_proto.intra_op_parallelism_threads == 2
    assert session_proto.gpu_options.per_process_gpu_memory_fraction == 0.5
    assert config.gpu_fraction_from_flag
    assert config.saved_model_tags == ("serve", "gpu")
    assert not config.enable_model_warmup
    assert config.num_request_iterations_for_warmup == 3
    assert config.custom_op_paths == (library,)
    assert config.warnings == ()


def test_enable_batching_alone_takes_the_defaults(model_dir: Path) -> None:
    assert load(model_dir, "--enable_batching").batching == BatchingSettings()


def test_a_batching_file_without_enable_batching_is_refused(model_dir: Path) -> None:
    """TF Serving server.cc BuildAndStart: "server_options.batching_parameters_file is set
    without setting server_options.enable_batching to true." (InvalidArgument)."""
    with pytest.raises(ConfigError) as refused:
        load(model_dir, "--batching_parameters_file=/no/such/file")
    assert "without setting --enable_batching to true" in str(refused.value)


def test_session_parallelism_with_both_op_flags_is_refused(model_dir: Path) -> None:
    """TF Serving server.cc BuildAndStart: "Either configure
    server_options.tensorflow_session_parallelism or (...) separately. You cannot configure
    all."; two of the three are accepted."""
    with pytest.raises(ConfigError) as refused:
        load(
            model_dir,
            "--tensorflow_session_parallelism=2",
            "--tensorflow_intra_op_parallelism=2",
            "--tensorflow_inter_op_parallelism=2",
        )
    assert "You cannot configure all." in str(refused.value)
    load(model_dir, "--tensorflow_session_parallelism=2", "--tensorflow_intra_op_parallelism=2")


def test_the_platform_config_replaces_the_flags(model_dir: Path, write_file: WriteFile) -> None:
    platform = write_file(
        "platform.config",
        platform_text(
            "session_config { intra_op_parallelism_threads: 6 }\n"
            "batching_parameters { max_batch_size { value: 16 } }\n"
            "enable_per_model_batching_params: true\n"
            'saved_model_tags: "tpu"\n'
            "model_warmup_options { num_request_iterations { value: 2 } }"
        ),
    )
    config = load(
        model_dir,
        f"--platform_config_file={platform}",
        "--enable_batching=false",
        "--tensorflow_intra_op_parallelism=2",
        "--per_process_gpu_memory_fraction=0.5",
    )
    assert config.batching is not None and config.batching.max_batch_size == 16
    assert config.per_model_batching
    assert config.saved_model_tags == ("tpu",)
    # Off unless the file enables it, whatever --enable_model_warmup says (TF Serving).
    assert not config.enable_model_warmup
    assert config.num_request_iterations_for_warmup == 2
    proto = session_config(config)
    assert proto.intra_op_parallelism_threads == 6
    assert not proto.HasField("gpu_options")
    assert not config.gpu_fraction_from_flag
    # --enable_batching=false is its default, so it was not "given".
    assert [warning.split(" ")[0] for warning in config.warnings] == [
        "--tensorflow_intra_op_parallelism",
        "--per_process_gpu_memory_fraction",
    ]


def test_warnings_name_each_ignored_or_ineffective_setting_once(
    tmp_path: Path, model_dir: Path, write_file: WriteFile
) -> None:
    session = write_file("session.txt", 'cluster_def { job { name: "worker" } }')
    empty_ops = tmp_path / "ops"
    empty_ops.mkdir()
    config = load(
        model_dir,
        "--enable_profiler",
        "--xla_cpu_compilation_enabled=true",
        "--rest_api_num_threads=8",
        "--grpc_max_threads=16",
        f"--tensorflow_session_config_file={session}",
        f"--custom_op_paths={empty_ops}",
    )
    assert config.warnings == (
        "--rest_api_num_threads has no effect in aioserving: the asyncio REST frontend uses "
        "no thread pool",
        "--grpc_max_threads has no effect in aioserving: the asyncio gRPC server uses no "
        "thread pool for requests",
        "--enable_profiler has no effect in aioserving (accepted for compatibility with "
        "tensorflow_model_server)",
        "--xla_cpu_compilation_enabled has no effect in aioserving (accepted for "
        "compatibility with tensorflow_model_server)",
        "cluster_def has no effect: it configures distributed sessions, and every model here "
        "runs in an in-process session",
        f"--custom_op_paths: {empty_ops} contains no .so file; nothing loaded",
    )


def test_platform_config_warnings_are_included(model_dir: Path, write_file: WriteFile) -> None:
    platform = write_file(
        "platform.config", platform_text("enable_per_model_batching_params: true")
    )
    (warning,) = load(model_dir, f"--platform_config_file={platform}").warnings
    assert "enable_per_model_batching_params has no effect" in warning


# Each file with a mistake at a known line and field.
MALFORMED = [
    (
        "model_config_file",
        "models.config",
        'model_config_list {\n  config {\n    name: "m"\n    base_pth: "/x"\n  }\n}\n',
        4,
        "base_pth",
    ),
    (
        "batching_parameters_file",
        "batching.txt",
        "max_batch_size { value: 8 }\nnum_batch_threads { value: 0 }\n",
        2,
        "num_batch_threads",
    ),
    (
        "monitoring_config_file",
        "monitoring.txt",
        'prometheus_config {\n  enable: true\n  path: "metrics"\n}\n',
        3,
        "prometheus_config.path",
    ),
    (
        "ssl_config_file",
        "ssl.txt",
        'server_key: "K"\nserver_cert: "C"\nclient_verify: true\n',
        3,
        "custom_ca",
    ),
    (
        "platform_config_file",
        "platform.config",
        platform_text('session_target: "grpc://tpu:8470"'),
        7,
        "session_target",
    ),
    (
        "tensorflow_session_config_file",
        "session.txt",
        "intra_op_parallelism_threads: 2\ngpu_options { allow_grow: true }\n",
        2,
        "allow_grow",
    ),
]


@pytest.mark.parametrize(
    ("flag", "name", "text", "line", "field"),
    MALFORMED,
    ids=[case[0] for case in MALFORMED],
)
def test_a_malformed_file_is_a_config_error_naming_file_line_and_field(
    model_dir: Path, write_file: WriteFile, flag: str, name: str, text: str, line: int, field: str
) -> None:
    path = write_file(name, text)
    flags = [f"--{flag}={path}"]
    if flag == "batching_parameters_file":
        flags.append("--enable_batching")
    argv = flags if flag == "model_config_file" else [f"--model_base_path={model_dir}", *flags]
    with pytest.raises(ConfigError) as caught:
        load_server_config(parse_flags(argv))
    assert (caught.value.source, caught.value.line, caught.value.field) == (
        str(path),
        line,
        field,
    )
    assert str(caught.value).startswith(f"{path}:{line}")


def test_a_missing_model_source_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--model_base_path or --model_repository is required"):
        load_server_config(parse_flags([]))


def test_a_missing_model_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="base_path"):
        load_server_config(parse_flags([f"--model_base_path={tmp_path / 'absent'}"]))


def test_the_config_is_frozen(model_dir: Path) -> None:
    config = load(model_dir)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.batching = None  # type: ignore[misc]


def test_loading_never_imports_tensorflow_and_a_bad_file_is_rejected_fast(
    tmp_path: Path, model_dir: Path, write_file: WriteFile
) -> None:
    """In a fresh interpreter: every file type loads, then a malformed models.config fails.

    Timing is printed, not asserted (a loaded CI machine must not fail this test); that
    TensorFlow was never imported is what keeps the rejection well under a second.
    """
    files = {
        "batching": write_file("batching.txt", "max_batch_size { value: 8 }"),
        "monitoring": write_file("monitoring.txt", "prometheus_config { enable: true }"),
        "ssl": write_file("ssl.txt", 'server_key: "K" server_cert: "C"'),
        "session": write_file("session.txt", "gpu_options { allow_growth: true }"),
        "platform": write_file(
            "platform.config",
            platform_text("session_config { intra_op_parallelism_threads: 2 }"),
        ),
        "bad_models": write_file("models.config", "model_config_list { config { nme: 'm' } }"),
    }
    code = textwrap.dedent(
        f"""
        import sys, time
        start = time.perf_counter()
        from config.errors import ConfigError
        from config.flags import parse_flags
        from config.server_config import load_server_config

        base = ["--model_base_path={model_dir}"]
        load_server_config(parse_flags(base + [
            "--enable_batching", "--batching_parameters_file={files["batching"]}",
            "--monitoring_config_file={files["monitoring"]}",
            "--ssl_config_file={files["ssl"]}",
            "--tensorflow_session_config_file={files["session"]}",
        ]))
        load_server_config(parse_flags(base + ["--platform_config_file={files["platform"]}"]))
        try:
            load_server_config(parse_flags(["--model_config_file={files["bad_models"]}"]))
        except ConfigError as error:
            print(error)
        else:
            sys.exit("no ConfigError")
        print(f"elapsed {{time.perf_counter() - start:.3f}} s")
        assert "tensorflow" not in sys.modules, [m for m in sys.modules if "tensorflow" in m]
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stderr
    assert f"{files['bad_models']}:1:" in result.stdout
    assert "field 'nme'" in result.stdout


def test_model_platform_flag_goes_into_the_single_model_config(model_dir: Path) -> None:
    assert load(model_dir).models.models[0].platform == "tensorflow"
    assert load(model_dir, "--model_platform=onnx").models.models[0].platform == "onnx"
    with pytest.raises(ConfigError, match="requests unsupported platform caffe"):
        load(model_dir, "--model_platform=caffe")
