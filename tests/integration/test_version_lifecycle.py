"""Versions coming and going on disk while the real server runs.

One server (polling every second) serves one model per test, each from its own copy of a
test model; a test changes only its own model's folder and waits (bounded) for the server
to react, checking status through ``GetModelStatus``, answers through Predict, and the
log lines that name its model.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2

from tests.integration.conftest import copy_model
from tests.integration.server_process import ServerProcess

AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.END


def statuses(
    server: ServerProcess, model: str
) -> dict[int, get_model_status_pb2.ModelVersionStatus]:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    try:
        response = server.models.GetModelStatus(request, timeout=10)
    except grpc.RpcError:
        return {}
    return {s.version: s for s in response.model_version_status}


def state_of(server: ServerProcess, model: str, version: int) -> int | None:
    status = statuses(server, model).get(version)
    return status.state if status is not None else None


def predict(
    server: ServerProcess, model: str, x: float, version: int | None = None
) -> predict_pb2.PredictResponse:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[x]], np.float32)))
    return server.prediction.Predict(request, timeout=10)


SERVING_123 = ("copied", "corrupt", "half_copied")
"""Models that start with version 123 only; ``later``'s base path starts empty."""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Holds each model's base path (``root / model``) and the tests' staging folders."""
    return tmp_path_factory.mktemp("lifecycle")


@pytest.fixture(scope="module")
def server(start_server: Callable[..., ServerProcess], root: Path, testdata: Path) -> ServerProcess:
    for model in SERVING_123:
        copy_model(testdata / "saved_model_half_plus_two_2_versions", root / model, ["00000123"])
    # A base path that does not exist yet is rejected at start-up by config validation,
    # like TF Serving; an existing but empty one starts and waits.
    (root / "later").mkdir()
    config = root / "models.config"
    config.write_text(
        "model_config_list { "
        + " ".join(
            f'config {{ name: "{model}" base_path: "{root / model}" }}'
            for model in (*SERVING_123, "later")
        )
        + " }"
    )
    return start_server(
        f"--model_config_file={config}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=1",
        "--load_retry_interval_micros=100000",
    )


def load_failures(server: ServerProcess, model: str) -> list[str]:
    """The log lines reporting that a version of ``model`` failed to load."""
    names_model = re.compile(rf"\b{re.escape(model)}\b")
    return [
        line
        for line in server.log().splitlines()
        if "failed to load" in line and names_model.search(line)
    ]


def test_a_copied_in_version_is_served_and_a_removed_one_unloaded(
    server: ServerProcess, root: Path, testdata: Path
) -> None:
    base_path = root / "copied"
    assert predict(server, "copied", 2.0).model_spec.version.value == 123

    # Copy v124 in the way operators do: into a temporary name, then rename.
    staging = root / "copied-staging"
    shutil.copytree(testdata / "saved_model_half_plus_two_2_versions" / "00000124", staging)
    staging.rename(base_path / "00000124")
    server.wait_until(lambda: state_of(server, "copied", 124) == AVAILABLE, what="v124 AVAILABLE")
    server.wait_until(
        lambda: state_of(server, "copied", 123) == END, what="v123 unloaded (latest 1)"
    )
    response = predict(server, "copied", 2.0)
    assert response.model_spec.version.value == 124
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[3.0]])

    # Remove v124: v123 is aspired again, reloaded, and v124 goes away.
    shutil.rmtree(base_path / "00000124")
    server.wait_until(lambda: state_of(server, "copied", 123) == AVAILABLE, what="v123 back")
    server.wait_until(lambda: state_of(server, "copied", 124) == END, what="v124 unloaded")
    assert predict(server, "copied", 2.0).model_spec.version.value == 123
    with pytest.raises(grpc.RpcError) as gone:
        predict(server, "copied", 2.0, version=124)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_corrupt_version_ends_in_error_and_the_old_one_keeps_serving(
    server: ServerProcess, root: Path
) -> None:
    base_path = root / "corrupt"
    corrupt = root / "corrupt-staging"
    shutil.copytree(base_path / "00000123", corrupt)
    (corrupt / "saved_model.pb").write_bytes(b"this is not a protobuf")
    corrupt.rename(base_path / "00000124")

    def failed() -> bool:
        status = statuses(server, "corrupt").get(124)
        return status is not None and status.state == END and bool(status.status.error_message)

    server.wait_until(failed, what="v124 in the error state")
    status = statuses(server, "corrupt")[124]
    assert status.status.error_code != 0
    assert state_of(server, "corrupt", 123) == AVAILABLE
    assert predict(server, "corrupt", 4.0).model_spec.version.value == 123
    # Still failed on later polls, and not retried forever.
    time.sleep(2.5)
    assert state_of(server, "corrupt", 123) == AVAILABLE
    assert len(load_failures(server, "corrupt")) == 1, load_failures(server, "corrupt")


def test_a_half_copied_version_is_never_loaded_half_written(
    server: ServerProcess, root: Path, testdata: Path
) -> None:
    source = testdata / "saved_model_half_plus_two_2_versions" / "00000124"
    target = root / "half_copied" / "00000124"
    # Copy the variables first and the graph last, slowly, straight into the watched folder.
    shutil.copytree(source / "variables", target / "variables")
    shutil.copytree(source / "assets", target / "assets")
    time.sleep(2.5)  # two polls see a folder with no saved_model.pb
    assert state_of(server, "half_copied", 124) is None
    (target / "saved_model.pb").write_bytes((source / "saved_model.pb").read_bytes()[:100])
    time.sleep(0.5)  # a poll may see the truncated graph, but must not load it yet...
    (target / "saved_model.pb").write_bytes((source / "saved_model.pb").read_bytes())
    # ...because the folder keeps changing; once it is stable it loads cleanly.
    server.wait_until(
        lambda: state_of(server, "half_copied", 124) == AVAILABLE, what="v124 AVAILABLE"
    )
    assert not statuses(server, "half_copied")[124].status.error_message
    assert load_failures(server, "half_copied") == []


def test_base_path_missing_then_appearing(
    server: ServerProcess, root: Path, testdata: Path
) -> None:
    base = root / "later"  # existed, empty, when the server started
    with pytest.raises(grpc.RpcError) as missing:
        predict(server, "later", 1.0)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    copy_model(testdata / "saved_model_half_plus_two_cpu", base)
    server.wait_until(lambda: state_of(server, "later", 123) == AVAILABLE, what="v123 AVAILABLE")
    assert server.log().count(f"model later: no versions found under base path {base}") == 1
