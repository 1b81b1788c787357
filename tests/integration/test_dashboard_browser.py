"""The web dashboard in a real browser: Debian's Chromium driven by Playwright.

Loads ``/``, sees the models and their states, watches a new version appear without a
reload, runs a try-it request and reads the answer, sees it in the shadow versions panel
(the server mirrors half's later versions to 123), uploads an image; saves screenshots
to ``docs/screenshots/`` when ``AIOSERVING_SCREENSHOTS`` is set.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.server_process import REPO_ROOT, ServerProcess
from tests.integration.ux_fixtures import digit_image, digits_model, tool_or_skip

__all__ = ["digits_model"]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def half_dir(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> Path:
    base = tmp_path_factory.mktemp("half") / "half"
    base.mkdir()
    shutil.copytree(testdata / "saved_model_half_plus_two_tf2_cpu" / "00000123", base / "123")
    return base


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., ServerProcess],
    digits_model: Path,
    half_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerProcess:
    config = tmp_path_factory.mktemp("config") / "models.config"
    config.write_text(
        "model_config_list {\n"
        f'  config {{ name: "digits" base_path: "{digits_model}" model_platform: "tensorflow" }}\n'
        f'  config {{ name: "half" base_path: "{half_dir}" model_platform: "tensorflow"'
        " model_version_policy { all {} } }\n"
        "}\n"
    )
    shadows = config.parent / "shadows"
    shadows.write_text("half  *  123  1.0\n")  # every answer of a later version mirrored to 123
    return start_server(
        f"--model_config_file={config}",
        "--file_system_poll_wait_seconds=1",
        f"--shadow_config_file={shadows}",
    )


@pytest.fixture(scope="module")
def page(server: ServerProcess) -> Iterator[Any]:
    chromium = tool_or_skip("chromium")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(server.rest_url + "/")
        yield page
        browser.close()


def screenshot(page: Any, name: str, selector: str | None = None) -> None:
    """Saves the top of the page (or one element) when AIOSERVING_SCREENSHOTS is set."""
    if os.environ.get("AIOSERVING_SCREENSHOTS"):
        folder = REPO_ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        if selector:
            page.locator(selector).screenshot(path=str(folder / f"{name}.png"))
        else:
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(folder / f"{name}.png"))


def test_models_and_states_are_listed(page: Any) -> None:
    page.wait_for_selector('tr[data-model="digits"] .chip.AVAILABLE')
    assert page.inner_text('tr[data-model="half"] [data-version="123"]') == "v123 AVAILABLE"
    assert "tensorflow" in page.inner_text('tr[data-model="digits"]')


def test_a_new_version_appears_without_reload(page: Any, half_dir: Path) -> None:
    page.evaluate("window.__noReload = true")
    shutil.copytree(half_dir / "123", half_dir / "124")
    page.wait_for_selector('tr[data-model="half"] [data-version="124"].AVAILABLE', timeout=60_000)
    assert page.evaluate("window.__noReload") is True  # the same document: no reload happened


def test_try_it_sends_a_generated_request(page: Any) -> None:
    page.click('tr[data-model="half"]')
    page.wait_for_selector('#try-signature option[value="serving_default"]', state="attached")
    page.click("#try-generate")
    page.wait_for_function("document.getElementById('try-body').value.includes('signature_name')")
    page.click("#try-send")
    page.wait_for_function("document.getElementById('try-status').textContent.includes('HTTP 200')")
    assert json.loads(page.inner_text("#try-response"))["outputs"] == [2.0]  # half_plus_two(0.0)
    assert " ms" in page.inner_text("#try-status")
    page.wait_for_function(
        "document.querySelector('[data-metric=rps] .value').textContent !== '\\u2013'",
        timeout=20_000,
    )
    page.wait_for_selector("#signatures table")
    screenshot(page, "dashboard")


def test_the_shadow_and_capture_panels_show_the_mirrored_request(page: Any) -> None:
    # The try-it request went to half's latest version, 124, and was mirrored to 123.
    assert "half: * → 123" in page.inner_text("#shadow-rules")
    row = page.wait_for_selector('tr[data-shadow="half/124/123"]', timeout=20_000)
    cells = [cell.inner_text() for cell in row.query_selector_all("td")]
    assert cells[:3] == ["half", "v124 → v123", "1"], cells
    assert cells[6] == "0.00"  # the same SavedModel: the largest difference is 0
    assert "No request capture configured" in page.inner_text("#capture-panel")
    screenshot(page, "dashboard-shadows", "#shadows-panel")


def test_image_upload_from_the_page(page: Any, tmp_path: Path) -> None:
    page.click('tr[data-model="digits"]')
    page.wait_for_selector('#try-signature option[value="serving_default"]', state="attached")
    data, label = digit_image(1, "PNG")
    image = tmp_path / "digit.png"
    image.write_bytes(data)
    page.set_input_files("#try-image", str(image))
    page.click("#try-upload")
    page.wait_for_function("document.getElementById('try-status').textContent.includes('HTTP 200')")
    predictions = json.loads(page.inner_text("#try-response"))["predictions"]
    assert int(np.argmax(predictions[0])) == label
    screenshot(page, "dashboard-image", "#tryit")
