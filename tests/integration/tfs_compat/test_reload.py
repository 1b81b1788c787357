"""HandleReloadConfigRequest rules from TF Serving's ``server_core.cc`` / ``server_core_test.cc``.

- With ``--allow_version_labels_for_unavailable_models`` only an *unused* label may name a
  version that is not loaded; moving an existing label there is still FAILED_PRECONDITION
  (server_core_test.cc, the AssignLabel...Unavailable cases).
- A relative ``base_path`` in a request is INVALID_ARGUMENT ("...to have an absolute path
  or URI"), while a relative path in the config file on disk stays allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import model_management_pb2

from tests.integration.server_process import ServerProcess


def config(testdata: Path, labels: dict[str, int], base_path: str | None = None) -> str:
    entries = " ".join(f'version_labels {{ key: "{k}" value: {v} }}' for k, v in labels.items())
    path = base_path or f"{testdata}/saved_model_half_plus_two_2_versions"
    return (
        f'model_config_list {{ config {{ name: "m" base_path: "{path}" model_platform: "tensorflow" '
        f"model_version_policy {{ specific {{ versions: 123 }} }} {entries} }} }}"
    )


def reload(server: ServerProcess, text: str) -> None:
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, request.config)
    response = server.models.HandleReloadConfigRequest(request, timeout=60)
    assert response.status.error_code == 0, response.status


def reload_error(server: ServerProcess, text: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        reload(server, text)
    return raised.value


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., ServerProcess],
    testdata: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    path = tmp_path_factory.mktemp("config") / "models.config"
    path.write_text(config(testdata, {"stable": 123}))
    yield start_server(
        f"--model_config_file={path}", "--allow_version_labels_for_unavailable_models=true"
    )


def test_moving_a_label_to_an_unloaded_version_is_failed_precondition(
    server: ServerProcess, testdata: Path
) -> None:
    error = reload_error(server, config(testdata, {"stable": 124}))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not currently available" in error.details()
    status, answer = server.http(
        "POST", "/v1/models/m/labels/stable:predict", {"instances": [[1.0]]}
    )
    assert (status, answer) == (200, {"predictions": [[2.5]]})  # the label did not move


def test_a_new_label_may_name_an_unloaded_version(server: ServerProcess, testdata: Path) -> None:
    reload(server, config(testdata, {"stable": 123, "next": 124}))


def test_relative_base_path_in_a_request_is_invalid_argument(
    server: ServerProcess, testdata: Path
) -> None:
    error = reload_error(server, config(testdata, {"stable": 123}, base_path="relative/path"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "to have an absolute path or URI" in error.details()
    assert server.http("GET", "/v1/models/m")[0] == 200
