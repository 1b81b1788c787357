"""Fixtures that start real servers, shared as widely as their tests allow.

``start_server`` (module scope) and ``start_session_server`` (session scope) each give a
``ServerStarter``: ``start(*flags) -> ServerProcess`` starts one server, and
``start.together([flags], [flags], ...)`` starts several at the same time (each imports
TensorFlow on its own core); every server a starter started is stopped when its scope
ends, all at once. A fixture that yields a server nobody changes should use the
widest scope whose tests can share it: each server costs seconds of CPU to start (the
process imports TensorFlow and loads its models).

``tf_serving_models_server`` is such a server, shared by the TF Serving API tests
(``tfs_compat/``, ``test_predict_api``, ``test_example_api``); its tests only read from it,
except that ``test_predict_api`` alone uses the stateful ``counter``.
``unready_server`` (live, not ready) is shared by ``test_health_and_drain`` and
``v2/test_v2_not_ready``, which only read from it. The two start together, when the first
of them is needed.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.server_process import ServerProcess, ServerStarter, testdata_dir


@pytest.fixture(scope="session")
def testdata() -> Path:
    return testdata_dir()


@contextlib.contextmanager
def servers_stopped_at_exit(workdir: Path) -> Iterator[ServerStarter]:
    """A ``ServerStarter`` for ``workdir``; its servers are stopped when the block exits."""
    starter = ServerStarter(workdir)
    try:
        yield starter
    finally:
        starter.stop_all()


@pytest.fixture(scope="module")
def start_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerStarter]:
    """``start_server(*flags)`` starts a server; all are stopped at module end."""
    with servers_stopped_at_exit(tmp_path_factory.mktemp("server")) as start:
        yield start


@pytest.fixture(scope="session")
def start_session_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerStarter]:
    """Like ``start_server``, but its servers live until the end of the test session."""
    with servers_stopped_at_exit(tmp_path_factory.mktemp("session_server")) as start:
        yield start


TF_SERVING_MODELS = """
model_config_list {{
  config {{ name: "half_plus_two" base_path: "{testdata}/saved_model_half_plus_two_cpu" model_platform: "tensorflow" }}
  config {{ name: "tf2" base_path: "{testdata}/saved_model_half_plus_two_tf2_cpu" model_platform: "tensorflow" }}
  config {{ name: "half_plus_three" base_path: "{testdata}/saved_model_half_plus_three" model_platform: "tensorflow" }}
  config {{
    name: "two_versions"
    base_path: "{testdata}/saved_model_half_plus_two_2_versions"
    model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
    version_labels {{ key: "stable" value: 123 }}
    version_labels {{ key: "canary" value: 124 }}
  }}
  config {{ name: "a/b:c" base_path: "{testdata}/saved_model_half_plus_two_cpu" model_platform: "tensorflow" }}
  config {{ name: "counter" base_path: "{testdata}/saved_model_counter" }}
}}
"""
"""half_plus_two (TF1), its TF2 export, half_plus_three, two versions with labels, a name
that needs escaping in URLs, and the stateful counter."""


@pytest.fixture(scope="session")
def shared_servers(
    start_session_server: ServerStarter,
    testdata: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, ServerProcess]:
    """The session's shared servers, by fixture name, started together."""
    directory = tmp_path_factory.mktemp("shared_servers")
    models = directory / "tf_serving_models.config"
    models.write_text(TF_SERVING_MODELS.format(testdata=testdata))
    (directory / "empty").mkdir()
    unready = directory / "unready.config"
    unready.write_text(
        "model_config_list {"
        f' config {{ name: "ok" base_path: "{testdata}/saved_model_half_plus_two_cpu" model_platform: "tensorflow" }}'
        f' config {{ name: "waiting" base_path: "{directory / "empty"}" model_platform: "tensorflow" }}'
        "}"
    )
    flags = {
        "tf_serving_models_server": [f"--model_config_file={models}"],
        "unready_server": [f"--model_config_file={unready}"],
    }
    return dict(zip(flags, start_session_server.together(*flags.values()), strict=True))


@pytest.fixture(scope="session")
def tf_serving_models_server(shared_servers: dict[str, ServerProcess]) -> ServerProcess:
    """One server with ``TF_SERVING_MODELS``, default flags, for the whole session."""
    return shared_servers["tf_serving_models_server"]


@pytest.fixture(scope="session")
def unready_server(shared_servers: dict[str, ServerProcess]) -> ServerProcess:
    """Serves ``ok`` (half_plus_two); ``waiting``'s base path has no version, so the server
    is live but not ready. Nobody may add a version there."""
    return shared_servers["unready_server"]


def copy_model(source: Path, destination: Path, versions: list[str] | None = None) -> Path:
    """Copy a test model's base path (optionally only some version folders)."""
    destination.mkdir(parents=True, exist_ok=True)
    for child in source.iterdir():
        if versions is None or child.name in versions:
            shutil.copytree(child, destination / child.name)
    return destination
