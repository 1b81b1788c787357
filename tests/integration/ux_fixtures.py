"""Shared fixtures for the REST conveniences' tests: the example digits model, sample images.

Import the fixtures into a test module (``from tests.integration.ux_fixtures import ...``);
``digits_model`` is session-scoped, so the model is trained and exported once per run (in a
subprocess, so the test process does not import TensorFlow).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from examples.digits_data import load_digits_28x28
from tests.integration.server_process import REPO_ROOT


def tool_or_skip(name: str) -> str:
    """The tool's path; missing: skip locally, fail in CI (where .ci/run installs it)."""
    path = shutil.which(name) or (
        f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None
    )
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing; .ci/run installs it with tests/tools/install-*.sh")
        pytest.skip(
            f"{name} is not installed (tests/tools/install-*.sh installs it; CI requires it)"
        )
    return path


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits model folder with version 1 trained for 2000 iterations."""
    base = tmp_path_factory.mktemp("digits") / "digits"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "examples.export_digits",
            f"--output_dir={base}",
            "--model_version=1",
            "--training_iterations=2000",
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return base


def digit_image(index: int, fmt: str) -> tuple[bytes, int]:
    """Held-out digit ``index`` as PNG or JPEG bytes, with its label."""
    data = load_digits_28x28()
    pixels = (data.test_images[index].reshape(28, 28) * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue(), int(data.test_labels[index])
