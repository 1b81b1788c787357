"""The image, built with a real Docker daemon and run as a user runs it.

``deploy/ci-docker.sh start`` brings up a private ``dockerd`` (and, with no registry,
makes the base image locally); the session builds the Dockerfile with it, runs the
image and checks, as a platform team would:

- it becomes healthy through its own HEALTHCHECK, and answers REST and gRPC predict,
  ``/v2/health/ready`` and gRPC health, started TF Serving's way (``MODEL_NAME``) and
  with a ``models.config``;
- it runs as uid 1000, not root;
- ``docker stop`` under load drains and exits 0 within docker's default 10 s;
- it starts with a read-only root filesystem and every capability dropped, with an
  empty ``/tmp`` as the Kubernetes manifests give it;
- the served image holds no source tree, pip (nor its cache or the build's settings),
  compiler or ``nvidia-*`` wheel.

Containers use ``--network host`` with the server's ports at 0 (ephemeral, read back from
the port file, which a host folder mounted into the container receives), so that runs
side by side never collide; the content check uses ``--network none``. The module starts
its three containers at once and each test asserts on its own: one run as the manifests
run it (``MODEL_NAME``, read-only root, no capabilities), which the MODEL_NAME and
read-only tests only read from; one with a ``models.config``; and one, started as
``docker run -e MODEL_NAME=...`` with nothing else, that the drain test stops. The image
checks its health every 10 s; Docker 20.10 has no ``--start-interval``, so the containers
are run with ``--health-interval=1s``: the image's own check command still decides, only
asked every second (a test checks what the image declares). Where Docker cannot be set
up (no root, no apt) the tests skip, naming why; under ``CI=true`` they fail instead. The
daemon is stopped by its PID at the end when this session started it; its state, and so
the layer cache, stays for the next run. ``AIOSERVING_TEST_IMAGE`` names the tag built
(default ``aioserving:test``), so that trees tested side by side do not clobber each
other's image.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.deploy.conftest import REPO_ROOT
from tests.integration.server_process import testdata_dir as shared_testdata  # not a test

CI_DOCKER = REPO_ROOT / "deploy" / "ci-docker.sh"
# The tag this session builds; another tree's session sets its own so the two never clobber.
IMAGE = os.environ.get("AIOSERVING_TEST_IMAGE", "aioserving:test")
START_TIMEOUT_SECONDS = 240.0
HALF_PLUS_TWO = {"instances": [1.0, 2.0, 5.0]}
HALF_PLUS_TWO_ANSWER = {"predictions": [2.5, 3.0, 4.5]}


def docker_unavailable(reason: str) -> None:
    message = f"cannot run Docker here: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True, slots=True)
class Docker:
    """The private daemon: ``run`` is the docker CLI pointed at it."""

    host: str

    def run(self, *args: str, timeout: float = 120.0, check: bool = True) -> str:
        result = subprocess.run(
            ["docker", *args],
            env={**os.environ, "DOCKER_HOST": self.host},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {result.stderr}{result.stdout}")
        return result.stdout.strip()


def _key_values(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@pytest.fixture(scope="session")
def docker() -> Iterator[Docker]:
    """A daemon (started here when none runs), with ``IMAGE`` built from this tree."""
    if os.geteuid() != 0:
        docker_unavailable("deploy/ci-docker.sh needs root (apt-get, dockerd)")
    started = subprocess.run(
        ["bash", str(CI_DOCKER), "start"], capture_output=True, text=True, timeout=1200
    )
    if started.returncode != 0:
        docker_unavailable(f"deploy/ci-docker.sh start failed:\n{started.stderr[-3000:]}")
    daemon = _key_values(started.stdout)
    started_here = "starting dockerd" in started.stderr
    built = subprocess.run(
        ["bash", str(CI_DOCKER), "build", IMAGE], capture_output=True, text=True, timeout=3600
    )
    try:
        assert built.returncode == 0, f"docker build failed:\n{built.stderr[-5000:]}"
        yield Docker(daemon["DOCKER_HOST"])
    finally:
        if started_here:
            _stop_daemon(int(daemon["DOCKERD_PID"]))


def _stop_daemon(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise AssertionError(f"dockerd {pid} did not stop within 30 s of SIGTERM")


# How often a test container runs the image's HEALTHCHECK command (the image says 10 s).
HEALTH_INTERVAL = "--health-interval=1s"


class Container:
    """One ``docker run -d`` of ``IMAGE`` on the host network, on ephemeral ports.

    Returns once docker started it; ``wait_healthy()`` waits for the server.
    """

    def __init__(
        self, docker: Docker, workdir: Path, *args: str, options: tuple[str, ...] = ()
    ) -> None:
        self.docker = docker
        ports_dir = workdir / f"ports-{time.monotonic_ns()}"
        ports_dir.mkdir()
        ports_dir.chmod(0o777)  # the server runs as uid 1000
        self.port_file = ports_dir / "ports.json"
        self.id = docker.run(
            "run",
            "-d",
            "--network=host",
            f"--volume={ports_dir}:/run/aioserving-ports",
            "--env=AIOSERVING_PORT_FILE=/run/aioserving-ports/ports.json",
            HEALTH_INTERVAL,
            *options,
            IMAGE,
            "--port=0",
            "--rest_api_port=0",
            *args,
        )

    def inspect(self, template: str) -> str:
        return self.docker.run("inspect", "--format", template, self.id)

    def logs(self) -> str:
        result = subprocess.run(
            ["docker", "logs", self.id],
            env={**os.environ, "DOCKER_HOST": self.docker.host},
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout + result.stderr

    def wait_healthy(self) -> None:
        """Until the image's own HEALTHCHECK says healthy."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            status = self.inspect("{{.State.Status}} {{.State.Health.Status}}")
            if status == "running healthy":
                return
            if not status.startswith("running"):
                raise AssertionError(f"container is {status}:\n{self.logs()[-5000:]}")
            time.sleep(1)
        raise AssertionError(f"not healthy in {START_TIMEOUT_SECONDS} s:\n{self.logs()[-5000:]}")

    @property
    def ports(self) -> dict[str, int]:
        ports: dict[str, int] = json.loads(self.port_file.read_text())
        return ports

    def http(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        url = f"http://127.0.0.1:{self.ports['rest']}{path}"
        request = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, json.loads(raw) if raw else None

    def remove(self) -> None:
        self.docker.run("rm", "--force", self.id, check=False)


def models_volume(name: str, directory: str) -> str:
    return f"--volume={shared_testdata() / directory}:/models/{name}:ro"


HALF_PLUS_TWO_BY_MODEL_NAME = (
    "--env=MODEL_NAME=half_plus_two",
    models_volume("half_plus_two", "saved_model_half_plus_two_cpu"),
)
AS_THE_MANIFESTS_RUN_IT = (
    "--read-only",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    "--tmpfs=/tmp",  # the manifests' emptyDir
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Containers:
    """The module's containers, each healthy."""

    as_the_manifests_run_it: Container  # MODEL_NAME, read-only root, no capabilities
    models_config: Container  # --model_config_file listing two models
    to_stop: Container  # `docker run -e MODEL_NAME=...`, nothing else; the drain test stops it


@pytest.fixture(scope="module")
def containers(docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containers]:
    """Every container the tests need, started at once; all removed at the end."""
    workdir = tmp_path_factory.mktemp("containers")
    config = workdir / "models.config"
    config.write_text(
        "model_config_list {\n"
        '  config { name: "half_plus_two" base_path: "/models/half_plus_two" }\n'
        '  config { name: "half_plus_three" base_path: "/models/half_plus_three" }\n'
        "}\n"
    )
    config.chmod(0o644)
    launched: list[Container] = []
    try:
        launched.append(
            Container(
                docker, workdir, options=(*AS_THE_MANIFESTS_RUN_IT, *HALF_PLUS_TWO_BY_MODEL_NAME)
            )
        )
        launched.append(
            Container(
                docker,
                workdir,
                "--model_config_file=/etc/aioserving/models.config",
                options=(
                    f"--volume={config}:/etc/aioserving/models.config:ro",
                    models_volume("half_plus_two", "saved_model_half_plus_two_cpu"),
                    models_volume("half_plus_three", "saved_model_half_plus_three"),
                ),
            )
        )
        launched.append(Container(docker, workdir, options=HALF_PLUS_TWO_BY_MODEL_NAME))
        for container in launched:
            container.wait_healthy()
        yield Containers(
            as_the_manifests_run_it=launched[0], models_config=launched[1], to_stop=launched[2]
        )
    finally:
        for container in launched:
            container.remove()


def grpc_predict(container: Container, model: str, values: list[float]) -> list[float]:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(values, dtype=tf.float32))
    with grpc.insecure_channel(f"127.0.0.1:{container.ports['grpc']}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=30)
    return [float(v) for v in tf.make_ndarray(response.outputs["y"]).ravel()]


def grpc_health(container: Container) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{container.ports['grpc']}") as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        response: bytes = check(b"", timeout=10)  # HealthCheckRequest{service: ""}
    return response


SERVING = b"\x08\x01"  # HealthCheckResponse{status: SERVING}


def test_image_declares_the_bundled_healthcheck(docker: Docker) -> None:
    declared = json.loads(
        docker.run("image", "inspect", "--format", "{{json .Config.Healthcheck}}", IMAGE)
    )
    assert declared["Test"] == ["CMD", "aioserving-healthcheck"]
    seconds = 1_000_000_000  # docker reports durations in nanoseconds
    assert (declared["Interval"], declared["StartPeriod"]) == (10 * seconds, 120 * seconds)


def test_model_name_form_is_healthy_answers_every_api_and_runs_as_uid_1000(
    docker: Docker, containers: Containers
) -> None:
    container = containers.as_the_manifests_run_it
    assert container.http("POST", "/v1/models/half_plus_two:predict", HALF_PLUS_TWO) == (
        200,
        HALF_PLUS_TWO_ANSWER,
    )
    assert grpc_predict(container, "half_plus_two", [1.0, 2.0, 5.0]) == [2.5, 3.0, 4.5]
    assert container.http("GET", "/v2/health/ready")[0] == 200
    assert grpc_health(container) == SERVING
    assert docker.run("exec", container.id, "id", "-u") == "1000"
    assert container.inspect("{{.Config.User}}") == "1000:1000"


def test_models_config_serves_every_model_listed(containers: Containers) -> None:
    container = containers.models_config
    assert container.http("POST", "/v1/models/half_plus_three:predict", HALF_PLUS_TWO) == (
        200,
        {"predictions": [3.5, 4.0, 5.5]},
    )
    assert grpc_predict(container, "half_plus_two", [4.0]) == [4.0]
    assert container.http("GET", "/v2/models/half_plus_three/ready")[0] == 200
    assert grpc_health(container) == SERVING


def test_read_only_root_without_capabilities_as_the_manifests_run_it(
    containers: Containers,
) -> None:
    container = containers.as_the_manifests_run_it
    assert container.http("POST", "/v1/models/half_plus_two:predict", HALF_PLUS_TWO) == (
        200,
        HALF_PLUS_TWO_ANSWER,
    )
    assert container.inspect(
        "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}}"
    ) == ("true [ALL] [no-new-privileges]")


def test_docker_stop_under_load_drains_and_exits_0(docker: Docker, containers: Containers) -> None:
    container = containers.to_stop
    answers: list[int | str] = []  # HTTP status, or the connection error's name
    stopping = threading.Event()

    def load() -> None:
        while not stopping.is_set():
            try:
                status, _ = container.http(
                    "POST", "/v1/models/half_plus_two:predict", HALF_PLUS_TWO
                )
                answers.append(status)
            except OSError as error:  # refused once the server stopped accepting
                answers.append(type(error).__name__)
                time.sleep(0.05)

    clients = [threading.Thread(target=load) for _ in range(4)]
    for client in clients:
        client.start()
    try:
        while answers.count(200) < 20:
            time.sleep(0.05)
        docker.run("stop", container.id, timeout=60)  # docker's default: SIGKILL after 10 s
    finally:
        stopping.set()
        for client in clients:
            client.join()
    exit_code = container.inspect("{{.State.ExitCode}}")
    assert exit_code == "0", f"exit {exit_code} (137: killed at the timeout)\n{container.logs()}"
    # Every request the server took was answered: no 5xx while it drained.
    assert [a for a in answers if isinstance(a, int) and a != 200] == []
    assert "drain" in container.logs().lower()


def test_served_image_holds_no_source_pip_compiler_or_nvidia_wheel(docker: Docker) -> None:
    script = (
        "site=/opt/aioserving/lib/python3.11/site-packages; "
        "for p in /src /root/.cache/pip /home/aioserving/.cache /etc/aioserving-build "
        "/opt/aioserving/bin/pip $site/pip; do [ -e $p ] && echo found:$p; done; "
        "for c in gcc cc g++ c++ clang; do command -v $c >/dev/null && echo compiler:$c; done; "
        "ls $site | grep -i nvidia | sed 's/^/nvidia:/'; "
        "find / -xdev -name setup.cfg -exec grep -l '^name = aioserving' {} + "
        "| sed 's/^/source:/'; "
        "cd / && python -c 'import server; print(\"module:\" + server.__file__)'"
    )
    found = docker.run(
        "run", "--rm", "--network=none", "--entrypoint=/bin/sh", IMAGE, "-c", script, timeout=120
    ).splitlines()
    assert found == ["module:/opt/aioserving/lib/python3.11/site-packages/server.py"], found
