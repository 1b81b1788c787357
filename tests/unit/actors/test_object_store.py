"""``s3://`` URLs and the config's acceptance of them (the store itself: tests/integration)."""

from __future__ import annotations

import pytest

from actors.object_store import S3Url, is_object_store_url
from config.errors import ConfigError
from config.model_config import single_model_config


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://b", "b", ""),
        ("s3://b/", "b", ""),
        ("s3://b/m", "b", "m/"),
        ("s3://b/team/m/", "b", "team/m/"),
    ],
)
def test_s3_urls_split_into_bucket_and_folder_prefix(url: str, bucket: str, prefix: str) -> None:
    assert S3Url.parse(url) == S3Url(bucket, prefix)


def test_a_url_without_bucket_is_refused() -> None:
    with pytest.raises(ValueError, match="names no bucket"):
        S3Url.parse("s3:///m")


def test_config_keeps_s3_base_paths_as_written_without_checking_the_store() -> None:
    settings = single_model_config("m", "s3://bucket/team/m")
    assert settings.models[0].base_path == "s3://bucket/team/m"
    assert is_object_store_url(settings.models[0].base_path)


@pytest.mark.parametrize("url", ["gs://bucket/m", "s3:///m", "hdfs://host/m"])
def test_config_refuses_other_schemes_and_bucketless_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="is not supported"):
        single_model_config("m", url)
