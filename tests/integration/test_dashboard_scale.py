"""The dashboard at scale: 50 models of 10 versions each (500 versions), in a real browser.

The models are one small scikit-learn classifier (``tests/platform_models.py``), each
version folder a symlink to it, served with ``model_version_policy { all {} }`` so all
500 versions load. The test measures the models API's payload and answer time and the
page's time to render every row, prints them (``-s`` shows them; the README quotes them)
and holds them to bounds loose enough for a shared CI machine: a payload under 256 KiB,
a median API answer under 250 ms, every row rendered within 10 s of navigation.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.server_process import ServerProcess
from tests.integration.test_dashboard_browser import CHROMIUM_ARGS
from tests.integration.ux_fixtures import tool_or_skip
from tests.platform_models import write_sklearn_classifier

MODELS = 50
VERSIONS = 10


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., ServerProcess], tmp_path_factory: pytest.TempPathFactory
) -> ServerProcess:
    root = tmp_path_factory.mktemp("scale")
    write_sklearn_classifier(root / "proto")
    entries = []
    for index in range(MODELS):
        name = f"model_{index:03d}"
        for version in range(1, VERSIONS + 1):
            (root / name).mkdir(exist_ok=True)
            (root / name / str(version)).symlink_to(root / "proto", target_is_directory=True)
        entries.append(
            f'  config {{ name: "{name}" base_path: "{root / name}" model_platform: "sklearn"'
            " model_version_policy { all {} } }\n"
        )
    config = root / "models.config"
    config.write_text("model_config_list {\n" + "".join(entries) + "}\n")
    server = start_server(f"--model_config_file={config}")
    server.wait_until(
        lambda: available_versions(server) == MODELS * VERSIONS,
        timeout=120,
        what="500 versions available",
    )
    return server


def models_api(server: ServerProcess) -> bytes:
    with urllib.request.urlopen(server.rest_url + "/dashboard/api/models", timeout=30) as answer:
        body: bytes = answer.read()
    return body


def available_versions(server: ServerProcess) -> int:
    models = json.loads(models_api(server))["models"]
    return sum(v["state"] == "AVAILABLE" for m in models for v in m["versions"])


def test_models_api_stays_small_and_fast(server: ServerProcess) -> None:
    timings_ms = []
    for _ in range(20):
        started = time.perf_counter()
        body = models_api(server)
        timings_ms.append((time.perf_counter() - started) * 1000)
    models = json.loads(body)["models"]
    assert len(models) == MODELS
    assert all(len(m["versions"]) == VERSIONS for m in models)
    median_ms = statistics.median(timings_ms)
    print(
        f"\nmodels API: {len(body)} bytes, median {median_ms:.1f} ms, max {max(timings_ms):.1f} ms"
    )
    assert len(body) < 256 * 1024
    assert median_ms < 250


@pytest.fixture(scope="module")
def browser(server: ServerProcess) -> Iterator[Any]:
    chromium = tool_or_skip("chromium")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_the_page_renders_every_model_and_filters(server: ServerProcess, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    started = time.perf_counter()
    page.goto(server.rest_url + "/")
    page.wait_for_function(
        f"document.querySelectorAll('#models tbody tr').length === {MODELS}", timeout=10_000
    )
    render_ms = (time.perf_counter() - started) * 1000
    assert page.inner_text("#model-count") == f"{MODELS} models, {MODELS * VERSIONS} versions"
    row = page.locator('tr[data-model="model_049"]')
    assert row.locator(".chip.AVAILABLE").count() == 8  # chips are capped; the rest is counted
    assert "+2 more" in row.inner_text()
    page.fill("#filter", "model_049")
    assert page.locator("#models tbody tr").count() == 1
    started = time.perf_counter()
    page.click('tr[data-model="model_049"]')
    page.wait_for_selector('#try-signature option[value="predict"]', state="attached")
    select_ms = (time.perf_counter() - started) * 1000
    print(
        f"\npage: every row rendered {render_ms:.0f} ms after navigation; a model opened in {select_ms:.0f} ms"
    )
    assert render_ms < 10_000
