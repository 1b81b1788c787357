"""One hardened server for the whole suite (session-scoped: start-up is most of its time), with small limits so that the caps are cheap to reach.

The server serves ``hpt`` (half_plus_two: ``x`` float32 -> ``y``) from a copy of its base
path that also holds a version folder named above int64, which must be ignored.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.server_process import ServerProcess, testdata_dir

MAX_BODY_BYTES = 1024**2
MAX_TENSOR_BYTES = 4 * 1024**2
IDLE_TIMEOUT_SECONDS = 1.0
TOO_BIG_VERSION = "99999999999999999999"  # 20 digits: above int64


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("reliability")
    base = workdir / "hpt"
    source = testdata_dir() / "saved_model_half_plus_two_cpu"
    shutil.copytree(source, base)
    shutil.copytree(source / "00000123", base / TOO_BIG_VERSION)
    process = ServerProcess(
        [
            f"--model_base_path={base}",
            "--model_name=hpt",
            f"--rest_max_body_bytes={MAX_BODY_BYTES}",
            f"--max_request_tensor_bytes={MAX_TENSOR_BYTES}",
            f"--rest_idle_timeout_seconds={IDLE_TIMEOUT_SECONDS}",
            "--file_system_poll_wait_seconds=1",
        ],
        workdir,
    )
    yield process
    assert process.stop() == 0, process.log()[-3000:]


def base_path(server: ServerProcess) -> Path:
    return server.port_file.parent / "hpt"
