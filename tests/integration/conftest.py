"""Fixtures that start real servers, shared as widely as their tests allow.

``start_server`` (module scope), ``start_package_server`` (package scope) and
``start_session_server`` (session scope) each give ``start(*flags) -> ServerProcess``;
every server a starter started is stopped when its scope ends. A fixture that yields a
server nobody changes should use the widest scope whose tests can share it: each server
costs seconds of CPU to start (the process imports TensorFlow and loads its models).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.server_process import ServerProcess, testdata_dir


@pytest.fixture(scope="session")
def testdata() -> Path:
    return testdata_dir()


@contextlib.contextmanager
def servers_stopped_at_exit(workdir: Path) -> Iterator[Callable[..., ServerProcess]]:
    """``start(*flags)`` starts a server in ``workdir``; all are stopped when the block exits."""
    started: list[ServerProcess] = []

    def start(*args: str) -> ServerProcess:
        server = ServerProcess(args, workdir)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:  # all stop at once: each stop takes a while
            server.signal_stop()
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def start_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServerProcess]]:
    """``start_server(*flags)`` starts a server; all are stopped at module end."""
    with servers_stopped_at_exit(tmp_path_factory.mktemp("server")) as start:
        yield start


@pytest.fixture(scope="package")
def start_package_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServerProcess]]:
    """Like ``start_server``, but its servers live until the test package's last test."""
    with servers_stopped_at_exit(tmp_path_factory.mktemp("package_server")) as start:
        yield start


@pytest.fixture(scope="session")
def start_session_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServerProcess]]:
    """Like ``start_server``, but its servers live until the end of the test session."""
    with servers_stopped_at_exit(tmp_path_factory.mktemp("session_server")) as start:
        yield start


def copy_model(source: Path, destination: Path, versions: list[str] | None = None) -> Path:
    """Copy a test model's base path (optionally only some version folders)."""
    destination.mkdir(parents=True, exist_ok=True)
    for child in source.iterdir():
        if versions is None or child.name in versions:
            shutil.copytree(child, destination / child.name)
    return destination
