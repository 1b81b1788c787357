"""The V2 REST handlers in-process: aiohttp's test client over the V2 plane of real actors.

The routes are served by the real ``RestServer`` (``tests/unit/frontends/v2_served.py``
says which models exist); answers are compared whole where their shape is the contract.
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dataplane.v2 import V2Plane
from frontends.rest_server import RestServer, RestSettings
from frontends.v2_rest import V2Rest
from protocol.v2_codec import INFERENCE_HEADER
from tests.unit.actors.fakes import HalfPlusTwo
from tests.unit.frontends.v2_served import V2Served

Client = TestClient[Any, Any]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[V2Served]:
    served = V2Served(tmp_path)
    await served.start()
    yield served
    await served.stop()


@pytest.fixture
async def client(served: V2Served) -> AsyncIterator[Client]:
    routes = V2Rest(served.v2, observer=served.metrics).routes()
    server = RestServer(RestSettings(host="127.0.0.1", port=0), routes)
    async with TestClient(TestServer(server.app)) as test_client:
        yield test_client


async def call(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    response = await client.request(method, path, data=data)
    raw = await response.read()
    return response.status, json.loads(raw) if raw else None


X_12 = {"name": "x", "datatype": "FP32", "shape": [2, 1], "data": [1.0, 3.0]}


async def test_server_metadata_live_and_ready(client: Client) -> None:
    assert await call(client, "GET", "/v2") == (
        200,
        {
            "name": "aioserving",
            "version": "0.1.0",
            "extensions": [
                "binary_tensor_data",
                "model_configuration",
                "statistics",
                "system_shared_memory",
                "model_repository",
            ],
        },
    )
    assert await call(client, "GET", "/v2/health/live") == (200, {"live": True})
    # "empty" has no version: the server is not ready, and says which model and why.
    assert await call(client, "GET", "/v2/health/ready") == (
        503,
        {"ready": False, "reasons": ["model 'empty': no version found or loaded yet"]},
    )


async def test_model_metadata(client: Client) -> None:
    tensor = {"datatype": "FP32", "shape": [-1, 1]}
    expected = {
        "name": "half",
        "versions": ["1"],
        "platform": "tensorflow_savedmodel",
        "inputs": [{"name": "x", **tensor}],
        "outputs": [{"name": "y", **tensor}],
    }
    assert await call(client, "GET", "/v2/models/half") == (200, expected)
    assert await call(client, "GET", "/v2/models/half/versions/1") == (200, expected)


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/v2/models/half/ready", 200, {"name": "half", "ready": True}),
        ("/v2/models/half/versions/1/ready", 200, {"name": "half", "ready": True}),
        ("/v2/models/empty/ready", 503, {"name": "empty", "ready": False}),
        ("/v2/models/nope/ready", 404, {"error": "Request for unknown model: 'nope' is not found"}),
    ],
)
async def test_model_ready(client: Client, path: str, status: int, body: Any) -> None:
    assert await call(client, "GET", path) == (status, body)


async def test_model_config(client: Client) -> None:
    tensor = {"data_type": "TYPE_FP32", "dims": [-1, 1]}
    assert await call(client, "GET", "/v2/models/half/config") == (
        200,
        {
            "name": "half",
            "platform": "tensorflow_savedmodel",
            "max_batch_size": 0,
            "input": [{"name": "x", **tensor}],
            "output": [{"name": "y", **tensor}],
        },
    )


async def test_infer_json(client: Client, served: V2Served) -> None:
    status, body = await call(
        client, "POST", "/v2/models/half/infer", {"id": "r1", "inputs": [X_12]}
    )
    assert (status, body) == (
        200,
        {
            "id": "r1",
            "model_name": "half",
            "model_version": "1",
            "outputs": [{"name": "y", "datatype": "FP32", "shape": [2, 1], "data": [2.5, 3.5]}],
        },
    )
    assert served.request_count("half", "OK") == 1


async def test_infer_binary_in_and_out(client: Client) -> None:
    document = {
        "inputs": [
            {
                "name": "x",
                "datatype": "FP32",
                "shape": [2, 1],
                "parameters": {"binary_data_size": 8},
            }
        ],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
    }
    header = json.dumps(document).encode()
    response = await client.post(
        "/v2/models/half/versions/1/infer",
        data=header + struct.pack("<2f", 1.0, 3.0),
        headers={INFERENCE_HEADER: str(len(header))},
    )
    assert response.status == 200
    assert response.content_type == "application/octet-stream"
    raw = await response.read()
    length = int(response.headers[INFERENCE_HEADER])
    answer = json.loads(raw[:length])
    assert answer["outputs"] == [
        {"name": "y", "datatype": "FP32", "shape": [2, 1], "parameters": {"binary_data_size": 8}}
    ]
    assert struct.unpack("<2f", raw[length:]) == (2.5, 3.5)


async def test_statistics_count_the_inferences(client: Client) -> None:
    await call(client, "POST", "/v2/models/half/infer", {"inputs": [X_12]})
    status, body = await call(client, "GET", "/v2/models/half/stats")
    assert status == 200
    [stats] = body["model_stats"]
    assert (stats["name"], stats["version"]) == ("half", "")
    assert (stats["inference_count"], stats["execution_count"]) == (1, 1)
    assert stats["inference_stats"]["success"]["count"] == 1
    assert stats["inference_stats"]["fail"] == {"count": 0, "ns": 0}
    status, body = await call(client, "GET", "/v2/models/stats")
    assert [s["name"] for s in body["model_stats"]] == ["half", "broken", "empty"]
    assert await call(client, "GET", "/v2/models/nope/stats") == (
        404,
        {"error": "Request for unknown model: 'nope' is not found"},
    )


@pytest.mark.parametrize(
    ("path", "inputs", "status", "error"),
    [
        ("/v2/models/nope/infer", [X_12], 404, "Request for unknown model: 'nope' is not found"),
        (
            "/v2/models/half/versions/7/infer",
            [X_12],
            404,
            "Request for unknown model: 'half' version 7 is not found",
        ),
        (
            "/v2/models/half/versions/beta/infer",
            [X_12],
            400,
            "failed to get model version from specified version string 'beta' (details: stol), "
            "version should be an integral value > 0",
        ),
        (
            "/v2/models/empty/infer",
            [X_12],
            503,
            "Request for unknown model: 'empty' has no available versions",
        ),
        (
            "/v2/models/half/infer",
            [{**X_12, "datatype": "INT32", "data": [1, 3]}],
            400,
            "input 'x' has datatype INT32 but the model expects FP32",
        ),
        (
            "/v2/models/half/infer",
            [{**X_12, "datatype": "FP99"}],
            400,
            "FP99",
        ),
        (
            "/v2/models/half/infer",
            [{**X_12, "name": "z"}],
            400,
            "unknown input 'z'; the model's inputs are ['x']",
        ),
    ],
)
async def test_infer_errors_have_v2_statuses_and_words(
    client: Client, served: V2Served, path: str, inputs: Any, status: int, error: str
) -> None:
    answer_status, body = await call(client, "POST", path, {"inputs": inputs})
    assert answer_status == status
    assert error in body["error"]
    half = served.routing.snapshot.resolve("half")
    assert isinstance(half, HalfPlusTwo) and half.calls == []  # refused before the model ran


async def test_a_bug_in_the_model_call_is_a_json_500_and_is_counted(
    client: Client, served: V2Served
) -> None:
    status, body = await call(client, "POST", "/v2/models/broken/infer", {"inputs": [X_12]})
    assert (status, body) == (500, {"error": "RuntimeError: the model call has a bug"})
    assert served.request_count("broken", "INTERNAL") == 1
    assert served.metrics.model_stats()["broken"].fail_count == 1


async def test_a_bug_in_a_plane_call_is_a_json_500_and_is_counted(served: V2Served) -> None:
    def stats_with_a_bug() -> dict[str, Any]:
        raise KeyError("tally")

    plane = V2Plane(plane=served.plane, health=served.v2.health, stats=stats_with_a_bug)
    server = RestServer(RestSettings(), V2Rest(plane, observer=served.metrics).routes())
    async with TestClient(TestServer(server.app)) as client:
        status, body = await call(client, "GET", "/v2/models/half/stats")
    assert (status, body) == (500, {"error": "KeyError: 'tally'"})
    assert served.request_count("half", "INTERNAL") == 1


async def test_a_bad_body_is_400(client: Client) -> None:
    response = await client.post("/v2/models/half/infer", data=b"{not json")
    assert response.status == 400
    assert "JSON" in (await response.json())["error"]


async def test_repository_index_unload_and_load(client: Client) -> None:
    status, index = await call(client, "POST", "/v2/repository/index")
    assert status == 200
    assert index == [
        {"name": "half", "version": "1", "state": "READY", "reason": ""},
        {"name": "broken", "version": "1", "state": "READY", "reason": ""},
        {"name": "empty", "version": "", "state": "UNAVAILABLE", "reason": "no version loaded"},
    ]
    assert await call(client, "POST", "/v2/repository/index", {"ready": True}) == (
        200,
        index[:2],
    )

    assert await call(client, "POST", "/v2/repository/models/half/unload") == (200, None)
    assert await call(client, "GET", "/v2/models/half/ready") == (
        503,
        {"name": "half", "ready": False},
    )
    status, index = await call(client, "POST", "/v2/repository/index")
    assert index[0] == {
        "name": "half",
        "version": "1",
        "state": "UNAVAILABLE",
        "reason": "unloaded",
    }

    assert await call(client, "POST", "/v2/repository/models/half/load", {}) == (200, None)
    assert await call(client, "GET", "/v2/models/half/ready") == (
        200,
        {"name": "half", "ready": True},
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        (
            "/v2/repository/models/half/load",
            {"parameters": {"config": "{}"}},
            400,
            "model 'half' (tensorflow, ",  # its loader reads no Triton configuration
        ),
        (
            "/v2/repository/models/half/load",
            {"parameters": {"config": '{"max_batch_size": "x"}'}},
            400,
            "failed to load 'half': the 'config' parameter: ",
        ),
        (
            "/v2/repository/models/half/load",
            {"parameters": {"file:1/model.onnx": "AAAA"}},
            400,
            "load parameter 'file:1/model.onnx' is not supported",
        ),
        ("/v2/repository/models/nope/load", None, 404, "nope"),
        ("/v2/repository/models/nope/unload", None, 404, "nope"),
        ("/v2/repository/index", {"ready": "yes"}, 400, "'ready' must be true or false"),
    ],
)
async def test_repository_errors(
    client: Client, path: str, body: Any, status: int, error: str
) -> None:
    answer_status, answer = await call(client, "POST", path, body)
    assert answer_status == status
    assert error in answer["error"]


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        # Triton's HTTP server answers every error as JSON; tritonclient parses the body.
        ("GET", "/v2/nothing/here", 404, "Not Found"),
        ("POST", "/v2/models/half/versions/1/explain", 404, "Not Found"),
        ("DELETE", "/v2/repository/index", 405, "Method Not Allowed"),
        ("GET", "/v2/models/half/infer", 405, "Method Not Allowed"),
        ("POST", "/v2/health/live", 405, "Method Not Allowed"),
    ],
)
async def test_unknown_paths_and_methods_answer_json(
    client: Client, method: str, path: str, status: int, error: str
) -> None:
    assert await call(client, method, path) == (status, {"error": error})


async def test_a_negative_version_is_invalid_as_in_triton(client: Client) -> None:
    assert await call(client, "GET", "/v2/models/half/versions/-1") == (
        400,
        {"error": "invalid model version specified '-1' , version should be an integral value > 0"},
    )


async def test_readiness_of_a_version_string_that_is_no_label_is_invalid(client: Client) -> None:
    """Triton's ModelReady parses the version string first (GetModelVersionFromString)."""
    status, body = await call(client, "GET", "/v2/models/half/versions/beta/ready")
    assert status == 400
    assert body["error"].startswith("failed to get model version from specified version string")
