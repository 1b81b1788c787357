"""gen_json, the four generated clients run for real, and image inputs, on a live server."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.integration.server_process import ServerProcess
from tests.integration.ux_fixtures import digit_image, digits_model, tool_or_skip

__all__ = ["digits_model"]

# Held-out digits the exported model classifies correctly (checked against the labels below).
DIGITS = (0, 1, 2, 3, 4)


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., ServerProcess],
    digits_model: Path,
    testdata: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> ServerProcess:
    config = tmp_path_factory.mktemp("config") / "models.config"
    config.write_text(
        "model_config_list {\n"
        f'  config {{ name: "digits" base_path: "{digits_model}" model_platform: "tensorflow" }}\n'
        f'  config {{ name: "half" base_path: "{testdata / "saved_model_half_plus_two_tf2_cpu"}" model_platform: "tensorflow" }}\n'
        "}\n"
    )
    return start_server(f"--model_config_file={config}", "--max_image_pixels=10000")


def multipart(fields: list[tuple[str, str, bytes | str]]) -> tuple[bytes, str]:
    """(body, content type) for fields of (name, filename or "", data)."""
    boundary = "aioservingtestboundary"
    chunks = []
    for name, filename, data in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        raw = data.encode() if isinstance(data, str) else data
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + raw + b"\r\n"
        )
    return b"".join(
        chunks
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(server: ServerProcess, path: str, body: bytes, content_type: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.rest_url + path, data=body, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# --- gen_json -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("digits", ""),
        ("digits", "?batch=3"),
        ("digits", "?signature_name=predict_images&format=columnar&batch=2"),
        ("digits/versions/1", ""),
        ("half", ""),
        ("half", "?format=columnar"),
    ],
)
def test_gen_json_posted_back_succeeds(server: ServerProcess, model: str, query: str) -> None:
    status, body = server.http("GET", f"/v1/models/{model}/gen_json{query}")
    assert status == 200, body
    status, answer = server.http("POST", f"/v1/models/{model}:predict", body)
    assert status == 200, answer
    rows = answer.get("predictions", answer.get("outputs"))
    batch = int(query.split("batch=")[1].split("&")[0]) if "batch=" in query else 1
    assert len(rows) == batch


def test_gen_json_is_deterministic_with_the_signature_dtypes(server: ServerProcess) -> None:
    first = server.http("GET", "/v1/models/digits/gen_json?batch=2")[1]
    assert first == server.http("GET", "/v1/models/digits/gen_json?batch=2")[1]
    assert first["signature_name"] == "serving_default"
    assert [len(row) for row in first["instances"]] == [784, 784]
    assert first["instances"][0][:3] == [0.0, 0.1, 0.2]
    strings = server.http("GET", "/v1/models/digits/gen_json?signature_name=classify_images")[1]
    assert strings["instances"] == [{"b64": base64.b64encode(b"sample-0").decode()}]


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/v1/models/nope/gen_json", 404, "nope"),
        ("/v1/models/digits/versions/9/gen_json", 404, "9"),
        ("/v1/models/digits/gen_json?signature_name=nope", 400, "nope"),
        ("/v1/models/digits/gen_json?batch=0", 400, "batch"),
        ("/v1/models/digits/gen_json?format=wide", 400, "format"),
        ("/v1/models/digits/gen_client?language=cobol", 400, "cobol"),
        ("/v1/models/nope/gen_client?language=python", 404, "nope"),
    ],
)
def test_gen_errors(server: ServerProcess, path: str, status: int, needle: str) -> None:
    got, body = server.http("GET", path)
    assert got == status, body
    assert needle in body["error"]


# --- generated clients ---------------------------------------------------------------------


def fetch_client(server: ServerProcess, language: str, tmp_path: Path, query: str = "") -> Path:
    url = f"{server.rest_url}/v1/models/digits/gen_client?language={language}{query}"
    with urllib.request.urlopen(url, timeout=30) as response:
        disposition = response.headers["Content-Disposition"]
        text = response.read().decode()
    filename: str = disposition.split('filename="')[1].rstrip('"')
    assert filename.startswith("digits_client.")
    assert server.rest_url.replace("http://", "") in text  # aimed at the Host it was asked on
    path = tmp_path / filename
    path.write_text(text)
    return path


CLIENTS = {
    "python": lambda path: [os.environ.get("PYTHON", "python3"), str(path)],
    "bash": lambda path: ["bash", str(path)],
    "javascript": lambda path: [tool_or_skip("node"), str(path)],
    "golang": lambda path: [tool_or_skip("go"), "run", str(path)],
}


@pytest.mark.parametrize("language", sorted(CLIENTS))
def test_generated_client_runs_against_the_server(
    server: ServerProcess, language: str, tmp_path: Path
) -> None:
    path = fetch_client(server, language, tmp_path, "&batch=2")
    env = {**os.environ, "GOCACHE": str(tmp_path / "gocache"), "HOME": str(tmp_path)}
    env.pop("SERVER", None)
    result = subprocess.run(
        CLIENTS[language](path), capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    expected = post(
        server,
        "/v1/models/digits:predict",
        json.dumps(server.http("GET", "/v1/models/digits/gen_json?batch=2")[1]).encode(),
        "application/json",
    )[1]
    assert np.allclose(json.loads(result.stdout)["predictions"], expected["predictions"], atol=1e-6)


@pytest.mark.parametrize("language", ["python", "bash", "javascript"])
def test_generated_client_takes_a_server_override_and_credentials(
    server: ServerProcess, language: str, tmp_path: Path
) -> None:
    """--server wins over the generated address, and AIOSERVING_AUTH becomes the Authorization header."""
    import http.server
    import threading

    seen: dict[str, str] = {}

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen["auth"] = self.headers.get("Authorization", "")
            seen["path"] = self.path
            self.rfile.read(int(self.headers["Content-Length"]))
            payload = b'{"predictions": [1]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    recorder = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=recorder.serve_forever, daemon=True)
    thread.start()
    try:
        path = fetch_client(server, language, tmp_path)
        env = {**os.environ, "AIOSERVING_AUTH": "Bearer t0ken"}
        command = [*CLIENTS[language](path), "--server", f"http://127.0.0.1:{recorder.server_port}"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    finally:
        recorder.shutdown()
    assert result.returncode == 0, result.stderr
    assert seen == {"auth": "Bearer t0ken", "path": "/v1/models/digits:predict"}
    assert json.loads(result.stdout) == {"predictions": [1]}


# --- images -------------------------------------------------------------------------------------


def classes(answer: dict[str, Any]) -> list[int]:
    return [int(np.argmax(row)) for row in answer["predictions"]]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_multipart_images_get_the_right_classes(server: ServerProcess, fmt: str) -> None:
    images = [digit_image(index, fmt) for index in DIGITS]
    body, content_type = multipart(
        [("images", f"d{i}.{fmt.lower()}", data) for i, (data, _) in enumerate(images)]
    )
    status, answer = post(server, "/v1/models/digits:predict", body, content_type)
    assert status == 200, answer
    assert classes(answer) == [label for _, label in images]


def test_multipart_to_a_string_input_passes_the_bytes_and_names_the_signature(
    server: ServerProcess,
) -> None:
    data, _ = digit_image(0, "PNG")
    body, content_type = multipart(
        [("inputs", "d.png", data), ("signature_name", "", "classify_images")]
    )
    status, answer = post(server, "/v1/models/digits:predict", body, content_type)
    # The raw PNG bytes reach tf.io.parse_example, which refuses them (they are no tf.Example);
    # our image decoding, which would have answered about images, was not involved.
    assert status == 400, answer
    assert "image" not in answer["error"], answer


def test_b64_image_in_json_is_decoded_for_a_numeric_input(server: ServerProcess) -> None:
    data, label = digit_image(2, "PNG")
    text = base64.b64encode(data).decode()
    for body in (
        {"instances": [{"b64": text}]},
        {"inputs": {"images": [{"b64": text}]}},
        {"inputs": {"b64": text}},
    ):
        status, answer = server.http("POST", "/v1/models/digits:predict", body)
        assert status == 200, answer
        rows = answer.get("predictions", answer.get("outputs"))
        assert [int(np.argmax(row)) for row in rows] == [label]


def test_pixel_range_changes_the_input_scale(server: ServerProcess) -> None:
    data, _ = digit_image(0, "PNG")
    body, content_type = multipart([("image", "d.png", data)])
    unit = post(server, "/v1/models/digits:predict", body, content_type)[1]
    raw = post(server, "/v1/models/digits:predict?pixel_range=0_255", body, content_type)[1]
    assert unit != raw


def test_image_errors_name_the_problem(server: ServerProcess) -> None:
    big = io.BytesIO()
    Image.new("L", (200, 200)).save(big, format="PNG")
    png, _ = digit_image(0, "PNG")
    cases: list[tuple[str, list[tuple[str, str, bytes | str]], str]] = [
        ("digits", [("image", "x.txt", b"not an image")], "not an image"),
        ("digits", [("image", "big.png", big.getvalue())], "--max_image_pixels=10000"),
        ("half", [("image", "d.png", png)], "cannot take an image"),
        ("digits", [("photo", "d.png", png)], "'photo'"),
        ("digits", [("image", "d.png", png), ("pixel_range", "", "0_9")], "pixel_range"),
    ]
    for model, fields, needle in cases:
        body, content_type = multipart(fields)
        status, answer = post(server, f"/v1/models/{model}:predict", body, content_type)
        assert status == 400, (fields[0][1], answer)
        assert needle in answer["error"], answer
    status, answer = server.http(
        "POST", "/v1/models/digits:predict", {"instances": [{"b64": "aGVsbG8="}]}
    )
    assert status == 400 and "not an image" in answer["error"]
    # The server still serves.
    assert server.http("GET", "/v1/models/digits")[0] == 200
