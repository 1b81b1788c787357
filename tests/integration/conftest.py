"""Fixtures that start real servers; each module shares one server where it can."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.server_process import ServerProcess, testdata_dir


@pytest.fixture(scope="session")
def testdata() -> Path:
    return testdata_dir()


@pytest.fixture(scope="module")
def start_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServerProcess]]:
    """``start_server(*flags)`` starts a server; all are stopped at module end."""
    started: list[ServerProcess] = []
    workdir = tmp_path_factory.mktemp("server")

    def start(*args: str) -> ServerProcess:
        server = ServerProcess(args, workdir)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def copy_model(source: Path, destination: Path, versions: list[str] | None = None) -> Path:
    """Copy a test model's base path (optionally only some version folders)."""
    destination.mkdir(parents=True, exist_ok=True)
    for child in source.iterdir():
        if versions is None or child.name in versions:
            shutil.copytree(child, destination / child.name)
    return destination
