"""The REST server with the ``/v1`` handlers in-process: aiohttp's test client over a real DataPlane.

The routing snapshot is built by hand around numpy servables (no TensorFlow model):
``half`` is ``HalfPlusTwo`` (y = 0.5 x + 2) and ``m`` version 7 is the tf.Example model
of the example API tests. Inference runs on a started ``ExecutorPool``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from actors.executor_pool import ExecutorPool, ExecutorPoolOptions
from actors.routing import ModelRoute, RoutingSnapshot, RoutingTable
from dataplane.dataplane import DataPlane
from dataplane.examples import ExampleAPIs
from frontends.rest_calls import Route
from frontends.rest_server import RestServer, RestSettings
from frontends.rest_v1 import V1Rest, V1Settings
from protocol.versions import VersionState, VersionStatus
from servables.servable import Servable
from tests.unit.actors.fakes import HalfPlusTwo
from tests.unit.servables.tensorflow.test_example_apis import ExampleModel


def route(servable: Servable) -> ModelRoute:
    status = VersionStatus(version=servable.version, state=VersionState.AVAILABLE)
    return ModelRoute(
        name=servable.model_name,
        servables={servable.version: servable},
        statuses={servable.version: status},
        latest=servable,
    )


class Served:
    """A started executor pool and a data plane over a hand-built snapshot."""

    def __init__(self) -> None:
        self.half = HalfPlusTwo("half", 1)
        self.examples_model = ExampleModel()
        self.routing = RoutingTable()
        self.routing.publish(
            RoutingSnapshot({"half": route(self.half), "m": route(self.examples_model)})
        )
        self.executor = ExecutorPool(
            ExecutorPoolOptions(inference_threads=1, load_threads=1, unload_threads=1)
        )
        self.plane = DataPlane(routing=self.routing, executor=self.executor)
        self.examples = ExampleAPIs(self.plane)


async def served_plane() -> Served:
    served = Served()
    await served.executor.start()
    return served


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    served = await served_plane()
    yield served
    await served.executor.stop(5)


LOCAL = RestSettings(host="127.0.0.1", port=0)


def v1_server(
    served: Served,
    settings: RestSettings = LOCAL,
    *,
    routes: tuple[Route, ...] = (),
    middlewares: tuple[Any, ...] = (),
) -> RestServer:
    """A REST server with ``routes`` and then the ``/v1`` handlers, as the server wires them."""
    v1 = V1Rest(served.plane, examples=served.examples)
    return RestServer(settings, [*routes, *v1.routes()], middlewares=middlewares)


@pytest.fixture
async def client(served: Served) -> AsyncIterator[TestClient[Any, Any]]:
    frontend = v1_server(served)
    async with TestClient(TestServer(frontend.app)) as test_client:
        yield test_client


async def call(
    client: TestClient[Any, Any], method: str, path: str, body: bytes | None = None
) -> tuple[int, Any]:
    response = await client.request(method, path, data=body)
    return response.status, json.loads(await response.read())


async def test_predict_row_format(client: TestClient[Any, Any]) -> None:
    status, body = await call(
        client, "POST", "/v1/models/half:predict", b'{"instances": [[1.0], [3.0]]}'
    )
    assert (status, body) == (200, {"predictions": [[2.5], [3.5]]})


async def test_predict_columnar_format(client: TestClient[Any, Any], served: Served) -> None:
    status, body = await call(
        client, "POST", "/v1/models/half/versions/1:predict", b'{"inputs": {"x": [[1.0], [-2.0]]}}'
    )
    assert (status, body) == (200, {"outputs": [[2.5], [1.0]]})
    assert len(served.half.calls) == 1


async def test_status_json(client: TestClient[Any, Any]) -> None:
    status, body = await call(client, "GET", "/v1/models/half")
    assert status == 200
    assert body == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


async def test_metadata_json(client: TestClient[Any, Any]) -> None:
    status, body = await call(client, "GET", "/v1/models/half/versions/1/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "half", "version": "1", "signature_name": ""}
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert signature["outputs"]["y"]["name"] == "y:0"
    assert signature["method_name"] == "tensorflow/serving/predict"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/models/nope:predict", b'{"instances": [[1.0]]}'),
        ("GET", "/v1/models/nope", None),
        ("GET", "/v1/models/nope/metadata", None),
        ("GET", "/v1/models/half/versions/9", None),
    ],
)
async def test_an_unknown_model_or_version_is_404(
    client: TestClient[Any, Any], method: str, path: str, body: bytes | None
) -> None:
    status, document = await call(client, method, path, body)
    assert status == 404
    assert "nope" in document["error"] or "9" in document["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models/half/versions/abc"),
        ("POST", "/v1/models/half:explode"),
    ],
)
async def test_a_malformed_url_is_400(client: TestClient[Any, Any], method: str, path: str) -> None:
    status, body = await call(client, method, path, b"{}" if method == "POST" else None)
    assert status == 400
    assert body == {"error": f"Malformed request: {method} {path}"}


async def test_status_without_a_model_name_is_400_missing_model_name(
    client: TestClient[Any, Any],
) -> None:
    # TF Serving's http_rest_api_handler: GET /v1/models answers "Missing model name in request."
    status, body = await call(client, "GET", "/v1/models", None)
    assert status == 400
    assert body == {"error": "Missing model name in request."}


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"this is not json", "JSON"),
        (b'{"instances": [[1.0]], "inputs": {"x": [[1.0]]}}', "instances"),
        (b'{"signature_name": "nope", "instances": [[1.0]]}', "nope"),
    ],
)
async def test_a_bad_predict_body_is_400_naming_the_problem(
    client: TestClient[Any, Any], served: Served, body: bytes, names: str
) -> None:
    status, document = await call(client, "POST", "/v1/models/half:predict", body)
    assert status == 400
    assert names in document["error"]
    assert served.half.calls == []


# Ported from the ExampleAPIs unit tests (4a7c190), now through the REST frontend.


async def test_rest_classify_and_regress_bodies(client: TestClient[Any, Any]) -> None:
    body = b'{"signature_name": "scores_only", "examples": [{"x": 2.0}, {"x": 5.0}]}'
    response = await client.post("/v1/models/m/versions/7:classify", data=body)
    assert response.status == 200
    assert await response.read() == b'{"results":[[["",0.8],["",0.2]],[["",0.5],["",0.5]]]}'
    body = b'{"signature_name": "regress", "context": {"x": 100.0}, "examples": [{"q": 2.0}, {}]}'
    response = await client.post("/v1/models/m/versions/7:regress", data=body)
    assert response.status == 200
    assert await response.read() == b'{"results":[52.0,52.0]}'


@pytest.mark.parametrize("model", ["m", "nope"])
@pytest.mark.parametrize("method", ["classify", "regress"])
async def test_rest_body_errors_come_before_resolution(
    client: TestClient[Any, Any], served: Served, model: str, method: str
) -> None:
    status, document = await call(client, "POST", f"/v1/models/{model}:{method}", b"{}")
    assert status == 400  # INVALID_ARGUMENT, even for an unknown model: the body is read first
    assert "examples" in document["error"]
    assert served.examples_model.calls == []


# --- stop(grace_seconds) on a started frontend ---------------------------------------------


class Slow:
    """An extra route whose handler waits for ``release``; it counts as in flight."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False

    async def handler(self, request: web.Request) -> web.Response:
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return web.Response(text="done")


