"""The path poller on a base path that holds the model files itself (KServe's layout).

As in ``test_path_poller``: a real temporary folder, one ``poll_once`` at a time, with
the clock injected.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from actors.messages import AspiredVersion, AspiredVersionRequest
from actors.path_poller import PathPoller
from config.model_config import Latest, ModelSettings, Specific, VersionPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LATEST = Latest()  # frozen, so one shared default is safe


def make_poller(
    base: Path,
    platform: str = "sklearn",
    clock: Clock | None = None,
    policy: VersionPolicy = LATEST,
) -> tuple[PathPoller, list[AspiredVersionRequest]]:
    sent: list[AspiredVersionRequest] = []
    model = ModelSettings(name="m", base_path=str(base), platform=platform, version_policy=policy)
    poller = PathPoller(
        models=(model,), send=sent.append, clock=clock or Clock(), settle_seconds=2.0
    )
    return poller, sent


def write(path: Path, mtime: float = 0.0) -> None:
    path.write_bytes(b"x")
    os.utime(path, (mtime, mtime))


def test_model_files_in_the_base_path_are_version_1_and_it_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "model.joblib")
    poller, sent = make_poller(tmp_path)
    with caplog.at_level(logging.INFO, logger="actors.path_poller"):
        poller.poll_once()
        poller.poll_once()
    assert sent[-1] == AspiredVersionRequest(
        model_name="m", versions=(AspiredVersion(version=1, path=str(tmp_path)),)
    )
    assert caplog.text.count("with no numbered version folder: serving them as version 1") == 1


def test_files_of_another_platform_in_the_base_path_are_not_a_version(tmp_path: Path) -> None:
    write(tmp_path / "model.onnx")
    poller, sent = make_poller(tmp_path, platform="sklearn")
    poller.poll_once()
    assert sent[-1].versions == ()  # nothing of this platform: an empty set, as before


def test_files_being_written_in_the_base_path_wait_for_the_half_copy_rule(tmp_path: Path) -> None:
    clock = Clock()
    write(tmp_path / "model.onnx", mtime=clock.now)
    poller, sent = make_poller(tmp_path, platform="onnx", clock=clock)
    poller.poll_once()
    assert sent == []  # fresh: maybe still being copied
    poller.poll_once()
    assert [v.version for v in sent[-1].versions] == [1]


def test_a_numbered_folder_takes_over_from_the_base_path_files(tmp_path: Path) -> None:
    write(tmp_path / "model.pkl")
    poller, sent = make_poller(tmp_path)
    poller.poll_once()
    assert sent[-1].versions[0].path == str(tmp_path)
    (tmp_path / "3").mkdir()
    write(tmp_path / "3" / "model.pkl")
    poller.poll_once()
    assert sent[-1].versions == (AspiredVersion(version=3, path=str(tmp_path / "3")),)


def test_the_version_policy_applies_to_the_implied_version_1(tmp_path: Path) -> None:
    write(tmp_path / "model.ubj")
    poller, sent = make_poller(tmp_path, platform="xgboost", policy=Specific((2,)))
    poller.poll_once()
    assert sent[-1].versions == ()
