"""The path poller on a real temporary folder, one ``poll_once`` at a time.

The wall clock is injected, so "settled on first sight" and "unchanged across two polls"
are decided by the test, not by sleeping.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from actors.messages import AspiredVersionRequest
from actors.path_poller import PathPoller
from actors.version_policy import version_number
from config.model_config import All, Latest, ModelSettings, Specific, VersionPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write_version(base: Path, name: str, *, mtime: float = 0.0) -> Path:
    folder = base / name
    (folder / "variables").mkdir(parents=True)
    for file in (folder / "saved_model.pb", folder / "variables" / "variables.index"):
        file.write_bytes(b"x")
        os.utime(file, (mtime, mtime))
    return folder


LATEST = Latest()  # frozen, so one shared default is safe


def make_poller(
    base: Path, policy: VersionPolicy = LATEST, clock: Clock | None = None
) -> tuple[PathPoller, list[AspiredVersionRequest]]:
    sent: list[AspiredVersionRequest] = []
    model = ModelSettings(name="m", base_path=str(base), version_policy=policy)
    poller = PathPoller(
        models=(model,), send=sent.append, clock=clock or Clock(), settle_seconds=2.0
    )
    return poller, sent


def versions(request: AspiredVersionRequest) -> list[int]:
    return [v.version for v in request.versions]


def test_version_numbers_are_plain_integers() -> None:
    assert version_number("00000123") == 123
    assert version_number("7") == 7
    # "\uff11" is a fullwidth digit one: str.isdigit() accepts it, a version folder may not.
    for name in ("v1", "1.5", "-1", "tmp", "", "\uff11"):
        assert version_number(name) is None


def test_settled_versions_are_aspired_on_first_sight_and_policy_applies(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = 100.0
    for name in ("1", "2", "3"):
        write_version(tmp_path, name)
    (tmp_path / "not_a_version").mkdir()
    (tmp_path / "4").write_text("a file, not a folder")

    poller, sent = make_poller(tmp_path, Latest(num_versions=2), clock)
    poller.poll_once()
    assert versions(sent[-1]) == [3, 2]
    assert sent[-1].versions[0].path == str(tmp_path / "3")

    poller, sent = make_poller(tmp_path, All(), clock)
    poller.poll_once()
    assert versions(sent[-1]) == [3, 2, 1]

    poller, sent = make_poller(tmp_path, Specific(versions=(1, 9)), clock)
    poller.poll_once()
    assert versions(sent[-1]) == [1]


def test_every_poll_sends_the_full_set_and_a_removed_version_drops_out(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = 100.0
    write_version(tmp_path, "1")
    write_version(tmp_path, "2")
    poller, sent = make_poller(tmp_path, All(), clock)
    poller.poll_once()
    poller.poll_once()
    assert [versions(r) for r in sent] == [[2, 1], [2, 1]]
    shutil.rmtree(tmp_path / "2")
    poller.poll_once()
    assert versions(sent[-1]) == [1]


def test_a_folder_being_copied_is_not_aspired_until_it_stops_changing(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = 100.0
    write_version(tmp_path, "1")
    poller, sent = make_poller(tmp_path, Latest(), clock)
    poller.poll_once()
    assert versions(sent[-1]) == [1]

    # v2 appears with fresh mtimes and without saved_model.pb yet.
    partial = tmp_path / "2" / "variables"
    partial.mkdir(parents=True)
    (partial / "variables.data-00000-of-00001").write_bytes(b"half")
    os.utime(partial / "variables.data-00000-of-00001", (clock.now, clock.now))
    poller.poll_once()
    assert versions(sent[-1]) == [1]

    # saved_model.pb lands, but the copy is still fresh: wait for one more poll.
    (tmp_path / "2" / "saved_model.pb").write_bytes(b"x")
    os.utime(tmp_path / "2" / "saved_model.pb", (clock.now, clock.now))
    poller.poll_once()
    assert versions(sent[-1]) == [1]
    assert poller.pending()

    # The copy goes on: a file grows. Still not complete.
    (partial / "variables.data-00000-of-00001").write_bytes(b"half and more")
    poller.poll_once()
    assert versions(sent[-1]) == [1]

    # Unchanged across two polls: complete.
    poller.poll_once()
    assert versions(sent[-1]) == [2]
    assert not poller.pending()


def test_missing_base_path_sends_nothing_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    poller, sent = make_poller(tmp_path / "absent")
    for _ in range(3):
        poller.poll_once()
    assert sent == []
    assert sum("does not exist" in r.getMessage() for r in caplog.records) == 1


def test_empty_base_path_sends_an_empty_set_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    poller, sent = make_poller(tmp_path)
    for _ in range(3):
        poller.poll_once()
    assert [versions(r) for r in sent] == [[], [], []]
    assert sum("no versions found" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("platform", "artifact"),
    [
        ("onnx", "model.onnx"),
        ("sklearn", "model.pkl"),
        ("xgboost", "model.json"),
        ("tensorflow", "saved_model.pbtxt"),
    ],
)
def test_each_platform_counts_its_own_artifact_and_waits_for_it_to_settle(
    tmp_path: Path, platform: str, artifact: str
) -> None:
    clock = Clock()
    clock.now = 100.0
    sent: list[AspiredVersionRequest] = []
    model = ModelSettings(name="m", base_path=str(tmp_path), platform=platform)
    poller = PathPoller(models=(model,), send=sent.append, clock=clock, settle_seconds=2.0)
    folder = tmp_path / "1"
    folder.mkdir()
    # Another platform's artifact does not make the folder a version of this one.
    other = "saved_model.pb" if platform != "tensorflow" else "model.onnx"
    (folder / other).write_bytes(b"x")
    poller.poll_once()
    assert sent == []  # a numbered folder without an artifact: waiting

    (folder / artifact).write_bytes(b"half")
    os.utime(folder / artifact, (clock.now, clock.now))
    poller.poll_once()
    assert sent == []  # fresh: maybe still being copied
    poller.poll_once()
    assert versions(sent[-1]) == [1]  # unchanged across two polls: complete


async def test_unload_by_request_holds_an_empty_set_until_load_or_a_changed_entry(
    tmp_path: Path,
) -> None:
    from actors.path_poller import LoadModel, SetModels, UnloadModel
    from protocol.status import Code, ServingError

    clock = Clock()
    clock.now = 100.0
    write_version(tmp_path, "1")
    poller, sent = make_poller(tmp_path, clock=clock)
    model = poller.models["m"]
    await poller.handle(UnloadModel(model_name="m"))
    assert versions(sent[-1]) == [] and poller.unloaded == {"m"}
    poller.poll_once()
    assert versions(sent[-1]) == []  # every poll keeps it empty
    await poller.handle(SetModels(models=(model,)))
    assert versions(sent[-1]) == []  # an unchanged entry keeps the mark
    await poller.handle(LoadModel(model_name="m"))
    assert versions(sent[-1]) == [1] and poller.unloaded == set()
    await poller.handle(UnloadModel(model_name="m"))
    changed = ModelSettings(name="m", base_path=str(tmp_path), version_policy=All())
    await poller.handle(SetModels(models=(changed,)))
    assert versions(sent[-1]) == [1]  # a changed entry clears it
    with pytest.raises(ServingError) as failure:
        await poller.handle(UnloadModel(model_name="other"))
    assert failure.value.code is Code.NOT_FOUND


def test_version_numbers_above_int64_are_not_versions() -> None:
    assert version_number("9223372036854775807") == 2**63 - 1
    assert version_number("9223372036854775808") is None
    assert version_number("99999999999999999999") is None
