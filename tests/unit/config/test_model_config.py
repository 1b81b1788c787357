"""models.config parsing and validation (config.model_config)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from tensorflow_serving.config import model_server_config_pb2

from config.errors import ConfigError
from config.model_config import (
    All,
    Latest,
    ModelSettings,
    Specific,
    load_model_config,
    model_config_from_proto,
    model_config_from_text,
    single_model_config,
)


def one_model(body: str, *, name: str = "m", base_path: str = "models/m") -> str:
    """A model_config_list with one model and extra fields ``body``."""
    return textwrap.dedent(
        f"""\
        model_config_list {{
          config {{
            name: "{name}"
            base_path: "{base_path}"
        {textwrap.indent(textwrap.dedent(body), "    ")}
          }}
        }}
        """
    )


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    path = tmp_path / "models" / "m"
    path.mkdir(parents=True)
    return path


def parse(text: str, base_dir: Path) -> tuple[ModelSettings, ...]:
    return model_config_from_text(text, "models.config", base_dir=base_dir).models


WriteFile = Callable[[str, str], Path]


def test_good_config_from_shared_testdata(testdata: Path, write_file: WriteFile) -> None:
    text = (testdata / "good_model_config.txt").read_text()
    text = text.replace(
        "${TEST_HALF_PLUS_TWO_DIR}", str(testdata / "saved_model_half_plus_two_cpu")
    )
    text = text.replace(
        "${TEST_HALF_PLUS_THREE_DIR}", str(testdata / "saved_model_half_plus_three")
    )
    path = write_file("models.config", text)

    settings = load_model_config(path)

    assert settings.source == str(path)
    assert settings.names == ("half_plus_two", "half_plus_three")
    two = settings.model("half_plus_two")
    assert two == ModelSettings(
        name="half_plus_two",
        base_path=str(testdata / "saved_model_half_plus_two_cpu"),
        platform="tensorflow",
        version_policy=Latest(num_versions=1),
        version_labels={},
    )
    assert settings.model("missing") is None


def test_placeholders_are_not_expanded(testdata: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HALF_PLUS_TWO_DIR", str(testdata / "saved_model_half_plus_two_cpu"))
    with pytest.raises(ConfigError, match=r"\$\{TEST_HALF_PLUS_TWO_DIR\}' does not exist"):
        load_model_config(testdata / "good_model_config.txt")


def test_malformed_file_names_file_and_line(testdata: Path) -> None:
    path = testdata / "bad_model_config.txt"
    with pytest.raises(ConfigError) as caught:
        load_model_config(path)
    assert caught.value.source == str(path)
    assert caught.value.line == 1
    assert str(caught.value).startswith(f"{path}:1:1: ")


def test_unknown_field_is_named_with_its_line(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(one_model('colour: "red"'), tmp_path)
    assert caught.value.field == "colour"
    assert caught.value.line == 5
    assert "colour" in str(caught.value)


def test_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse("model_config_list {\n  config {\n    name: 3\n  }\n}\n", tmp_path)
    assert (caught.value.line, caught.value.column) == (3, 11)
    assert caught.value.field is None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_model_config(tmp_path / "nope.config")


def test_empty_config_serves_nothing(tmp_path: Path) -> None:
    assert parse("", tmp_path) == ()
    assert parse("model_config_list {}", tmp_path) == ()


def test_duplicate_names(tmp_path: Path, model_dir: Path) -> None:
    text = textwrap.dedent(
        """\
        model_config_list {
          config { name: "m" base_path: "models/m" }
          config {
            name: "m"
            base_path: "models/m"
          }
        }
        """
    )
    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path)
    assert str(caught.value) == "models.config:4: field 'name': duplicate model name 'm'"


def test_empty_name(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="name must not be empty") as caught:
        parse(one_model("", name=""), tmp_path)
    assert caught.value.field == "name"


def test_unsupported_platform_message(tmp_path: Path, model_dir: Path) -> None:
    """server_core.cc CreateStoragePathRoutes: "Model m requests unsupported platform X"."""
    text = (
        'model_config_list {\n  config {\n    model_platform: "paddle"\n    name: "m"\n'
        '    base_path: "models/m"\n  }\n}\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path)
    assert str(caught.value) == (
        "models.config:3: field 'model_platform': Model m requests unsupported platform "
        "paddle (supported: catboost, lightgbm, onnx, python, pytorch, sklearn, tensorflow, xgboost)"
    )


@pytest.mark.parametrize(
    "platform",
    ["onnx", "sklearn", "xgboost", "tensorflow", "pytorch", "python", "lightgbm", "catboost"],
)
def test_every_served_platform_is_accepted(tmp_path: Path, model_dir: Path, platform: str) -> None:
    (model,) = parse(one_model(f'model_platform: "{platform}"'), tmp_path)
    assert model.platform == platform


def test_empty_platform_means_tensorflow(tmp_path: Path, model_dir: Path) -> None:
    (model,) = parse(one_model(""), tmp_path)
    assert model.platform == "tensorflow"


def test_deprecated_model_type(tmp_path: Path, model_dir: Path) -> None:
    """server_core.cc GetPlatform: "Illegal setting both ModelServerConfig::model_type
    (deprecated) and ModelServerConfig::model_platform, model name is m"."""
    (model,) = parse(one_model("model_type: TENSORFLOW"), tmp_path)
    assert model.platform == "tensorflow"
    with pytest.raises(ConfigError, match=r"Illegal setting both .* model name is "):
        parse(one_model('model_type: TENSORFLOW\nmodel_platform: "tensorflow"'), tmp_path)
    with pytest.raises(ConfigError, match="only model_type TENSORFLOW"):
        parse(one_model("model_type: OTHER"), tmp_path)


