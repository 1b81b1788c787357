"""Telling a model's platform from its files, and a config without ``model_platform``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.model_config import single_model_config
from config.model_files import PLATFORM_FILES, ModelFilesError, detect_platform


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


@pytest.mark.parametrize(
    ("platform", "artifact"),
    [(platform, name) for platform, names in PLATFORM_FILES.items() for name in names],
)
@pytest.mark.parametrize("folder", ["", "1", "00000007"])
def test_each_artifact_means_its_platform_in_the_base_path_or_a_version_folder(
    tmp_path: Path, platform: str, artifact: str, folder: str
) -> None:
    touch(tmp_path / folder / artifact)
    touch(tmp_path / folder / "README.txt")
    assert detect_platform(str(tmp_path)) == platform


def test_several_versions_of_one_platform_are_that_platform(tmp_path: Path) -> None:
    touch(tmp_path / "1" / "model.json")
    touch(tmp_path / "2" / "model.ubj")
    assert detect_platform(str(tmp_path)) == "xgboost"


def test_artifacts_of_two_platforms_are_an_error_naming_each_file(tmp_path: Path) -> None:
    touch(tmp_path / "1" / "saved_model.pb")
    touch(tmp_path / "2" / "model.onnx")
    with pytest.raises(ModelFilesError) as caught:
        detect_platform(str(tmp_path))
    message = str(caught.value)
    assert "1/saved_model.pb (tensorflow)" in message
    assert "2/model.onnx (onnx)" in message
    assert "set model_platform" in message


def test_two_platforms_side_by_side_in_the_base_path_are_ambiguous(tmp_path: Path) -> None:
    touch(tmp_path / "model.joblib")
    touch(tmp_path / "model.onnx")
    with pytest.raises(ModelFilesError, match=r"model\.joblib \(sklearn\), model\.onnx \(onnx\)"):
        detect_platform(str(tmp_path))


def test_files_that_no_platform_loads_are_an_error_naming_them(tmp_path: Path) -> None:
    touch(tmp_path / "weights.bin")
    touch(tmp_path / "1" / "variables" / "variables.index")
    with pytest.raises(ModelFilesError) as caught:
        detect_platform(str(tmp_path))
    message = str(caught.value)
    assert "found 1/variables/, weights.bin" in message
    assert "saved_model.pb or saved_model.pbtxt or model.savedmodel/saved_model.pb" in message
    assert "model.onnx (onnx)" in message


def test_a_long_list_of_unrecognised_files_is_cut_short(tmp_path: Path) -> None:
    for index in range(12):
        touch(tmp_path / f"part-{index:02d}.bin")
    with pytest.raises(ModelFilesError, match=r"part-07\.bin and 4 more"):
        detect_platform(str(tmp_path))


def test_nothing_yet_is_none(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()  # a version folder not yet written
    (tmp_path / "lost+found").mkdir()  # other folders never count
    touch(tmp_path / ".staging")  # nor hidden names
    assert detect_platform(str(tmp_path)) is None


def test_a_config_without_platform_takes_the_files_platform(tmp_path: Path) -> None:
    touch(tmp_path / "model.pkl")
    (model,) = single_model_config("m", tmp_path).models
    assert model.platform == "sklearn"


def test_an_explicit_platform_wins_over_the_files(tmp_path: Path) -> None:
    touch(tmp_path / "1" / "model.onnx")
    touch(tmp_path / "1" / "saved_model.pb")
    (model,) = single_model_config("m", tmp_path, platform="onnx").models
    assert model.platform == "onnx"


def test_an_empty_base_path_keeps_tensorflow_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="config.model_config"):
        (model,) = single_model_config("m", tmp_path).models
    assert model.platform == "tensorflow"
    assert "no model files in" in caplog.text
    assert "TF Serving's default" in caplog.text


def test_a_base_path_that_does_not_exist_yet_keeps_tensorflow(tmp_path: Path) -> None:
    settings = single_model_config("m", tmp_path / "later", require_existing_base_path=False)
    assert settings.models[0].platform == "tensorflow"


def test_ambiguous_files_are_a_config_error_on_model_platform(tmp_path: Path) -> None:
    touch(tmp_path / "model.onnx")
    touch(tmp_path / "model.bst")
    with pytest.raises(ConfigError) as caught:
        single_model_config("m", tmp_path)
    message = str(caught.value)
    assert "field 'model_platform'" in message
    assert "model 'm': cannot tell the platform of" in message
    assert "model.bst (xgboost)" in message
