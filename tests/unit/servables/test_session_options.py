"""The TF edge of the session options (servables.tensorflow.session_options).

The session config is resolved without TensorFlow (``config.tensorflow_options``); these
tests check what the edge adds: TensorFlow's class and the runtime-dependent warnings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from tensorflow.core.protobuf.config_pb2 import ConfigProto

from config.flags import parse_flags
from config.tensorflow_options import resolve_tensorflow_settings
from servables.tensorflow.session_options import (
    RuntimeState,
    probe_runtime,
    tensorflow_session_config,
)

CPU_ONLY = RuntimeState(gpu_visible=False, eager_started=False)
GPU_FRESH = RuntimeState(gpu_visible=True, eager_started=False)
GPU_EAGER_STARTED = RuntimeState(gpu_visible=True, eager_started=True)
NO_GPU = "no GPU is visible to this process"


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``tmp_path / name`` and return the path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@dataclass(frozen=True)
class Resolved:
    session_config: ConfigProto
    warnings: tuple[str, ...]
    """The config's warnings (no TensorFlow needed), then the edge's."""


def resolve(*flags: str, runtime: RuntimeState = CPU_ONLY) -> Resolved:
    options = resolve_tensorflow_settings(parse_flags(["--model_base_path=/models/m", *flags]))
    config, warnings = tensorflow_session_config(
        options.session_config,
        gpu_fraction_from_flag=options.gpu_fraction_from_flag,
        runtime=runtime,
    )
    return Resolved(session_config=config, warnings=options.warnings + tuple(warnings))


def test_placement_options_take_effect_without_warnings(
    write_file: Callable[[str, str], Path],
) -> None:
    path = write_file("session.txt", "allow_soft_placement: true log_device_placement: true")
    assert resolve(f"--tensorflow_session_config_file={path}").warnings == ()


def test_gpu_options_without_a_gpu_are_warned_about(write_file: Callable[[str, str], Path]) -> None:
    path = write_file(
        "session.txt",
        "gpu_options { allow_growth: true experimental { use_unified_memory: true } }",
    )
    resolved = resolve(
        f"--tensorflow_session_config_file={path}", "--per_process_gpu_memory_fraction=0.5"
    )
    assert resolved.session_config.gpu_options.per_process_gpu_memory_fraction == 0.5
    assert resolved.session_config.gpu_options.allow_growth
    assert sorted(resolved.warnings) == [
        f"--per_process_gpu_memory_fraction has no effect: {NO_GPU}",
        f"gpu_options.allow_growth has no effect: {NO_GPU}",
        f"gpu_options.experimental.use_unified_memory has no effect: {NO_GPU}",
    ]


def test_gpu_device_count_without_a_gpu_is_warned_about(
    write_file: Callable[[str, str], Path],
) -> None:
    path = write_file("session.txt", 'device_count { key: "GPU" value: 1 }')
    (warning,) = resolve(f"--tensorflow_session_config_file={path}").warnings
    assert warning.endswith(NO_GPU) and "device_count" in warning


def test_gpu_options_apply_when_a_gpu_is_visible_and_nothing_started() -> None:
    assert resolve("--per_process_gpu_memory_fraction=0.5", runtime=GPU_FRESH).warnings == ()


def test_options_fixed_by_an_earlier_eager_runtime_are_warned_about() -> None:
    warnings = resolve(
        "--per_process_gpu_memory_fraction=0.5",
        "--tensorflow_intra_op_parallelism=2",
        "--tensorflow_inter_op_parallelism=2",
        runtime=GPU_EAGER_STARTED,
    ).warnings
    assert len(warnings) == 2
    assert warnings[0].startswith("--per_process_gpu_memory_fraction has no effect")
    assert warnings[1].startswith("intra_op_parallelism_threads has no effect")
    # The inter-op pool of sessions is not the eager runtime's: no warning for it.
    assert all("eager runtime already started" in warning for warning in warnings)


def test_the_session_config_is_tensorflows_class() -> None:
    assert isinstance(resolve("--tensorflow_session_parallelism=1").session_config, ConfigProto)


def test_probing_does_not_start_the_runtime() -> None:
    from tensorflow.python.eager import context

    before = bool(getattr(context.context(), "_initialized", False))
    state = probe_runtime()
    assert state.eager_started == before
    assert bool(getattr(context.context(), "_initialized", False)) == before