def test_missing_base_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="base_path is required") as caught:
        parse('model_config_list { config { name: "m" } }', tmp_path)
    assert caught.value.field == "base_path"


def test_base_path_must_exist_unless_told_otherwise(tmp_path: Path) -> None:
    text = one_model("", base_path="models/absent")
    with pytest.raises(ConfigError, match="does not exist") as caught:
        parse(text, tmp_path)
    assert caught.value.line == 4
    settings = model_config_from_text(
        text, "models.config", base_dir=tmp_path, require_existing_base_path=False
    )
    assert settings.models[0].base_path == str(tmp_path / "models" / "absent")


def test_base_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is not a directory"):
        parse(one_model("", base_path="file"), tmp_path)


def test_relative_base_path_resolves_against_config_directory(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "models.config"
    config.write_text(one_model("", base_path="./models/../models/m"))
    monkeypatch.chdir("/")
    (model,) = load_model_config(config).models
    assert model.base_path == str(model_dir)
    assert os.path.isabs(model.base_path)


def test_absolute_base_path_is_kept(tmp_path: Path, model_dir: Path) -> None:
    (model,) = parse(one_model("", base_path=str(model_dir)), Path("/elsewhere"))
    assert model.base_path == str(model_dir)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("", Latest(num_versions=1)),
        ("model_version_policy { latest {} }", Latest(num_versions=1)),
        ("model_version_policy { latest { num_versions: 3 } }", Latest(num_versions=3)),
        ("model_version_policy { all {} }", All()),
        (
            "model_version_policy { specific { versions: [124, 123, 124] } }",
            Specific(versions=(123, 124)),
        ),
    ],
)
def test_version_policies(tmp_path: Path, model_dir: Path, policy: str, expected: object) -> None:
    (model,) = parse(one_model(policy), tmp_path)
    assert model.version_policy == expected


def test_specific_policy_needs_versions(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="lists no versions") as caught:
        parse(one_model("model_version_policy { specific {} }"), tmp_path)
    assert caught.value.field == "model_version_policy.specific.versions"
    assert caught.value.line == 5


def test_specific_policy_rejects_negative_versions(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="non-negative"):
        parse(one_model("model_version_policy { specific { versions: [-1] } }"), tmp_path)


def test_version_labels(tmp_path: Path, model_dir: Path) -> None:
    body = """\
        version_labels { key: "stable" value: 123 }
        version_labels { key: "canary" value: 124 }
        """
    (model,) = parse(one_model(body), tmp_path)
    assert dict(model.version_labels) == {"canary": 124, "stable": 123}


def test_version_labels_are_immutable(model_dir: Path) -> None:
    labels = {"stable": 1}
    model = ModelSettings(name="m", base_path=str(model_dir), version_labels=labels)
    labels["stable"] = 2
    assert model.version_labels["stable"] == 1
    with pytest.raises(TypeError):
        model.version_labels["x"] = 3  # type: ignore[index]


def test_label_to_negative_version(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="label 'stable' points to negative version -1") as caught:
        parse(one_model('version_labels { key: "stable" value: -1 }'), tmp_path)
    assert caught.value.field == "version_labels"
    assert caught.value.line == 5


def test_empty_label(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="empty version label"):
        parse(one_model('version_labels { key: "" value: 1 }'), tmp_path)


def test_custom_model_config_is_unsupported(tmp_path: Path) -> None:
    text = 'custom_model_config { type_url: "x" }'
    with pytest.raises(ConfigError, match="custom_model_config is not supported") as caught:
        parse(text, tmp_path)
    assert caught.value.line == 1


def test_logging_config_without_a_collector_is_rejected(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="needs log_collector_config") as caught:
        parse(one_model("logging_config { sampling_config { sampling_rate: 0.5 } }"), tmp_path)
    assert caught.value.field == "logging_config.log_collector_config"


def test_line_is_omitted_rather_than_guessed(tmp_path: Path, model_dir: Path) -> None:
    # Two models on one line: the locator finds one block per line, so it gives no line.
    text = (
        'model_config_list { config { name: "m" base_path: "models/m" } '
        'config { name: "m" base_path: "models/m" } }'
    )
    with pytest.raises(ConfigError, match="duplicate model name") as caught:
        parse(text, tmp_path)
    assert caught.value.line is None


def test_from_proto_uses_same_validation(model_dir: Path, tmp_path: Path) -> None:
    proto = model_server_config_pb2.ModelServerConfig()
    proto.model_config_list.config.add(name="m", base_path="models/m", model_platform="paddle")
    with pytest.raises(ConfigError) as caught:
        model_config_from_proto(proto, "reload request", base_dir=tmp_path)
    assert caught.value.line is None
    assert str(caught.value).startswith("reload request: field 'model_platform': ")

    proto.model_config_list.config[0].model_platform = "tensorflow"
    settings = model_config_from_proto(proto, "reload request", base_dir=tmp_path)
    assert settings.models[0].base_path == str(model_dir)
    assert settings.source == "reload request"


def test_single_model_config(model_dir: Path) -> None:
    settings = single_model_config("default", model_dir)
    assert settings.models == (
        ModelSettings(name="default", base_path=str(model_dir), version_policy=Latest()),
    )
    with pytest.raises(ConfigError, match="does not exist"):
        single_model_config("default", model_dir / "absent")
    relaxed = single_model_config("default", "absent", require_existing_base_path=False)
    assert relaxed.models[0].base_path == str(Path.cwd() / "absent")
