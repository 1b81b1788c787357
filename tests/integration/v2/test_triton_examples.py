"""Triton's own Python example clients, run unchanged against this server.

The scripts are in ``tests/data/triton_client_examples`` (source commit and license in
its README). One server serves the models they expect, made as ONNX graphs by
``tests.integration.v2.triton_models``; each script runs as its user would run it,
``python script.py -u 127.0.0.1:<port>``, and must exit 0 printing its ``PASS`` line.
Scripts that cannot pass here are listed in ``CANNOT_PASS`` with the reason, and are
checked to fail for exactly that reason, so that the list stays true.
``simple_http_model_control.py`` loads 'simple' with a config override and unloads it, so
it runs last, and its test serves 'simple' again from its own configuration.

Beside them, issue 18 item 7 end to end: the V1 ``:predict`` row format on an ONNX
model whose output is int64 (onnxruntime returns ``numpy.longlong``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest

from tests.integration.server_process import REPO_ROOT, ServerProcess
from tests.integration.v2.triton_models import (
    write_densenet_stand_in,
    write_int64_output,
    write_simple,
    write_simple_identity,
    write_simple_int8,
    write_simple_string,
)

EXAMPLES = REPO_ROOT / "tests" / "data" / "triton_client_examples"
SCRIPT_TIMEOUT_SECONDS = 120

# script -> the last line it prints when every check passed (the HTTP infer clients
# print no PASS line: their last check is the error for an unknown model, or a sum)
PASSING = {
    "grpc_client.py": "PASS",
    "grpc_explicit_byte_content_client.py": "PASS: explicit string",
    "grpc_explicit_int8_content_client.py": "PASS: explicit int8",
    "grpc_explicit_int_content_client.py": "PASS: explicit int",
    "simple_grpc_aio_infer_client.py": "PASS: grpc aio infer",
    "simple_grpc_async_infer_client.py": "PASS: Async infer",
    "simple_grpc_custom_args_client.py": "PASS: CustomArgs",
    "simple_grpc_infer_client.py": "PASS: infer",
    "simple_grpc_keepalive_client.py": "PASS: KeepAlive",
    "simple_grpc_string_infer_client.py": "PASS: string",
    "simple_http_aio_infer_client.py": "PASS: infer",
    "simple_http_async_infer_client.py": "15 - 1 = 14",
    "simple_http_infer_client.py": "[404] Request for unknown model: 'wrong_model_name' is not found",
    "simple_http_string_infer_client.py": "PASS: string",
    "simple_grpc_shm_client.py": "PASS: system shared memory",
    "simple_grpc_shm_string_client.py": "PASS: system shared memory",
    "simple_http_shm_client.py": "PASS: system shared memory",
    "simple_http_shm_string_client.py": "PASS: system shared memory",
}

# script -> (why it cannot pass here, the line it prints where it stops, or None when it
# stops with a bare sys.exit(1) at the check that fails)
CANNOT_PASS: dict[str, tuple[str, str | None]] = {
    "simple_grpc_health_metadata.py": (
        "checks that the server's metadata names it 'triton'; this server is 'aioserving'",
        "FAILED : get_server_metadata",
    ),
    "simple_http_health_metadata.py": (
        "checks that the server's metadata names it 'triton'; this server is 'aioserving'",
        "FAILED : get_server_metadata",
    ),
    "simple_grpc_model_control.py": (
        "expects Triton's example repository of 8 models (this server has the 7 that the HTTP "
        "one expects), and an oversized 'file:' load parameter to be INTERNAL 'failed to poll "
        "from model repository' (Triton's own TODO there says INVALID_ARGUMENT, which this "
        "server answers)",
        "FAILED : Repository Index",
    ),
}

# Loads 'simple' with a config override and unloads it: run last (``test_model_control``).
MODEL_CONTROL = ("simple_http_model_control.py", "PASS: model control")

MODELS = {
    "simple": write_simple,
    "simple_int8": write_simple_int8,
    "simple_string": write_simple_string,
    "simple_identity": write_simple_identity,
    "int64_output": write_int64_output,
    "densenet_onnx": write_densenet_stand_in,
    # simple_http_model_control.py counts Triton's example repository: seven models.
    "simple_spare": write_simple,
}


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., ServerProcess], tmp_path_factory: pytest.TempPathFactory
) -> ServerProcess:
    root = tmp_path_factory.mktemp("triton_models")
    entries = []
    for name, write in MODELS.items():
        write(root / name / "1")
        entries.append(
            f'  config {{ name: "{name}" base_path: "{root / name}" model_platform: "onnx" }}\n'
        )
    config = root / "models.config"
    config.write_text("model_config_list {\n" + "".join(entries) + "}\n")
    started = start_server(f"--model_config_file={config}")
    # The models were just written: the poller loads them once their files have settled.
    started.wait_until(
        lambda: started.http("GET", "/v2/health/ready")[0] == 200, what="every model ready"
    )
    return started


def run_example(script: str, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), "-u", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
        check=False,
    )


def port_for(script: str, server: ServerProcess) -> int:
    return server.rest_port if "_http_" in script else server.grpc_port


def test_every_copied_script_is_listed() -> None:
    copied = {path.name for path in EXAMPLES.glob("*.py")}
    assert copied == set(PASSING) | set(CANNOT_PASS) | {MODEL_CONTROL[0]}


@pytest.mark.parametrize("script", sorted(PASSING))
def test_example_client_passes(server: ServerProcess, script: str) -> None:
    finished = run_example(script, port_for(script, server))
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    assert finished.stdout.splitlines()[-1] == PASSING[script], output


@pytest.mark.parametrize("script", sorted(CANNOT_PASS))
def test_example_client_fails_only_for_the_known_reason(server: ServerProcess, script: str) -> None:
    finished = run_example(script, port_for(script, server))
    output = finished.stdout + finished.stderr
    assert finished.returncode == 1, output
    stops_at = CANNOT_PASS[script][1]
    if stops_at is None:
        assert finished.stdout == "" and "Traceback" not in finished.stderr, output
    else:
        assert stops_at in finished.stdout.splitlines(), output


def test_v1_row_format_with_an_int64_output(server: ServerProcess) -> None:
    """Issue 18 item 7: KServe's V1 client sends ``instances``; onnxruntime answers int64."""
    x = np.array([[1.0, 3.0, 2.0], [5.0, 0.0, 1.0]], dtype=np.float32)
    status, body = server.http("POST", "/v1/models/int64_output:predict", {"instances": x.tolist()})
    assert (status, body) == (
        200,
        {
            "predictions": [
                {"label": 1, "x_copy": [1.0, 3.0, 2.0]},
                {"label": 0, "x_copy": [5.0, 0.0, 1.0]},
            ]
        },
    )
    status, body = server.http("POST", "/v1/models/int64_output:predict", {"inputs": x.tolist()})
    assert (status, body) == (200, {"outputs": {"label": [1, 0], "x_copy": x.tolist()}})


def test_model_control_example_overrides_the_config_then_unloads(server: ServerProcess) -> None:
    """Last in this module: the script leaves 'simple' unloaded under an override (max_batch_size
    16); a load without a config then serves it from its own configuration again."""
    script, last_line = MODEL_CONTROL
    finished = run_example(script, port_for(script, server))
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    assert finished.stdout.splitlines()[-1] == last_line, output
    assert server.http("POST", "/v2/repository/models/simple/load", {})[0] == 200
    status, config = server.http("GET", "/v2/models/simple/config")
    assert (status, config["max_batch_size"]) == (200, 0)
