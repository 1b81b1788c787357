"""A load request's configuration, parsed from Triton's JSON, in place of ``config.pbtxt``;
and what ``GET /v2/models/<m>/config`` answers for a configuration that lists no tensors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.triton_model_config import parse_triton_config_json
from servables.triton_signature import (
    ConfigOverrides,
    triton_config_beside,
    triton_model_config,
)
from tests.unit.actors.fakes import HalfPlusTwo


def test_an_override_replaces_config_pbtxt_until_cleared(tmp_path: Path) -> None:
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "config.pbtxt").write_text('backend: "python"\nmax_batch_size: 8\n')
    version = str(tmp_path / "m" / "1")
    overrides = ConfigOverrides()
    override = parse_triton_config_json('{"max_batch_size": "16"}', "the 'config' parameter")
    assert (override.max_batch_size, override.platform) == (16, None)
    overrides.set(str(tmp_path / "m") + "/", override)
    assert overrides.get(str(tmp_path / "m")) is override
    assert triton_config_beside(version, overrides) is override
    overrides.set(str(tmp_path / "m"), None)
    found = triton_config_beside(version, overrides)
    assert found is not None and found.max_batch_size == 8


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('"parameters": {"config": {{"max_batch_size": "16"}}}', "Extra data"),
        ("[]", "must be a JSON object"),
        ('{"max_batch_sizes": 1}', 'no field named "max_batch_sizes"'),
        ('{"max_batch_size": -1}', "max_batch_size must be >= 0"),
        ('{"backend": "tensorrt"}', "unsupported backend 'tensorrt'"),
    ],
)
def test_a_configuration_that_does_not_parse_says_why(text: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match="the 'config' parameter") as failure:
        parse_triton_config_json(text, "the 'config' parameter")
    assert complaint in str(failure.value)


def test_a_configuration_without_tensors_answers_the_models_own() -> None:
    servable = HalfPlusTwo()
    servable.platform = "onnx"
    servable.triton_config = parse_triton_config_json('{"max_batch_size": 16}', "config")
    config = triton_model_config(servable)
    assert (config["platform"], config["max_batch_size"]) == ("onnxruntime_onnx", 16)
    assert config["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": [1]}]
    assert config["output"] == [{"name": "y", "data_type": "TYPE_FP32", "dims": [1]}]
