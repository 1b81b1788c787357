"""``logging_config`` in models.config: accepted as TF Serving writes it, rejected clearly otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.model_config import model_config_from_text
from config.request_logging import RequestLogging


def config_text(logging: str) -> str:
    return (
        "model_config_list {\n"
        "  config {\n"
        '    name: "m"\n'
        '    base_path: "models/m"\n'
        f"    {logging}\n"
        "  }\n"
        "}\n"
    )


def parse(tmp_path: Path, logging: str) -> RequestLogging | None:
    (tmp_path / "models" / "m").mkdir(parents=True, exist_ok=True)
    settings = model_config_from_text(config_text(logging), "models.config", base_dir=tmp_path)
    return settings.models[0].request_logging


def test_tf_serving_example_is_accepted(tmp_path: Path) -> None:
    logging = parse(
        tmp_path,
        'logging_config { log_collector_config { type: "" filename_prefix: "/logs/reqlog" } '
        "sampling_config { sampling_rate: 0.1 } }",
    )
    assert logging == RequestLogging(filename_prefix="/logs/reqlog", sampling_rate=0.1)


def test_no_logging_config_means_no_logging(tmp_path: Path) -> None:
    assert parse(tmp_path, "") is None


def test_relative_prefix_resolves_against_the_config_folder(tmp_path: Path) -> None:
    logging = parse(
        tmp_path, 'logging_config { log_collector_config { filename_prefix: "logs/req" } }'
    )
    assert logging == RequestLogging(
        filename_prefix=str(tmp_path / "logs" / "req"), sampling_rate=0.0
    )


def test_s3_prefix_is_kept_as_written(tmp_path: Path) -> None:
    logging = parse(
        tmp_path,
        'logging_config { log_collector_config { filename_prefix: "s3://bucket/logs/req" } '
        "sampling_config { sampling_rate: 1 } }",
    )
    assert logging == RequestLogging(filename_prefix="s3://bucket/logs/req", sampling_rate=1.0)


@pytest.mark.parametrize(
    ("logging", "message", "field"),
    [
        (
            'logging_config { log_collector_config { type: "kafka" filename_prefix: "/l/r" } }',
            "log collector type 'kafka' is not supported",
            "logging_config.log_collector_config.type",
        ),
        (
            'logging_config { log_collector_config { filename_prefix: "" } }',
            "filename_prefix must not be empty",
            "logging_config.log_collector_config.filename_prefix",
        ),
        (
            'logging_config { log_collector_config { filename_prefix: "/logs/" } }',
            "ends in '/'",
            "logging_config.log_collector_config.filename_prefix",
        ),
        (
            'logging_config { log_collector_config { filename_prefix: "gs://b/r" } }',
            "give a local path or s3://bucket/key-prefix",
            "logging_config.log_collector_config.filename_prefix",
        ),
        (
            'logging_config { log_collector_config { filename_prefix: "/l/r" } '
            "sampling_config { sampling_rate: 1.5 } }",
            r"sampling_rate must lie in \[0, 1\], got 1.5",
            "logging_config.sampling_config.sampling_rate",
        ),
        (
            'logging_config { log_collector_config { filename_prefix: "/l/r" } '
            "sampling_config { sampling_rate: -0.1 } }",
            "sampling_rate must lie in",
            "logging_config.sampling_config.sampling_rate",
        ),
        (
            'logging_config { custom_logging_config { type_url: "x" } }',
            "custom_logging_config is not supported",
            "logging_config.custom_logging_config",
        ),
    ],
)
def test_unsupported_logging_config_is_rejected_with_its_field(
    tmp_path: Path, logging: str, message: str, field: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse(tmp_path, logging)
    assert caught.value.field == field
    assert caught.value.line == 5
    assert "model 'm'" in str(caught.value)
