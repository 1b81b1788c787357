"""Session options and custom op paths resolved from the flags (config.tensorflow_options).

No TensorFlow here: the session config is checked through our pool's ``ConfigProto``.
The warnings that need TensorFlow's runtime state are tested in
``tests/unit/servables/test_session_options.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config.errors import ConfigError
from config.flags import parse_flags
from config.protos import ConfigProto
from config.tensorflow_options import custom_op_libraries, resolve_tensorflow_settings


@dataclass(frozen=True)
class Resolved:
    session_config: Any
    """Our pool's ConfigProto, parsed back from the resolved bytes."""
    warnings: tuple[str, ...]
    custom_op_paths: tuple[Path, ...]


def resolve(*flags: str) -> Resolved:
    resolved = resolve_tensorflow_settings(parse_flags(["--model_base_path=/models/m", *flags]))
    return Resolved(
        session_config=ConfigProto.FromString(resolved.session_config),
        warnings=resolved.warnings,
        custom_op_paths=resolved.custom_op_paths,
    )


def test_no_flags_give_an_empty_config_and_no_warnings() -> None:
    resolved = resolve()
    # TF Serving's default: TensorFlow sizes its pools. Running ops on the calling thread
    # (inter_op -1) measured no gain beyond noise here (bench/RESULTS.md), so it is not forced.
    assert resolved.session_config == ConfigProto()
    assert resolve_tensorflow_settings(parse_flags(["--model_base_path=/m"])).session_config == b""
    assert resolved.warnings == ()
    assert resolved.custom_op_paths == ()


def test_session_parallelism_sets_both_and_the_specific_flags_override() -> None:
    both = resolve("--tensorflow_session_parallelism=3").session_config
    assert (both.intra_op_parallelism_threads, both.inter_op_parallelism_threads) == (3, 3)
    mixed = resolve(
        "--tensorflow_session_parallelism=3", "--tensorflow_inter_op_parallelism=5"
    ).session_config
    assert (mixed.intra_op_parallelism_threads, mixed.inter_op_parallelism_threads) == (3, 5)


def test_the_file_is_the_base_and_flags_override_only_what_they_set(
    write_file: Callable[[str, str], Path],
) -> None:
    path = write_file(
        "session.txt",
        "intra_op_parallelism_threads: 2\ninter_op_parallelism_threads: 7\n"
        "allow_soft_placement: true\nlog_device_placement: true\n",
    )
    config = resolve(
        f"--tensorflow_session_config_file={path}", "--tensorflow_intra_op_parallelism=4"
    ).session_config
    assert config.intra_op_parallelism_threads == 4
    assert config.inter_op_parallelism_threads == 7
    assert config.allow_soft_placement and config.log_device_placement


def test_placement_options_take_effect_without_warnings(
    write_file: Callable[[str, str], Path],
) -> None:
    path = write_file("session.txt", "allow_soft_placement: true log_device_placement: true")
    assert resolve(f"--tensorflow_session_config_file={path}").warnings == ()


def test_distributed_only_fields_are_warned_about(write_file: Callable[[str, str], Path]) -> None:
    path = write_file(
        "session.txt",
        'cluster_def { job { name: "worker" } }\n'
        "isolate_session_state: true\n"
        'experimental { collective_group_leader: "/job:worker/replica:0/task:0" }\n',
    )
    warnings = resolve(f"--tensorflow_session_config_file={path}").warnings
    assert [warning.split(" ")[0] for warning in warnings] == [
        "cluster_def",
        "isolate_session_state",
        "experimental.collective_group_leader",
    ]
    assert all("distributed sessions" in warning for warning in warnings)


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("intra_op_parallelism_threads: 2\nexperimental {\n  use_tfrt: true\n}", "use_tfrt", 3),
        ('experimental { session_metadata { name: "m" } }', "session_metadata", 1),
    ],
)
def test_options_that_would_fail_every_load_are_refused(
    write_file: Callable[[str, str], Path], text: str, field: str, line: int
) -> None:
    path = write_file("session.txt", text)
    with pytest.raises(ConfigError) as caught:
        resolve(f"--tensorflow_session_config_file={path}")
    assert caught.value.source == str(path)
    assert (caught.value.field, caught.value.line) == (f"experimental.{field}", line)


def test_a_malformed_session_config_file_names_file_and_line(
    write_file: Callable[[str, str], Path],
) -> None:
    path = write_file(
        "session.txt", "intra_op_parallelism_threads: 2\ngpu_options { allow_grow: 1 }"
    )
    with pytest.raises(ConfigError) as caught:
        resolve(f"--tensorflow_session_config_file={path}")
    assert (caught.value.source, caught.value.line, caught.value.field) == (
        str(path),
        2,
        "allow_grow",
    )


def test_custom_op_paths_expand_directories_in_name_order(tmp_path: Path) -> None:
    ops = tmp_path / "ops"
    ops.mkdir()
    for name in ("b.so", "a.so", "notes.txt"):
        (ops / name).write_bytes(b"")
    single = tmp_path / "libsingle.so.2"
    single.write_bytes(b"")
    resolved = resolve(f"--custom_op_paths={single},{ops},{ops / 'a.so'}")
    assert resolved.custom_op_paths == (single, ops / "a.so", ops / "b.so")
    assert resolved.warnings == ()


def test_a_missing_custom_op_path_is_refused_by_name(tmp_path: Path) -> None:
    missing = tmp_path / "nope.so"
    with pytest.raises(ConfigError) as caught:
        resolve(f"--custom_op_paths={missing}")
    assert caught.value.field == "custom_op_paths"
    assert str(missing) in str(caught.value)


def test_a_directory_without_libraries_is_a_warning(tmp_path: Path) -> None:
    libraries, warnings = custom_op_libraries([tmp_path])
    assert libraries == ()
    assert warnings == [f"--custom_op_paths: {tmp_path} contains no .so file; nothing loaded"]


def test_a_platform_config_replaces_the_session_flags() -> None:
    from config.platform_config import platform_config_from_text

    platform = platform_config_from_text(
        """
        platform_configs {
          key: "tensorflow"
          value {
            source_adapter_config {
              [type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig] {
                legacy_config { session_config { intra_op_parallelism_threads: 6 } }
              }
            }
          }
        }
        """,
        "platform.config",
    )
    options = parse_flags(
        [
            "--model_base_path=/models/m",
            "--platform_config_file=platform.config",
            "--tensorflow_intra_op_parallelism=2",
            "--per_process_gpu_memory_fraction=0.5",
        ]
    )
    resolved = resolve_tensorflow_settings(options, platform)
    session_config: Any = ConfigProto.FromString(resolved.session_config)
    assert session_config.intra_op_parallelism_threads == 6
    assert not session_config.HasField("gpu_options")
    assert [warning.split(" ")[0] for warning in resolved.warnings] == [
        "--tensorflow_intra_op_parallelism",
        "--per_process_gpu_memory_fraction",
    ]
    assert all("is ignored: --platform_config_file" in w for w in resolved.warnings)
