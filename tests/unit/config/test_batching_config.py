"""Batching parameters (config.batching_config)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from config.batching_config import (
    BatchingSettings,
    batching_parameters_from_text,
    default_batching_settings,
    default_num_batch_threads,
    load_batching_parameters,
)
from config.errors import ConfigError


def parse(text: str) -> BatchingSettings:
    return batching_parameters_from_text(text, "batching.txt")


def test_defaults_are_tf_servings() -> None:
    assert parse("") == BatchingSettings(
        max_batch_size=1000,
        batch_timeout_micros=0,
        max_enqueued_batches=10,
        num_batch_threads=default_num_batch_threads(),
        thread_pool_name="batch_threads",
        allowed_batch_sizes=(),
        pad_variable_length_inputs=False,
        enable_large_batch_splitting=False,
        max_execution_batch_size=1000,
    )
    assert default_batching_settings() == parse("")
    assert default_num_batch_threads() >= 1


def test_every_field(tmp_path: Path) -> None:
    path = tmp_path / "batching.txt"
    path.write_text(
        """
        max_batch_size { value: 32 }
        batch_timeout_micros { value: 5000 }
        max_enqueued_batches { value: 100 }
        num_batch_threads { value: 4 }
        thread_pool_name { value: "my_pool" }
        allowed_batch_sizes: 8
        allowed_batch_sizes: 16
        allowed_batch_sizes: 32
        pad_variable_length_inputs: true
        """
    )
    assert load_batching_parameters(path) == BatchingSettings(
        max_batch_size=32,
        batch_timeout_micros=5000,
        max_enqueued_batches=100,
        num_batch_threads=4,
        thread_pool_name="my_pool",
        allowed_batch_sizes=(8, 16, 32),
        pad_variable_length_inputs=True,
        enable_large_batch_splitting=False,
        max_execution_batch_size=32,
    )


def test_large_batch_splitting() -> None:
    settings = parse(
        "max_batch_size { value: 64 }\n"
        "enable_large_batch_splitting { value: true }\n"
        "max_execution_batch_size { value: 16 }\n"
        "allowed_batch_sizes: [4, 16]\n"
    )
    assert settings.enable_large_batch_splitting
    assert (settings.max_batch_size, settings.max_execution_batch_size) == (64, 16)
    assert settings.allowed_batch_sizes == (4, 16)


def test_execution_limit_defaults_to_max_batch_size_with_splitting() -> None:
    settings = parse("max_batch_size { value: 64 } enable_large_batch_splitting { value: true }")
    assert settings.max_execution_batch_size == 64


def test_execution_limit_is_ignored_without_splitting() -> None:
    settings = parse("max_batch_size { value: 64 } max_execution_batch_size { value: 16 }")
    assert settings.max_execution_batch_size == 64


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("max_batch_size { value: 0 }", "max_batch_size", "must be positive, got 0"),
        ("batch_timeout_micros { value: -1 }", "batch_timeout_micros", "at least 0, got -1"),
        ("max_enqueued_batches { value: 0 }", "max_enqueued_batches", "must be positive"),
        ("num_batch_threads { value: -2 }", "num_batch_threads", "must be positive"),
        (
            "max_batch_size { value: 8 }\nallowed_batch_sizes: [0, 8]",
            "allowed_batch_sizes",
            "entries must be positive",
        ),
        (
            "max_batch_size { value: 8 }\nallowed_batch_sizes: [4, 4, 8]",
            "allowed_batch_sizes",
            "strictly increasing",
        ),
        (
            "max_batch_size { value: 8 }\nallowed_batch_sizes: [2, 4]",
            "allowed_batch_sizes",
            "last entry must equal max_batch_size (8), got 4",
        ),
        (
            "max_batch_size { value: 8 }\nenable_large_batch_splitting { value: true }\n"
            "max_execution_batch_size { value: 4 }\nallowed_batch_sizes: [2, 8]",
            "allowed_batch_sizes",
            "last entry must equal max_execution_batch_size (4), got 8",
        ),
        (
            "max_batch_size { value: 8 }\nenable_large_batch_splitting { value: true }\n"
            "max_execution_batch_size { value: 16 }",
            "max_execution_batch_size",
            "must not exceed max_batch_size (8), got 16",
        ),
        (
            "enable_large_batch_splitting { value: true }\nmax_execution_batch_size { value: 0 }",
            "max_execution_batch_size",
            "must be positive",
        ),
    ],
)
def test_invalid_values_name_the_field(text: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.field == field
    assert message in caught.value.message
    assert caught.value.line == next(
        number for number, line in enumerate(text.splitlines(), start=1) if field in line
    )
    assert str(caught.value).startswith(f"batching.txt:{caught.value.line}: field '{field}': ")


def test_plain_integer_instead_of_wrapper_is_a_parse_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("max_batch_size: 32")
    assert caught.value.line == 1


def test_unknown_field() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("max_batch_size { value: 32 }\nbatch_size_limit { value: 3 }")
    assert (caught.value.field, caught.value.line) == ("batch_size_limit", 2)


def test_the_constructor_defaults_are_tf_servings() -> None:
    settings = BatchingSettings()
    assert settings == default_batching_settings()
    assert settings.max_batch_size == 1000
    assert settings.batch_timeout_micros == 0
    assert settings.max_enqueued_batches == 10
    assert settings.num_batch_threads == len(os.sched_getaffinity(0))
    assert settings.thread_pool_name == "batch_threads"
    assert settings.allowed_batch_sizes == ()
    assert not settings.pad_variable_length_inputs
    assert not settings.enable_large_batch_splitting


def test_execution_limit_is_the_largest_batch_ever_run() -> None:
    assert BatchingSettings(max_batch_size=32).execution_limit == 32
    # Without splitting a max_execution_batch_size is ignored, as TF Serving ignores it.
    unsplit = BatchingSettings(max_batch_size=32, max_execution_batch_size=8)
    assert (unsplit.execution_limit, unsplit.max_execution_batch_size) == (32, 32)
    split = BatchingSettings(
        max_batch_size=32, enable_large_batch_splitting=True, max_execution_batch_size=8
    )
    assert split.execution_limit == 8
    # Splitting without a limit of its own runs batches up to max_batch_size.
    assert (
        BatchingSettings(max_batch_size=32, enable_large_batch_splitting=True).execution_limit == 32
    )
    parsed = batching_parameters_from_text(
        "max_batch_size { value: 64 } enable_large_batch_splitting { value: true }"
        " max_execution_batch_size { value: 16 }",
        "batching.txt",
    )
    assert parsed.execution_limit == 16


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        BatchingSettings().max_batch_size = 1  # type: ignore[misc]
