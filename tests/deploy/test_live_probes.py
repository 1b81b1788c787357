"""The probe paths in the rendered manifests, asked of the real server.

Every ``httpGet`` path of every probe (the Deployment's and the KServe runtime's), the
Prometheus scrape path and the image's HEALTHCHECK are requested from a running server
on its REST port; the Service's gRPC port is asked ``grpc.health.v1.Health/Check``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.deploy.conftest import REPO_ROOT, Manifest
from tests.integration.server_process import ServerProcess

HEALTH_PREFIX = "/v2/health/"
# The body each health path answers with when healthy.
HEALTH_BODIES = {"/v2/health/live": {"live": True}, "/v2/health/ready": {"ready": True}}


def probe_paths(rendered: dict[str, list[Manifest]]) -> set[str]:
    paths: set[str] = set()
    for manifests in rendered.values():
        for manifest in manifests:
            spec: dict[str, Any] = manifest.get("spec", {})
            pod_spec = spec.get("template", {}).get("spec", spec)
            for container in pod_spec.get("containers", []):
                for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                    if kind in container:
                        paths.add(container[kind]["httpGet"]["path"])
    return paths


def get(server: ServerProcess, path: str) -> tuple[int, Any]:
    status, body = server.http("GET", path)
    return status, body


def test_manifests_probe_both_health_paths(rendered: dict[str, list[Manifest]]) -> None:
    assert probe_paths(rendered) == set(HEALTH_BODIES)


def test_every_probe_path_answers_200(
    rendered: dict[str, list[Manifest]], real_server: ServerProcess
) -> None:
    for path in sorted(probe_paths(rendered)):
        status, body = get(real_server, path)
        assert (status, body) == (200, HEALTH_BODIES[path]), path


def test_metrics_path_answers_200(real_server: ServerProcess) -> None:
    status, body = real_server.http("GET", "/metrics")
    assert status == 200
    assert ":tensorflow:serving:" in body


def load_healthcheck() -> ModuleType:
    path = REPO_ROOT / "deploy" / "docker" / "healthcheck.py"
    spec = importlib.util.spec_from_file_location("aioserving_healthcheck", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_image_healthcheck_passes_against_the_server(real_server: ServerProcess) -> None:
    healthcheck = load_healthcheck()
    get(real_server, healthcheck.READY_PATH)
    assert healthcheck.check(real_server.port_file) is None


def test_image_healthcheck_fails_before_the_port_file_exists(tmp_path: Path) -> None:
    assert "no port file" in load_healthcheck().check(tmp_path / "absent.json")


def test_grpc_health_service_reports_serving(real_server: ServerProcess) -> None:
    # grpc.health.v1.HealthCheckRequest{service: ""} is the empty message; the response's
    # field 1 (status) is SERVING = 1, encoded as b"\x08\x01".
    check = real_server.channel.unary_unary("/grpc.health.v1.Health/Check")
    response = check(b"", timeout=10)
    assert response == b"\x08\x01"