async def started_with_slow_route(served: Served, slow: Slow) -> RestServer:
    frontend = v1_server(served, routes=(("GET", "/slow", slow.handler),))
    await frontend.start()
    assert frontend.port > 0
    return frontend


async def test_stop_waits_for_an_in_flight_request(served: Served) -> None:
    slow = Slow()
    frontend = await started_with_slow_route(served, slow)
    async with aiohttp.ClientSession() as session:
        request = asyncio.create_task(session.get(f"http://127.0.0.1:{frontend.port}/slow"))
        await asyncio.wait_for(slow.entered.wait(), 10)
        stopping = asyncio.create_task(frontend.stop(30))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not stopping.done()
        slow.release.set()
        response = await asyncio.wait_for(request, 10)
        assert response.status == 200 and await response.text() == "done"
        await asyncio.wait_for(stopping, 10)
    assert not slow.cancelled


async def test_stop_closes_after_the_grace_period_when_a_request_hangs(served: Served) -> None:
    slow = Slow()  # never released
    frontend = await started_with_slow_route(served, slow)
    async with aiohttp.ClientSession() as session:
        request = asyncio.create_task(session.get(f"http://127.0.0.1:{frontend.port}/slow"))
        await asyncio.wait_for(slow.entered.wait(), 10)
        await asyncio.wait_for(frontend.stop(0.1), 10)
        with pytest.raises(aiohttp.ClientError):
            await asyncio.wait_for(request, 10)
    assert slow.cancelled


