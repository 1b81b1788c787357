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
