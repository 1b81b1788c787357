"""Triton's config.pbtxt (parsed with tritonclient's model_config proto) and repository scan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.model_config import All, Latest, Specific, single_model_config
from config.model_repository import load_model_repository, merge_model_lists
from config.triton_model_config import (
    parse_triton_config,
    read_triton_config,
    triton_config_from_proto,
)

CONFIG = """
name: "m"
platform: "pytorch_libtorch"
max_batch_size: 8
version_policy { specific { versions: [ 3, 1 ] } }
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUTPUT__0" data_type: TYPE_STRING dims: [ -1, 2 ] } ]
dynamic_batching { preferred_batch_size: [ 2, 4 ] max_queue_delay_microseconds: 500 }
parameters { key: "k" value: { string_value: "v" } }
"""


def test_config_pbtxt_becomes_plain_values(tmp_path: Path) -> None:
    (tmp_path / "config.pbtxt").write_text(CONFIG)
    config = read_triton_config(tmp_path / "config.pbtxt")
    assert config.platform == "pytorch"
    assert config.max_batch_size == 8
    assert config.inputs[0].name == "INPUT__0" and config.inputs[0].data_type == "TYPE_FP32"
    assert config.outputs[0].dims == (-1, 2)
    assert config.batching is not None
    assert (config.batching.max_batch_size, config.batching.batch_timeout_micros) == (4, 500)
    assert config.version_policy == Specific(versions=(1, 3))
    assert config.parameters == {"k": "v"}
    rendered = json.loads(config.json)
    assert rendered["input"][0] == {
        **rendered["input"][0],
        "name": "INPUT__0",
        "data_type": "TYPE_FP32",
        "dims": [4],
    }
    assert rendered["max_batch_size"] == 8


@pytest.mark.parametrize(
    ("text", "policy"),
    [("", Latest()), ("version_policy { all {} }", All()),
     ("version_policy { latest { num_versions: 2 } }", Latest(num_versions=2))],
)  # fmt: skip
def test_version_policy_defaults_to_latest_one(text: str, policy: object) -> None:
    assert triton_config_from_proto(parse_triton_config(text, "c"), "c").version_policy == policy


def test_unknown_platform_and_bad_text_name_the_file() -> None:
    with pytest.raises(ConfigError, match="unsupported backend 'tensorrt_llm'"):
        triton_config_from_proto(parse_triton_config('backend: "tensorrt_llm"', "c"), "c")
    with pytest.raises(ConfigError) as caught:
        parse_triton_config("max_batch_size: [", "models/m/config.pbtxt")
    assert caught.value.source == "models/m/config.pbtxt"


def test_repository_models_from_configs_and_from_artifacts(tmp_path: Path) -> None:
    (tmp_path / "a" / "1").mkdir(parents=True)
    (tmp_path / "a" / "config.pbtxt").write_text('backend: "python"\nversion_policy { all {} }')
    (tmp_path / "b" / "2" / "model.savedmodel").mkdir(parents=True)
    (tmp_path / "c" / "1").mkdir(parents=True)
    (tmp_path / "c" / "1" / "model.onnx").write_bytes(b"")
    (tmp_path / "notes").mkdir()
    settings = load_model_repository(tmp_path)
    assert [(m.name, m.platform) for m in settings.models] == [
        ("a", "python"),
        ("b", "tensorflow"),
        ("c", "onnx"),
    ]
    assert settings.models[0].version_policy == All()
    assert settings.models[0].base_path == str(tmp_path / "a")


def test_repository_rejects_a_name_other_than_the_folder_and_duplicate_names(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config.pbtxt").write_text('name: "b"\nbackend: "python"')
    with pytest.raises(ConfigError, match="name 'b' differs from the model's folder 'a'"):
        load_model_repository(tmp_path)
    (tmp_path / "a" / "config.pbtxt").write_text('backend: "python"')
    listed = single_model_config("a", tmp_path / "a", platform="python")
    with pytest.raises(ConfigError, match="model 'a' is also listed"):
        merge_model_lists(listed, load_model_repository(tmp_path))


def test_the_repository_alone_is_a_model_source(tmp_path: Path) -> None:
    from config.flags import ServerOptions
    from config.server_config import load_server_config

    (tmp_path / "a" / "1").mkdir(parents=True)
    (tmp_path / "a" / "1" / "model.py").write_text("")
    config = load_server_config(ServerOptions(model_repository=tmp_path))
    assert config.models.names == ("a",)
    assert config.repository_models is not None
    assert config.repository_models.names == ("a",)
