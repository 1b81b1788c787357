"""The --shadow_config_file format: rules as documented, errors with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.shadow_config import ShadowRule, VersionRef, load_shadow_config, shadow_config_from_text


def test_rules_parse_with_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "shadow.config"
    path.write_text(
        "# model  primary  shadow  sampling_rate\n"
        "\n"
        "resnet   *        canary  0.05\n"
        "ranker   stable   4       1\n"
        "ranker   3        4       0.5\n"
    )
    assert load_shadow_config(path) == (
        ShadowRule(
            model_name="resnet", primary=None, shadow=VersionRef(label="canary"), sampling_rate=0.05
        ),
        ShadowRule(
            model_name="ranker",
            primary=VersionRef(label="stable"),
            shadow=VersionRef(version=4),
            sampling_rate=1.0,
        ),
        ShadowRule(
            model_name="ranker",
            primary=VersionRef(version=3),
            shadow=VersionRef(version=4),
            sampling_rate=0.5,
        ),
    )


@pytest.mark.parametrize(
    ("text", "message", "field"),
    [
        ("m * canary", "expected 4 fields", None),
        ("m * canary 0", r"sampling_rate must be a number in \(0, 1\], got '0'", "sampling_rate"),
        ("m * canary 1.5", "got '1.5'", "sampling_rate"),
        ("m * canary lots", "got 'lots'", "sampling_rate"),
        ("m * -2 0.1", "shadow version must be non-negative, got -2", "shadow"),
        ("m stable stable 0.1", "primary and shadow are both 'stable'", "shadow"),
        ("m * a 0.1\nm * b 0.2", "a second rule for model 'm' and primary '\\*'", "primary"),
    ],
)
def test_bad_lines_are_named(text: str, message: str, field: str | None) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        shadow_config_from_text("# rules\n" + text, "shadow.config")
    assert caught.value.source == "shadow.config"
    assert caught.value.line == len(text.splitlines()) + 1
    assert caught.value.field == field


def test_the_server_config_reads_the_shadow_file_named_by_its_flag(tmp_path: Path) -> None:
    from config.flags import parse_flags
    from config.server_config import load_server_config

    (tmp_path / "m").mkdir()
    rules = tmp_path / "shadow.config"
    rules.write_text("default * canary 0.05\n")
    flags = [f"--model_base_path={tmp_path / 'm'}"]
    assert load_server_config(parse_flags(flags)).shadows == ()
    config = load_server_config(
        parse_flags([*flags, f"--shadow_config_file={rules}", "--shadow_max_in_flight=2"])
    )
    assert config.shadows == shadow_config_from_text("default * canary 0.05", "x")
    assert config.options.shadow_max_in_flight == 2
    assert config.options.request_log_queue_records == 10_000
    rules.write_text("default * canary 2\n")
    with pytest.raises(ConfigError, match="sampling_rate") as caught:
        load_server_config(parse_flags([*flags, f"--shadow_config_file={rules}"]))
    assert caught.value.source == str(rules)