@web.middleware
async def _passing(
    request: web.Request, handler: Any
) -> web.StreamResponse:  # an extra middleware, as auth is: the chain is three then
    response: web.StreamResponse = await handler(request)
    return response


async def _raw_post(port: int, head: bytes, parts: list[bytes], pause_s: float) -> bytes:
    """POST ``parts`` of a body over a raw connection, ``pause_s`` apart; the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        for part in parts:
            await asyncio.sleep(pause_s)
            writer.write(part)
            await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()


@pytest.mark.parametrize("middlewares", [(), (_passing,)], ids=["one", "three"])
async def test_a_body_arriving_late_is_read_and_one_that_stalls_is_408(
    served: Served, middlewares: tuple[Any, ...]
) -> None:
    """A body still arriving when the request starts is awaited under the idle timeout
    (complete in time: answered; stalled: 408), with one middleware or the chain of three."""
    frontend = v1_server(
        served,
        RestSettings(host="127.0.0.1", port=0, idle_timeout_seconds=0.5),
        middlewares=middlewares,
    )
    await frontend.start()
    try:
        body = b'{"instances": [[1.0], [3.0]]}'
        head = (
            b"POST /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        late = await _raw_post(frontend.port, head, [body[:10], body[10:]], 0.1)
        assert late.startswith(b"HTTP/1.1 200") and late.endswith(b'{"predictions":[[2.5],[3.5]]}')
        stalled = await _raw_post(frontend.port, head, [body[:10]], 0.0)
        assert stalled.startswith(b"HTTP/1.1 408"), stalled[:100]
        assert b"did not arrive within 0.5 s" in stalled
    finally:
        await frontend.stop(1)


async def test_predict_urls_are_parsed_once_per_path_and_stay_apart(
    client: TestClient[Any, Any],
) -> None:
    """The per-path parse cache: repeated, encoded, versioned and unknown paths answer as
    uncached ones do, every time."""
    for _ in range(3):
        assert (await call(client, "POST", "/v1/models/half:predict", b'{"instances": [1.0]}')) == (
            200,
            {"predictions": [2.5]},
        )
        assert (
            await call(
                client, "POST", "/V1/MODELS/half/versions/1:predict", b'{"instances": [3.0]}'
            )
        ) == (200, {"predictions": [3.5]})
        status, body = await call(
            client, "POST", "/v1/models/half/versions/2:predict", b'{"instances": [1.0]}'
        )
        assert status == 404 and "half" in body["error"]
        status, body = await call(
            client, "POST", "/v1/models/ha%6Cf:predict", b'{"instances": [1.0]}'
        )
        assert (status, body) == (200, {"predictions": [2.5]})  # %6C decodes to "l"


def test_the_per_request_caches_stay_bounded() -> None:
    from frontends.rest_v1 import _PerRequestCaches
    from protocol.signatures import Signature, TensorSpec

    caches = _PerRequestCaches(limit=2)
    signatures = [
        Signature(
            name=f"s{i}",
            method_name="tensorflow/serving/predict",
            inputs={"x": TensorSpec(alias="x", tensor_name="x:0", dtype=1, shape=(-1,))},
            outputs={},
        )
        for i in range(5)
    ]
    for signature in signatures:
        dtypes = caches.input_dtypes(signature)
        assert caches.input_dtypes(signature) is dtypes and str(dtypes["x"]) == "float32"
        assert len(caches._dtypes) <= 2


async def test_with_cors_every_answer_and_the_preflight_carry_the_headers(served: Served) -> None:
    v1 = V1Rest(served.plane, V1Settings(cors=True), examples=served.examples)
    server = RestServer(RestSettings(cors=True), v1.routes())
    async with TestClient(TestServer(server.app)) as cors_client:
        preflight = await cors_client.options(
            "/v1/models/half:predict", headers={"Origin": "https://app.example"}
        )
        ok = await cors_client.post("/v1/models/half:predict", data=b'{"instances": [1.0]}')
        missing = await cors_client.get("/v1/models/nope")
        malformed = await cors_client.get("/v1/nothing/here")
    assert [r.status for r in (preflight, ok, missing, malformed)] == [200, 200, 404, 400]
    for response in (preflight, ok, missing, malformed):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Allow-Methods"] == "POST, GET"


async def test_a_bug_in_a_handler_is_a_json_500(
    client: TestClient[Any, Any], served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    def status_with_a_bug(ref: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(served.plane, "model_status", status_with_a_bug)
    assert await call(client, "GET", "/v1/models/half") == (
        500,
        {"error": "ZeroDivisionError: division by zero"},
    )
