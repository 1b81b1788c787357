"""TF Serving's PlatformConfigMap files (config.platform_config)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config.errors import ConfigError
from config.flags import parse_flags
from config.platform_config import (
    PlatformSettings,
    load_platform_config,
    overridden_flags,
    platform_config_from_text,
)
from config.protos import ConfigProto

SOURCE = "platform.config"
ADAPTER = "tensorflow.serving.SavedModelBundleSourceAdapterConfig"


def platform_text(legacy_config: str, *, key: str = "tensorflow", type_name: str = ADAPTER) -> str:
    """A PlatformConfigMap whose ``legacy_config`` text starts on line 7."""
    return (
        "platform_configs {\n"
        f'  key: "{key}"\n'
        "  value {\n"
        "    source_adapter_config {\n"
        f"      [type.googleapis.com/{type_name}] {{\n"
        f"        legacy_config {{\n{legacy_config}\n        }}\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


def parse(legacy_config: str, **kw: str) -> PlatformSettings:
    return platform_config_from_text(platform_text(legacy_config, **kw), SOURCE)


def refusal(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        platform_config_from_text(text, SOURCE)
    assert caught.value.source == SOURCE
    return caught.value


def test_every_mapped_field(write_file: Callable[[str, str], Path]) -> None:
    path = write_file(
        "platform.config",
        platform_text(
            """
            session_config {
              intra_op_parallelism_threads: 4
              allow_soft_placement: true
              gpu_options { allow_growth: true per_process_gpu_memory_fraction: 0.25 }
            }
            batching_parameters {
              max_batch_size { value: 16 }
              batch_timeout_micros { value: 2000 }
              allowed_batch_sizes: [8, 16]
            }
            enable_per_model_batching_params: true
            saved_model_tags: "serve"
            saved_model_tags: "gpu"
            enable_model_warmup: true
            model_warmup_options { num_request_iterations { value: 3 } }
            """
        ),
    )
    settings = load_platform_config(path)
    assert settings.source == str(path)
    config: Any = ConfigProto.FromString(settings.session_config)
    assert config.intra_op_parallelism_threads == 4 and config.allow_soft_placement
    assert config.gpu_options.allow_growth
    assert config.gpu_options.per_process_gpu_memory_fraction == 0.25
    assert settings.batching is not None
    assert settings.batching.max_batch_size == 16
    assert settings.batching.batch_timeout_micros == 2000
    assert settings.batching.allowed_batch_sizes == (8, 16)
    assert settings.batching.max_enqueued_batches == 10  # TF Serving's default
    assert settings.per_model_batching
    assert settings.saved_model_tags == ("serve", "gpu")
    assert settings.enable_model_warmup
    assert settings.num_request_iterations_for_warmup == 3
    assert settings.warnings == ()


def test_an_empty_legacy_config_takes_tf_servings_defaults() -> None:
    settings = parse("")
    assert settings.session_config == b""
    assert settings.batching is None
    assert not settings.per_model_batching
    assert settings.saved_model_tags == ("serve",)
    # Off unless the file enables it: TF Serving does not apply --enable_model_warmup here.
    assert not settings.enable_model_warmup
    assert settings.num_request_iterations_for_warmup == 1


def test_the_session_config_is_serialized_config_proto() -> None:
    serialized = parse("session_config { inter_op_parallelism_threads: 3 }").session_config
    assert isinstance(serialized, bytes)
    assert ConfigProto.FromString(serialized) == ConfigProto(inter_op_parallelism_threads=3)


def test_per_model_batching_without_batching_is_a_warning() -> None:
    settings = parse("enable_per_model_batching_params: true")
    assert not settings.per_model_batching
    (warning,) = settings.warnings
    assert "enable_per_model_batching_params has no effect" in warning


@pytest.mark.parametrize(
    ("legacy_config", "field"),
    [
        ('session_target: "grpc://localhost:8470"', "session_target"),
        ("session_run_load_threadpool_index { value: 0 }", "session_run_load_threadpool_index"),
        (
            "experimental_transient_ram_bytes_during_load: 100",
            "experimental_transient_ram_bytes_during_load",
        ),
        ('experimental_fixed_input_tensors { name: "t" }', "experimental_fixed_input_tensors"),
        ("enable_session_metadata: true", "enable_session_metadata"),
        (
            "remove_unused_fields_from_bundle_metagraph: true",
            "remove_unused_fields_from_bundle_metagraph",
        ),
        ("prefer_tflite_model: true", "prefer_tflite_model"),
        ("num_tflite_pools: 2", "num_tflite_pools"),
        ("num_tflite_interpreters_per_pool: 2", "num_tflite_interpreters_per_pool"),
        ("wrap_session_with_no_threading_params: true", "wrap_session_with_no_threading_params"),
        ('mixed_precision: "bfloat16"', "mixed_precision"),
        (
            "model_warmup_options { num_model_warmup_threads { value: 4 } }",
            "model_warmup_options.num_model_warmup_threads",
        ),
    ],
)
def test_fields_that_do_not_map_are_refused_by_name_and_line(
    legacy_config: str, field: str
) -> None:
    error = refusal(platform_text("enable_model_warmup: true\n" + legacy_config))
    assert error.field == field
    assert error.line == 8
    assert "not supported" in error.message
    assert str(error).startswith(f"{SOURCE}:8: field '{field}'")


def test_session_options_that_would_fail_every_load_are_refused() -> None:
    error = refusal(platform_text("session_config {\nexperimental { use_tfrt: true }\n}"))
    assert (error.field, error.line) == ("session_config.experimental.use_tfrt", 8)


def test_batching_parameters_are_validated_like_the_batching_file() -> None:
    error = refusal(
        platform_text(
            "batching_parameters {\nmax_batch_size { value: 8 }\nallowed_batch_sizes: [4]\n}"
        )
    )
    assert (error.field, error.line) == ("allowed_batch_sizes", 9)


def test_warmup_iterations_must_be_positive() -> None:
    error = refusal(platform_text("model_warmup_options { num_request_iterations { value: 0 } }"))
    assert (error.field, error.line) == ("model_warmup_options.num_request_iterations", 7)


def test_a_platform_other_than_tensorflow_is_refused() -> None:
    error = refusal(platform_text("", key="tensorflow_lite"))
    assert (error.field, error.line) == ("platform_configs", 2)
    assert "tensorflow_lite" in error.message


def test_a_file_without_the_tensorflow_platform_is_refused() -> None:
    error = refusal("")
    assert error.field == "platform_configs"
    assert '"tensorflow"' in error.message


def test_an_any_of_another_known_type_is_refused() -> None:
    text = platform_text("", type_name="tensorflow.serving.SessionBundleConfig").replace(
        "legacy_config {", "batching_parameters {"
    )
    error = refusal(text)
    assert (error.field, error.line) == ("source_adapter_config", 4)
    assert "tensorflow.serving.SessionBundleConfig" in error.message


def test_an_unknown_type_is_refused_with_its_line() -> None:
    error = refusal(platform_text("", type_name="tensorflow.serving.TfrtSavedModelConfig"))
    assert (error.field, error.line) == ("source_adapter_config", 5)
    assert "TfrtSavedModelConfig" in error.message


def test_a_missing_source_adapter_config_is_refused() -> None:
    error = refusal('platform_configs { key: "tensorflow" value { } }')
    assert error.field == "source_adapter_config"
    assert "found nothing" in error.message


def test_an_unknown_field_names_field_and_line() -> None:
    error = refusal(platform_text("enable_model_warmup: true\nenable_warmup: true"))
    assert (error.field, error.line) == ("enable_warmup", 8)


def test_a_syntax_error_names_the_line() -> None:
    error = refusal(platform_text("saved_model_tags: \n}}"))
    assert error.line == 8
    assert error.field is None


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_platform_config(tmp_path / "absent.config")
    assert "cannot read file" in caught.value.message


def test_flags_the_platform_config_replaces_are_named() -> None:
    options = parse_flags(
        [
            "--model_base_path=/models/m",
            "--platform_config_file=p.config",
            "--enable_batching",
            "--saved_model_tags=serve,gpu",
            "--enable_model_warmup=false",
            "--port=9000",
        ]
    )
    warnings = overridden_flags(options)
    assert [warning.split(" ")[0] for warning in warnings] == [
        "--enable_batching",
        "--saved_model_tags",
        "--enable_model_warmup",
    ]


def test_session_bundle_messages_have_tf_servings_names_and_numbers() -> None:
    from config.protos import SavedModelBundleSourceAdapterConfig, SessionBundleConfig

    bundle = SessionBundleConfig.DESCRIPTOR
    assert bundle.full_name == "tensorflow.serving.SessionBundleConfig"
    numbers = {field.name: field.number for field in bundle.fields}
    assert {k: numbers[k] for k in ("session_target", "session_config", "batching_parameters")} == {
        "session_target": 1,
        "session_config": 2,
        "batching_parameters": 3,
    }
    assert (numbers["saved_model_tags"], numbers["enable_model_warmup"]) == (6, 779)
    assert (
        bundle.fields_by_name["session_config"].message_type.full_name == "tensorflow.ConfigProto"
    )
    adapter = SavedModelBundleSourceAdapterConfig.DESCRIPTOR
    assert adapter.fields_by_name["legacy_config"].number == 1000
    # One BatchingParameters class for --batching_parameters_file and platform configs.
    from config.protos import BatchingParameters

    assert (
        bundle.fields_by_name["batching_parameters"].message_type is BatchingParameters.DESCRIPTOR
    )
