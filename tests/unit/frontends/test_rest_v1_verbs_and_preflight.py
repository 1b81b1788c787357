"""``/v1`` verbs and subresources compared exactly, and the CORS preflight, as TF Serving.

Sources (tensorflow/serving): ``http_rest_api_util.cc`` (the ``(?i)`` URL patterns),
``http_rest_api_handler.cc`` (``method == "predict"``, ``model_subresource ==
"metadata"``: compared case-sensitively after the case-insensitive match),
``http_server.cc`` (``OPTIONS``: 200 when ``Origin`` matches ``https?://``, else
FAILED_PRECONDITION; ``AddCORSHeaders`` when CORS is on).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from frontends.rest_server import RestServer, RestSettings
from frontends.rest_v1 import V1Rest, V1Settings
from tests.unit.frontends.test_rest_v1 import Served, served_plane, v1_server

Client = TestClient[Any, Any]
ROW = b'{"instances": [1.0]}'


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    served = await served_plane()
    yield served
    await served.executor.stop(5)


@pytest.fixture
async def client(served: Served) -> AsyncIterator[Client]:
    async with TestClient(TestServer(v1_server(served).app)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "path", ["/v1/models/half:PREDICT", "/v1/models/half:Predict", "/V1/MODELS/half:Classify"]
)
async def test_a_verb_in_another_case_is_malformed(client: Client, path: str) -> None:
    response = await client.post(path, data=ROW)
    assert response.status == 400
    assert json.loads(await response.read()) == {"error": f"Malformed request: POST {path}"}


async def test_the_prefix_still_matches_in_any_case(client: Client) -> None:
    response = await client.post("/V1/Models/half/Versions/1:predict", data=ROW)
    assert (response.status, json.loads(await response.read())) == (200, {"predictions": [2.5]})


async def test_metadata_in_another_case_answers_the_status(client: Client) -> None:
    response = await client.get("/v1/models/half/METADATA")
    body = json.loads(await response.read())
    assert response.status == 200 and "model_version_status" in body


@pytest.mark.parametrize("cors", [False, True])
@pytest.mark.parametrize("origin", ["http://localhost:3000", "https://app.example"])
async def test_a_preflight_with_an_origin_is_200(served: Served, cors: bool, origin: str) -> None:
    v1 = V1Rest(served.plane, V1Settings(cors=cors), examples=served.examples)
    server = RestServer(RestSettings(cors=cors), v1.routes())
    async with TestClient(TestServer(server.app)) as client:
        response = await client.options("/v1/models/half:predict", headers={"Origin": origin})
        assert (response.status, await response.read()) == (200, b"")
        if cors:
            assert response.headers["Access-Control-Allow-Methods"] == "POST, GET"
            assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"
        else:
            assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("headers", [{}, {"Origin": "null"}, {"Origin": "app.example"}])
async def test_a_preflight_without_an_http_origin_is_refused(
    client: Client, headers: dict[str, str]
) -> None:
    response = await client.options("/v1/models/half:predict", headers=headers)
    assert (response.status, json.loads(await response.read())) == (
        400,
        {"error": "Origin header is missing in CORS preflight"},
    )
