"""Authentication on both APIs: basic users (bcrypt and sha256) and bearer tokens.

Server A: defaults (health open, /metrics protected), serving TF Serving's half_plus_two.
Server B: ``--auth_protect_health`` and ``--auth_open_metrics``, serving half_plus_two as
an ONNX model: what it checks does not depend on the platform, and without a TensorFlow
model it starts without TensorFlow. The secrets must never appear in the server's log.
Both servers start at the same time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import grpc
import numpy as np
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import predict_pb2

from tests.integration.half_plus_two_onnx import write_half_plus_two_onnx
from tests.integration.server_process import ServerProcess, ServerStarter

BCRYPT_PASSWORD = "correct horse battery"
SHA_PASSWORD = "another-secret-pw"
TOKEN = "tok_0123456789abcdefABCDEF"
PREDICT_PATH = "/v1/models/default:predict"
PREDICT_BODY = json.dumps({"instances": [1.0]}).encode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def credential_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    directory = tmp_path_factory.mktemp("auth")
    hashed = bcrypt.hashpw(BCRYPT_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    users = directory / "users"
    users.write_text(
        "# user:hash\n"
        f"alice:{hashed}\n"
        f"bob:sha256:{hashlib.sha256(SHA_PASSWORD.encode()).hexdigest()}\n"
    )
    tokens = directory / "tokens"
    tokens.write_text(f"# one per line\n{TOKEN}\n")
    return [f"--auth_basic_users_file={users}", f"--auth_bearer_tokens_file={tokens}"]


@pytest.fixture(scope="module")
def servers(
    start_server: ServerStarter,
    testdata: Path,
    credential_files: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> list[ServerProcess]:
    """Server A and server B, started together."""
    onnx_model = write_half_plus_two_onnx(tmp_path_factory.mktemp("onnx") / "half_plus_two")
    return start_server.together(
        [f"--model_base_path={testdata / 'saved_model_half_plus_two_cpu'}", *credential_files],
        [
            f"--model_base_path={onnx_model}",
            *credential_files,
            "--auth_protect_health",
            "--auth_open_metrics",
        ],
    )


@pytest.fixture(scope="module")
def server(servers: list[ServerProcess]) -> ServerProcess:
    return servers[0]


@pytest.fixture(scope="module")
def strict_server(servers: list[ServerProcess]) -> ServerProcess:
    return servers[1]


def rest(
    server: ServerProcess,
    method: str,
    path: str,
    authorization: str | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, list[str]], bytes]:
    request = urllib.request.Request(server.rest_url + path, data=body, method=method)
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return (
                response.status,
                {"WWW-Authenticate": response.headers.get_all("WWW-Authenticate") or []},
                response.read(),
            )
    except urllib.error.HTTPError as error:
        return (
            error.code,
            {"WWW-Authenticate": error.headers.get_all("WWW-Authenticate") or []},
            error.read(),
        )


def grpc_predict(server: ServerProcess, authorization: str | None) -> predict_pb2.PredictResponse:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[2.0]], np.float32)))
    metadata = [("authorization", authorization)] if authorization is not None else None
    return server.prediction.Predict(request, timeout=30, metadata=metadata)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        basic("alice", "wrong"),
        basic("mallory", BCRYPT_PASSWORD),
        "Bearer not-the-token-0000000",
        "Basic !!!",
    ],
)
def test_rest_refuses_missing_or_wrong_credentials_with_401_and_a_challenge(
    server: ServerProcess, authorization: str | None
) -> None:
    status, headers, body = rest(server, "POST", PREDICT_PATH, authorization, PREDICT_BODY)
    assert status == 401
    assert sorted(c.split()[0] for c in headers["WWW-Authenticate"]) == ["Basic", "Bearer"]
    assert "Unauthenticated" in json.loads(body)["error"]


@pytest.mark.parametrize(
    "authorization",
    [basic("alice", BCRYPT_PASSWORD), basic("bob", SHA_PASSWORD), f"Bearer {TOKEN}"],
)
def test_rest_serves_valid_credentials(server: ServerProcess, authorization: str) -> None:
    status, _, body = rest(server, "POST", PREDICT_PATH, authorization, PREDICT_BODY)
    assert (status, json.loads(body)) == (200, {"predictions": [2.5]})


def test_grpc_refuses_missing_or_wrong_credentials_with_unauthenticated(
    server: ServerProcess,
) -> None:
    for authorization in (None, basic("bob", "wrong"), "Bearer nope-nope-nope-nope-nope"):
        with pytest.raises(grpc.RpcError) as refused:
            grpc_predict(server, authorization)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, authorization


def test_grpc_serves_valid_credentials(server: ServerProcess) -> None:
    for authorization in (f"Bearer {TOKEN}", basic("alice", BCRYPT_PASSWORD)):
        response = grpc_predict(server, authorization)
        np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[3.0]])


def test_health_is_open_and_metrics_protected_by_default(server: ServerProcess) -> None:
    health = health_pb2_grpc.HealthStub(server.channel).Check(
        health_pb2.HealthCheckRequest(), timeout=5
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert rest(server, "GET", "/metrics")[0] == 401
    status, _, body = rest(server, "GET", "/metrics", f"Bearer {TOKEN}")
    assert status == 200
    text = body.decode()
    assert 'aioserving_auth_failures_total{API="rest",reason="missing"}' in text
    assert 'aioserving_auth_failures_total{API="grpc",reason="invalid"}' in text


def test_no_secret_reaches_the_log(server: ServerProcess) -> None:
    log = server.log()
    for secret in (BCRYPT_PASSWORD, SHA_PASSWORD, TOKEN, "$2b$"):
        assert secret not in log


def test_protect_health_and_open_metrics(strict_server: ServerProcess) -> None:
    health = health_pb2_grpc.HealthStub(strict_server.channel)
    with pytest.raises(grpc.RpcError) as refused:
        health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    answer = health.Check(
        health_pb2.HealthCheckRequest(), timeout=5, metadata=[("authorization", f"Bearer {TOKEN}")]
    )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert rest(strict_server, "GET", "/metrics")[0] == 200
    assert rest(strict_server, "POST", PREDICT_PATH, None, PREDICT_BODY)[0] == 401
