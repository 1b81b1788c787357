"""The Kubernetes manifests, rendered with ``kubectl kustomize`` and checked offline.

Built-in kinds are validated against the Kubernetes OpenAPI schemas that the
``kubernetes-validate`` package bundles (strict: unknown fields are errors). CRDs
(ServiceMonitor, ClusterServingRuntime, InferenceService) are not in those schemas and are
checked structurally here; their pod-level parts are validated as core objects. Ports,
flags and grace periods are compared with the values the server's code defines, and
``test_live_probes.py`` asks the real server for every probe path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from config.flags import ServerOptions, parse_flags
from config.model_config import model_config_from_text
from tests.deploy.conftest import KUBERNETES_DIR, KUSTOMIZATIONS, Manifest, only

KUBERNETES_VERSION = "1.30"
BASE = "base"
PROMETHEUS = "overlays/prometheus-operator"
KSERVE = "overlays/kserve"
KSERVE_EXAMPLE = "overlays/kserve-example"
DEFAULTS = ServerOptions()
SHUTDOWN_GRACE_SECONDS = DEFAULTS.grace_seconds  # --grace_seconds
CRD_GROUPS = ("monitoring.coreos.com/", "serving.kserve.io/")
# Structural checks for CRDs: the fields each kind cannot do without.
CRD_REQUIRED_SPEC_FIELDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("selector", "endpoints"),
    ("serving.kserve.io/v1alpha1", "ClusterServingRuntime"): (
        "supportedModelFormats",
        "containers",
    ),
    ("serving.kserve.io/v1beta1", "InferenceService"): ("predictor",),
}


def test_every_kustomization_is_tested() -> None:
    found = {str(path.relative_to(KUBERNETES_DIR)) for path in KUSTOMIZATIONS}
    assert found == {BASE, PROMETHEUS, KSERVE, KSERVE_EXAMPLE}


@pytest.mark.parametrize("name", [str(p.relative_to(KUBERNETES_DIR)) for p in KUSTOMIZATIONS])
def test_renders_and_validates(rendered: dict[str, list[Manifest]], name: str) -> None:
    assert rendered[name], f"{name} renders nothing"
    for manifest in rendered[name]:
        api_version, kind = manifest["apiVersion"], manifest["kind"]
        assert manifest["metadata"]["name"]
        if api_version.startswith(CRD_GROUPS):
            required = CRD_REQUIRED_SPEC_FIELDS[(api_version, kind)]
            missing = [field for field in required if field not in manifest["spec"]]
            assert not missing, f"{kind} {manifest['metadata']['name']} lacks spec.{missing}"
        else:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def validate_container(container: dict[str, Any]) -> None:
    """A container from a CRD, validated as a core/v1 Pod's only container."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "check"},
        "spec": {"containers": [container]},
    }
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def container_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port, resolving a port name against the container."""
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    assert named, f"container {container['name']} has no port named {port}"
    return int(named[0])


def http_probes(container: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {
        kind: (probe["httpGet"]["path"], container_port(container, probe["httpGet"]["port"]))
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
        if (probe := container.get(kind)) is not None
    }


@pytest.fixture(scope="module")
def base(rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    return rendered[BASE]


@pytest.fixture(scope="module")
def pod_spec(base: list[Manifest]) -> dict[str, Any]:
    spec: dict[str, Any] = only(base, "Deployment")["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def server_container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec["containers"]
    assert len(containers) == 1
    return containers[0]


def test_deployment_probes_liveness_and_readiness_on_the_rest_port(
    server_container: dict[str, Any],
) -> None:
    # Which paths answer is asked of the real server in test_live_probes.py.
    probes = http_probes(server_container)
    assert set(probes) == {"startupProbe", "livenessProbe", "readinessProbe"}
    assert probes["startupProbe"] == probes["livenessProbe"]
    assert probes["readinessProbe"][0] != probes["livenessProbe"][0]
    assert {port for _, port in probes.values()} == {DEFAULTS.rest_api_port}


def test_deployment_args_are_valid_server_flags(server_container: dict[str, Any]) -> None:
    options = parse_flags(server_container["args"])
    assert options.model_config_file is not None
    mounts = {m["mountPath"]: m["name"] for m in server_container["volumeMounts"]}
    assert str(options.model_config_file.parent) in mounts
    assert (options.port, options.rest_api_port) == (DEFAULTS.port, DEFAULTS.rest_api_port)


def test_models_config_in_the_configmap_is_valid(
    base: list[Manifest], pod_spec: dict[str, Any]
) -> None:
    configmap = only(base, "ConfigMap")
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert volumes["config"]["configMap"]["name"] == configmap["metadata"]["name"]
    settings = model_config_from_text(
        configmap["data"]["models.config"], "models.config", require_existing_base_path=False
    )
    mounts = {m["name"]: m["mountPath"] for m in pod_spec["containers"][0]["volumeMounts"]}
    for model in settings.models:
        assert Path(model.base_path).is_relative_to(mounts["models"]), model


def test_deployment_requests_resources_and_runs_as_non_root(
    pod_spec: dict[str, Any], server_container: dict[str, Any]
) -> None:
    assert {"cpu", "memory"} <= set(server_container["resources"]["requests"])
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["runAsUser"] != 0
    container_context = server_container["securityContext"]
    assert container_context["allowPrivilegeEscalation"] is False
    assert container_context["capabilities"]["drop"] == ["ALL"]


def test_termination_grace_outlasts_the_servers_shutdown(pod_spec: dict[str, Any]) -> None:
    assert pod_spec["terminationGracePeriodSeconds"] > SHUTDOWN_GRACE_SECONDS


def test_termination_grace_outlasts_drain_and_shutdown(
    pod_spec: dict[str, Any], server_container: dict[str, Any]
) -> None:
    # The image's entry point passes its own (shorter) defaults; the Deployment sets both.
    options = parse_flags(server_container["args"])
    assert "--drain_seconds" in " ".join(server_container["args"])
    assert "--grace_seconds" in " ".join(server_container["args"])
    grace = pod_spec["terminationGracePeriodSeconds"]
    assert grace > options.drain_seconds + options.grace_seconds


def test_service_names_grpc_for_h2c_and_targets_the_container_ports(
    base: list[Manifest], server_container: dict[str, Any]
) -> None:
    service = only(base, "Service")
    ports = {port["name"]: port for port in service["spec"]["ports"]}
    assert set(ports) == {"grpc", "http"}
    assert ports["grpc"]["appProtocol"] == "kubernetes.io/h2c"
    assert ports["grpc"]["port"] == DEFAULTS.port
    assert container_port(server_container, ports["grpc"]["targetPort"]) == DEFAULTS.port
    assert ports["http"]["port"] == DEFAULTS.rest_api_port
    assert container_port(server_container, ports["http"]["targetPort"]) == DEFAULTS.rest_api_port


def test_selectors_match_the_pods(base: list[Manifest]) -> None:
    deployment = only(base, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = [
        only(base, "Service")["spec"]["selector"],
        only(base, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"],
    ]
    for selector in selectors:
        assert selector.items() <= pod_labels.items()


def test_autoscaler_is_v2_and_scales_the_deployment(base: list[Manifest]) -> None:
    hpa = only(base, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "Deployment",
        only(base, "Deployment")["metadata"]["name"],
    )
    assert hpa["spec"]["minReplicas"] >= 2, "one replica cannot survive a disruption"
    assert "replicas" not in only(base, "Deployment")["spec"], "the autoscaler owns the count"


def test_prometheus_annotations_point_at_metrics_on_the_rest_port(base: list[Manifest]) -> None:
    annotations = only(base, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == DEFAULTS.rest_api_port


def test_servicemonitor_scrapes_metrics_from_the_services_rest_port(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered[PROMETHEUS]
    monitor = only(manifests, "ServiceMonitor")
    service = only(manifests, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    ports = {port["name"]: port["port"] for port in service["spec"]["ports"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert ports[endpoint["port"]] == DEFAULTS.rest_api_port
    assert endpoint["path"] == "/metrics"


def runtime_container(rendered: dict[str, list[Manifest]]) -> dict[str, Any]:
    runtime = only(rendered[KSERVE], "ClusterServingRuntime")
    (container,) = runtime["spec"]["containers"]
    return dict(container)


# KServe's own runtimes' ports: REST on Knative's default 8080, gRPC on 9000.
KSERVE_REST_PORT = 8080
KSERVE_GRPC_PORT = 9000


def test_kserve_runtime_declares_formats_and_protocols(
    rendered: dict[str, list[Manifest]],
) -> None:
    spec = only(rendered[KSERVE], "ClusterServingRuntime")["spec"]
    formats = {model_format["name"] for model_format in spec["supportedModelFormats"]}
    assert formats == {"tensorflow", "onnx", "sklearn", "xgboost"}
    assert set(spec["protocolVersions"]) == {"v1", "v2", "grpc-v1", "grpc-v2"}
    assert int(spec["annotations"]["prometheus.kserve.io/port"]) == KSERVE_REST_PORT


def test_kserve_container_serves_mnt_models_with_valid_flags(
    rendered: dict[str, list[Manifest]],
) -> None:
    container = runtime_container(rendered)
    assert container["name"] == "kserve-container"
    validate_container(container)
    # KServe fills in {{.Name}} with the InferenceService's name.
    options = parse_flags([arg.replace("{{.Name}}", "flowers") for arg in container["args"]])
    assert options.model_name == "flowers"
    assert options.model_base_path == "/mnt/models"
    assert options.model_platform == ""  # told from the files: KServe cannot pass one
    assert (options.port, options.rest_api_port) == (KSERVE_GRPC_PORT, KSERVE_REST_PORT)
    assert container["securityContext"]["runAsNonRoot"] is True


def test_kserve_runtime_leaves_the_one_port_and_its_probe_to_knative(
    rendered: dict[str, list[Manifest]],
) -> None:
    # KServe merges a runtime's ports with the InferenceService's, and Knative refuses a
    # revision with two; an HTTP probe would also reach the h2c port of a gRPC service.
    container = runtime_container(rendered)
    assert "ports" not in container
    assert not {"startupProbe", "livenessProbe", "readinessProbe"} & set(container)


def test_grpc_example_names_the_runtimes_grpc_port_h2c_and_nothing_else(
    rendered: dict[str, list[Manifest]],
) -> None:
    services = [m for m in rendered[KSERVE_EXAMPLE] if m["kind"] == "InferenceService"]
    grpc = [s for s in services if s["spec"]["predictor"]["model"].get("protocolVersion")]
    (model,) = [s["spec"]["predictor"]["model"] for s in grpc]
    assert model["protocolVersion"] == "grpc-v2"
    assert model["ports"] == [{"name": "h2c", "containerPort": KSERVE_GRPC_PORT, "protocol": "TCP"}]


def test_example_inferenceservice_uses_the_runtime(rendered: dict[str, list[Manifest]]) -> None:
    runtime = only(rendered[KSERVE], "ClusterServingRuntime")
    formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    for service in rendered[KSERVE_EXAMPLE]:
        model = service["spec"]["predictor"]["model"]
        assert model["runtime"] == runtime["metadata"]["name"]
        assert model["modelFormat"]["name"] in formats
        assert model["storageUri"]
