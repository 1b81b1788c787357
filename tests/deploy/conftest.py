"""Fixtures for the deployment tests: the rendered manifests and one real server.

``kubectl`` must be a version whose built-in kustomize is v4 or later
(``deploy/ci-tools.sh`` installs one). Without it these tests skip on a developer's
machine and fail under ``CI=true``, where ``.ci/run`` should have installed it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.server_process import ServerProcess, testdata_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_DIR = REPO_ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = sorted(path.parent for path in KUBERNETES_DIR.rglob("kustomization.yaml"))
MIN_KUSTOMIZE_MAJOR = 4

Manifest = dict[str, Any]


def require_tool(name: str, why: str) -> None:
    """Fail under CI (the tool should have been installed), skip elsewhere."""
    message = f"{why}: run `bash deploy/ci-tools.sh` (as root) to install it"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        require_tool("kubectl", "kubectl is not on PATH")
        raise AssertionError("unreachable")
    version = subprocess.run(
        [path, "version", "--client"], capture_output=True, text=True, check=False
    ).stdout
    found = re.search(r"Kustomize Version: v(\d+)\.", version)
    if found is None or int(found.group(1)) < MIN_KUSTOMIZE_MAJOR:
        require_tool(
            "kubectl",
            f"{path} has no kustomize v{MIN_KUSTOMIZE_MAJOR}+ built in ({version.strip()!r})",
        )
    return path


def render(kubectl: str, kustomization_dir: Path) -> list[Manifest]:
    """``kubectl kustomize DIR`` (no cluster needed), parsed into one dict per resource."""
    result = subprocess.run(
        [kubectl, "kustomize", str(kustomization_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl kustomize {kustomization_dir}:\n{result.stderr}"
    assert result.stderr == "", f"kustomize warned about {kustomization_dir}:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


@pytest.fixture(scope="session")
def rendered(kubectl: str) -> dict[str, list[Manifest]]:
    """Every kustomization under deploy/kubernetes, rendered, keyed by its relative path."""
    return {str(path.relative_to(KUBERNETES_DIR)): render(kubectl, path) for path in KUSTOMIZATIONS}


def only(manifests: list[Manifest], kind: str) -> Manifest:
    """The one resource of ``kind``."""
    matching = [manifest for manifest in manifests if manifest["kind"] == kind]
    assert len(matching) == 1, f"expected one {kind}, found {len(matching)}"
    return matching[0]


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real server on ephemeral ports, serving TF Serving's half_plus_two."""
    model = testdata_dir() / "saved_model_half_plus_two_cpu"
    server = ServerProcess([f"--model_base_path={model}"], tmp_path_factory.mktemp("deploy"))
    yield server
    server.stop()
