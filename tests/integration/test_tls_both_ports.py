"""TLS on the REST port (``--rest_ssl_config_file``) and mutual TLS on both ports.

Server A: gRPC with mutual TLS (``client_verify: true``), REST with TLS only; it serves
TF Serving's half_plus_two. Server B: REST with mutual TLS, serving half_plus_two as an
ONNX model (TLS does not depend on the platform, and without a TensorFlow model the
server starts without TensorFlow). (gRPC with TLS only is ``test_tls.py``.)
The certificates are made by the test (``tests.integration.certificates``). Both servers
start at the same time.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.integration.certificates import Pki, make_pki
from tests.integration.half_plus_two_onnx import write_half_plus_two_onnx
from tests.integration.server_process import ServerProcess, ServerStarter

PREDICT_BODY = json.dumps({"instances": [1.0, 2.0]}).encode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def servers(
    start_server: ServerStarter,
    testdata: Path,
    pki: Pki,
    tmp_path_factory: pytest.TempPathFactory,
) -> list[ServerProcess]:
    """Server A and server B, started together."""
    a = tmp_path_factory.mktemp("tls-a")
    b = tmp_path_factory.mktemp("tls-b")
    onnx_model = write_half_plus_two_onnx(b / "half_plus_two")
    return start_server.together(
        [
            f"--model_base_path={testdata / 'saved_model_half_plus_two_cpu'}",
            f"--ssl_config_file={pki.ssl_config(a / 'grpc.config', client_verify=True)}",
            f"--rest_ssl_config_file={pki.ssl_config(a / 'rest.config', client_verify=False)}",
        ],
        [
            f"--model_base_path={onnx_model}",
            f"--rest_ssl_config_file={pki.ssl_config(b / 'rest.config', client_verify=True)}",
        ],
    )


@pytest.fixture(scope="module")
def server_a(servers: list[ServerProcess]) -> ServerProcess:
    return servers[0]


@pytest.fixture(scope="module")
def server_b(servers: list[ServerProcess]) -> ServerProcess:
    return servers[1]


def https_predict(server: ServerProcess, context: ssl.SSLContext) -> tuple[int, Any]:
    url = f"https://localhost:{server.rest_port}/v1/models/default:predict"
    request = urllib.request.Request(url, data=PREDICT_BODY, method="POST")
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        return response.status, json.loads(response.read())


def client_context(pki: Pki, *, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca_file)
    if with_certificate:
        context.load_cert_chain(pki.client_cert_file, pki.client_key_file)
    return context


def grpc_predict(
    server: ServerProcess, credentials: grpc.ChannelCredentials
) -> predict_pb2.PredictResponse:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[2.0]], np.float32)))
    with grpc.secure_channel(f"localhost:{server.grpc_port}", credentials) as channel:
        return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=30
        )


def test_rest_serves_https_with_the_servers_certificate(server_a: ServerProcess, pki: Pki) -> None:
    assert https_predict(server_a, client_context(pki, with_certificate=False)) == (
        200,
        {"predictions": [2.5, 3.0]},
    )


def test_rest_over_tls_refuses_plain_http(server_a: ServerProcess) -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        server_a.http("POST", "/v1/models/default:predict", PREDICT_BODY)


def test_rest_https_is_refused_by_a_client_that_does_not_trust_the_ca(
    server_a: ServerProcess,
) -> None:
    with pytest.raises(urllib.error.URLError) as refused:
        https_predict(server_a, ssl.create_default_context())
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def test_grpc_mutual_tls_serves_a_client_with_a_certificate(
    server_a: ServerProcess, pki: Pki
) -> None:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca_cert.encode(),
        private_key=pki.client_key.encode(),
        certificate_chain=pki.client_cert.encode(),
    )
    response = grpc_predict(server_a, credentials)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[3.0]])


def test_grpc_mutual_tls_refuses_a_client_without_a_certificate(
    server_a: ServerProcess, pki: Pki
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        grpc_predict(server_a, grpc.ssl_channel_credentials(root_certificates=pki.ca_cert.encode()))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_rest_mutual_tls_serves_a_client_with_a_certificate(
    server_b: ServerProcess, pki: Pki
) -> None:
    status, body = https_predict(server_b, client_context(pki, with_certificate=True))
    assert (status, body) == (200, {"predictions": [2.5, 3.0]})


def test_rest_mutual_tls_refuses_a_client_without_a_certificate(
    server_b: ServerProcess, pki: Pki
) -> None:
    # TLS 1.3 finishes the client's side of the handshake before the server checks the
    # certificate, so the refusal reaches the client as an alert, an EOF or a reset
    # connection on its first read; never an HTTP answer.
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)) as refused:
        https_predict(server_b, client_context(pki, with_certificate=False))
    reason = getattr(refused.value, "reason", refused.value)
    assert isinstance(reason, ssl.SSLError | ConnectionError), repr(reason)
    assert not isinstance(reason, ssl.SSLCertVerificationError)  # the client trusted the server
