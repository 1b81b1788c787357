"""gRPC over TLS from TF Serving's ``SSLConfig`` text file (PEM contents inline)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.integration.server_process import ServerProcess


def self_signed_certificate(directory: Path) -> tuple[str, str]:
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return key.read_text(), cert.read_text()


def test_grpc_serves_over_tls_and_refuses_plaintext(
    start_server: Callable[..., ServerProcess], testdata: Path, tmp_path: Path
) -> None:
    key, cert = self_signed_certificate(tmp_path)
    ssl_config = tmp_path / "ssl.config"
    ssl_config.write_text(f"server_key: {json.dumps(key)}\nserver_cert: {json.dumps(cert)}\n")
    server: ServerProcess = start_server(
        f"--model_base_path={testdata / 'saved_model_half_plus_two_cpu'}",
        f"--ssl_config_file={ssl_config}",
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[2.0]], np.float32)))

    credentials = grpc.ssl_channel_credentials(root_certificates=cert.encode())
    with grpc.secure_channel(f"localhost:{server.grpc_port}", credentials) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=30
        )
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[3.0]])

    with pytest.raises(grpc.RpcError) as plaintext:
        server.prediction.Predict(request, timeout=5)
    assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE
