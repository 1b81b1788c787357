"""A configured model with no loadable version: the server is live but not ready (V2 503s)."""

from __future__ import annotations

import json

import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from tests.integration.server_process import ServerProcess


def test_a_model_without_versions_makes_the_server_not_ready(
    unready_server: ServerProcess,
) -> None:
    """The session's ``unready_server``: ``ok`` loaded, ``waiting`` without a version."""
    server = unready_server
    assert server.http("GET", "/v2/health/live") == (200, {"live": True})
    status, body = server.http("GET", "/v2/health/ready")
    assert status == 503 and body["ready"] is False
    assert body["reasons"] == ["model 'waiting': no version found or loaded yet"]
    assert server.http("GET", "/v2/models/waiting/ready") == (
        503,
        {"name": "waiting", "ready": False},
    )
    body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}]}
    status, response = server.http("POST", "/v2/models/waiting/infer", json.dumps(body))
    assert (status, response) == (
        503,
        {"error": "Request for unknown model: 'waiting' has no available versions"},
    )
    grpc_client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    assert grpc_client.is_server_live() and not grpc_client.is_server_ready()
    http = httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")
    assert http.is_model_ready("ok") and not http.is_server_ready()
