"""The dashboard and the generated clients with auth on (basic users and bearer tokens).

Every dashboard path (the page, its static files, its JSON API) answers 401 without a
credential and serves with one; a real Chromium given basic credentials (Playwright's
``http_credentials``) loads the page, lists the model and runs a try-it request, while one
without them gets the 401. Each generated client fails without ``AIOSERVING_AUTH`` and
predicts with it, against this auth-enabled server. It serves half_plus_two as an ONNX
model with TF Serving's signature and version (123): auth does not depend on the platform,
and without a TensorFlow model the server starts without TensorFlow
(``test_dashboard_browser`` runs the dashboard on TensorFlow models).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.half_plus_two_onnx import write_half_plus_two_onnx
from tests.integration.server_process import ServerProcess
from tests.integration.test_dashboard_browser import CHROMIUM_ARGS
from tests.integration.ux_fixtures import tool_or_skip

USER, PASSWORD = "viewer", "dashboard-pw-0123"
TOKEN = "tok_dashboard_0123456789abcdef"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
BEARER = f"Bearer {TOKEN}"
DASHBOARD_PATHS = [
    "/",
    "/dashboard/static/app.js",
    "/dashboard/static/style.css",
    "/dashboard/api/models",
    "/dashboard/api/server",
    "/dashboard/api/metrics?model=default",
    "/dashboard/api/models/default/versions/123/signatures",
    "/v1/models/default/gen_json",
    "/v1/models/default/gen_client?language=python",
]


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., ServerProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerProcess:
    directory = tmp_path_factory.mktemp("auth")
    users = directory / "users"
    users.write_text(f"{USER}:sha256:{hashlib.sha256(PASSWORD.encode()).hexdigest()}\n")
    tokens = directory / "tokens"
    tokens.write_text(f"{TOKEN}\n")
    model = write_half_plus_two_onnx(directory / "half_plus_two", version=123, dims=("batch", 1))
    return start_server(
        f"--model_base_path={model}",
        f"--auth_basic_users_file={users}",
        f"--auth_bearer_tokens_file={tokens}",
    )


def get(server: ServerProcess, path: str, authorization: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(server.rest_url + path)
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("path", DASHBOARD_PATHS)
def test_dashboard_paths_need_a_credential(server: ServerProcess, path: str) -> None:
    assert get(server, path, None)[0] == 401
    assert get(server, path, "Basic " + base64.b64encode(b"viewer:wrong").decode())[0] == 401
    assert get(server, path, BASIC)[0] == 200
    assert get(server, path, BEARER)[0] == 200


def test_the_page_works_in_a_browser_given_basic_credentials(server: ServerProcess) -> None:
    chromium = tool_or_skip("chromium")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            anonymous = browser.new_context()
            try:
                response = anonymous.new_page().goto(server.rest_url + "/")
                refused = response is not None and response.status == 401
            except playwright_api.Error as error:  # headless Chromium cancels the challenge
                refused = "ERR_INVALID_AUTH_CREDENTIALS" in str(error)
            assert refused
            context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD})
            page = context.new_page()
            response = page.goto(server.rest_url + "/")
            assert response is not None and response.status == 200
            page.wait_for_selector('tr[data-model="default"] [data-version="123"].AVAILABLE')
            page.wait_for_selector(
                '#try-signature option[value="serving_default"]', state="attached"
            )
            page.click("#try-generate")
            page.wait_for_function(
                "document.getElementById('try-body').value.includes('signature_name')"
            )
            page.click("#try-send")
            page.wait_for_function(
                "document.getElementById('try-status').textContent.includes('HTTP 200')"
            )
            assert json.loads(page.inner_text("#try-response")) == {"predictions": [[2.0]]}
            # The page's own API calls carry the credential; the same call without it is refused.
            statuses = page.evaluate(
                """async () => [
                    (await fetch('/dashboard/api/models')).status,
                    (await fetch('/dashboard/api/models', {credentials: 'omit'})).status]"""
            )
            assert statuses == [200, 401]
        finally:
            browser.close()


CLIENTS = {
    "python": lambda path: [os.environ.get("PYTHON", "python3"), str(path)],
    "bash": lambda path: ["bash", str(path)],
    "javascript": lambda path: [tool_or_skip("node"), str(path)],
    "golang": lambda path: [tool_or_skip("go"), "run", str(path)],
}


@pytest.mark.parametrize("language", sorted(CLIENTS))
def test_generated_client_sends_aioserving_auth_to_the_auth_server(
    server: ServerProcess, language: str, tmp_path: Path
) -> None:
    status, text = get(server, f"/v1/models/default/gen_client?language={language}", BEARER)
    assert status == 200
    suffix = {"python": "py", "bash": "sh", "javascript": "js", "golang": "go"}[language]
    path = tmp_path / f"default_client.{suffix}"
    path.write_bytes(text)
    env = {**os.environ, "GOCACHE": str(tmp_path / "gocache"), "HOME": str(tmp_path)}
    env.pop("SERVER", None)
    env.pop("AIOSERVING_AUTH", None)
    command = CLIENTS[language](path)
    refused = subprocess.run(
        command, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path
    )
    assert refused.returncode != 0 and "401" in refused.stderr
    for credential in (BASIC, BEARER):
        served = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=240,
            env={**env, "AIOSERVING_AUTH": credential},
            cwd=tmp_path,
        )
        assert served.returncode == 0, served.stderr
        assert json.loads(served.stdout) == {"predictions": [[2.0]]}
