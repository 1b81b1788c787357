"""The KServe pod, emulated: the server started as the ClusterServingRuntime starts it.

For each format the runtime lists (TensorFlow, ONNX, scikit-learn, XGBoost) a model is
laid out in a temporary ``/mnt/models`` as KServe's storage initializer leaves it, in
both layouts: the files straight in ``/mnt/models`` (KServe's own sklearn and XGBoost
examples) and in a version folder ``1/``. The server is started with the runtime's
``args`` as rendered by kustomize, ``{{.Name}}`` filled in with the InferenceService's
name and ``/mnt/models`` pointing at the temporary folder; the one other change is that
its ports are 0 (ephemeral), so that tests can run side by side. No ``--model_platform``
is given, as KServe gives none. A pod serves one model from one folder, so no two cases
can share a server: the module starts all of them at once, and each case asks its own.

It is then called with KServe's own Python SDK (``kserve`` on PyPI, run from a
virtualenv of its own because its pins, protobuf<7 among them, conflict with the
server's; made on first use): model readiness and infer over V2 REST
(``InferenceRESTClient``) and V2 gRPC (``InferenceGRPCClient``), and a V1 predict. One
run of the SDK client asks every pod; each case then checks its own pod's answer, which
is compared with the framework's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.deploy.conftest import Manifest, only, require_tool
from tests.integration.server_process import ServerProcess, ServerStarter
from tests.integration.server_process import testdata_dir as shared_testdata  # not a test
from tests.platform_models import (
    iris,
    write_onnx_from_sklearn,
    write_sklearn_classifier,
    write_xgboost,
)

KSERVE = "overlays/kserve"
KSERVE_VERSION = "0.21.0"
KSERVE_VENV = Path(
    os.environ.get(
        "AIOSERVING_KSERVE_VENV",
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "aioserving"
        / f"kserve-{KSERVE_VERSION}",
    )
)
CLIENT = Path(__file__).with_name("kserve_sdk_client.py")
MOUNT = "/mnt/models"
ISVC_NAME = "my-model"
PORT_FLAGS = ("--port=", "--rest_api_port=")


@pytest.fixture(scope="session")
def kserve_python() -> Path:
    """The Python of a virtualenv with ``kserve==KSERVE_VERSION``, made when missing."""
    python = KSERVE_VENV / "bin" / "python"
    probe = [str(python), "-c", "import kserve"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    shutil.rmtree(KSERVE_VENV, ignore_errors=True)
    made = subprocess.run([sys.executable, "-m", "venv", str(KSERVE_VENV)], capture_output=True)
    installed = made.returncode == 0 and (
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"kserve=={KSERVE_VERSION}"],
            capture_output=True,
            text=True,
            timeout=900,
        ).returncode
        == 0
    )
    if not installed:
        require_tool("kserve", f"cannot install kserve=={KSERVE_VERSION} into {KSERVE_VENV}")
    return python


def runtime_args(rendered: dict[str, list[Manifest]], models: Path) -> list[str]:
    """The runtime's args as KServe passes them, for a model mounted at ``models``."""
    (container,) = only(rendered[KSERVE], "ClusterServingRuntime")["spec"]["containers"]
    args: list[str] = []
    for arg in container["args"]:
        arg = arg.replace("{{.Name}}", ISVC_NAME).replace(MOUNT, str(models))
        if arg.startswith(PORT_FLAGS):
            arg = arg.split("=", 1)[0] + "=0"
        args.append(arg)
    assert not any(a.startswith("--model_platform") for a in args), args
    return args


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """A model's files, and what it must answer."""

    files: Path  # a folder holding the model files, copied into the layout tested
    input_name: str
    datatype: str
    x: np.ndarray
    expected: dict[str, np.ndarray]  # the outputs as the framework computes them


def tensorflow_case(scratch: Path) -> Case:
    x = np.array([1.0, 2.0, 5.0], dtype=np.float32)
    y = 0.5 * x + 2
    return Case(
        files=shared_testdata() / "saved_model_half_plus_two_cpu" / "00000123",
        input_name="x",
        datatype="FP32",
        x=x,
        expected={"y": y},
    )


def onnx_case(scratch: Path) -> Case:
    import onnxruntime as ort

    x = iris()[0][:5].astype(np.float32)
    data = write_onnx_from_sklearn(scratch)
    label, probabilities = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(
        None, {"X": x}
    )
    return Case(
        files=scratch,
        input_name="X",
        datatype="FP32",
        x=x,
        expected={"label": label, "probabilities": probabilities},
    )


def sklearn_case(scratch: Path) -> Case:
    x = iris()[0][:5]
    model = write_sklearn_classifier(scratch)
    return Case(
        files=scratch,
        input_name="inputs",
        datatype="FP64",
        x=x,
        expected={"predictions": model.predict(x), "probabilities": model.predict_proba(x)},
    )


def xgboost_case(scratch: Path) -> Case:
    import xgboost

    x = iris()[0][:5].astype(np.float32)
    booster = write_xgboost(scratch)
    predictions = booster.predict(xgboost.DMatrix(x))
    return Case(
        files=scratch,
        input_name="inputs",
        datatype="FP32",
        x=x,
        expected={"predictions": predictions},
    )


CASES: dict[str, Callable[[Path], Case]] = {
    "tensorflow": tensorflow_case,
    "onnx": onnx_case,
    "sklearn": sklearn_case,
    "xgboost": xgboost_case,
}
LAYOUTS = {"files-in-mnt-models": ".", "version-folder-1": "1"}


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    return {name: make(tmp_path_factory.mktemp(name)) for name, make in CASES.items()}


def test_the_runtime_lists_exactly_the_formats_tested_here(
    rendered: dict[str, list[Manifest]],
) -> None:
    spec = only(rendered[KSERVE], "ClusterServingRuntime")["spec"]
    assert {f["name"] for f in spec["supportedModelFormats"]} == set(CASES)


@pytest.fixture(scope="module")
def pods(
    rendered: dict[str, list[Manifest]],
    cases: dict[str, Case],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[tuple[str, str], ServerProcess]]:
    """One emulated pod per (format, layout), its model laid out in its own
    ``/mnt/models``; all started at once, all stopped at the end."""
    starter = ServerStarter(tmp_path_factory.mktemp("pods"))
    keys = [(model_format, layout) for model_format in CASES for layout in LAYOUTS]
    flag_lists = []
    for model_format, layout in keys:
        models = tmp_path_factory.mktemp(f"{model_format}-{layout}") / "mnt" / "models"
        shutil.copytree(cases[model_format].files, models / LAYOUTS[layout], dirs_exist_ok=True)
        flag_lists.append(runtime_args(rendered, models))
    try:
        yield dict(zip(keys, starter.together(*flag_lists), strict=True))
    finally:
        starter.stop_all()


@pytest.fixture(scope="module")
def answers(
    pods: dict[tuple[str, str], ServerProcess], cases: dict[str, Case], kserve_python: Path
) -> dict[tuple[str, str], dict[str, Any]]:
    """What KServe's SDK got from each pod: one client run asks them all."""
    keys = list(pods)
    asked = ask_with_kserve_sdk(kserve_python, [(pods[key], cases[key[0]]) for key in keys])
    return dict(zip(keys, asked, strict=True))


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("model_format", list(CASES))
def test_kserve_sdk_gets_the_frameworks_answer_from_the_emulated_pod(
    pods: dict[tuple[str, str], ServerProcess],
    answers: dict[tuple[str, str], dict[str, Any]],
    cases: dict[str, Case],
    model_format: str,
    layout: str,
) -> None:
    case = cases[model_format]
    server = pods[model_format, layout]
    answer = answers[model_format, layout]
    log = server.log()
    assert "error" not in answer, f"{answer['error']}\n--- server log ---\n{log[-3000:]}"
    assert f"platform {model_format}, told from the files" in log
    if layout == "files-in-mnt-models":
        assert "holds the model files directly" in log and "serving them as version 1" in log
    assert answer["v2_rest_ready"] is True
    assert answer["v2_grpc_ready"] is True
    for protocol in ("v2_rest", "v2_grpc"):
        got = answer[protocol]
        assert set(got) == set(case.expected), protocol
        for name, expected in case.expected.items():
            assert got[name]["shape"] == list(expected.shape), (protocol, name)
            np.testing.assert_allclose(
                got[name]["data"], expected.ravel(), rtol=1e-6, err_msg=f"{protocol} {name}"
            )
    assert v1_outputs(answer["v1"], list(case.expected)).keys() == case.expected.keys()
    for name, got_v1 in v1_outputs(answer["v1"], list(case.expected)).items():
        np.testing.assert_allclose(got_v1, case.expected[name], rtol=1e-6, err_msg=f"v1 {name}")


def v1_outputs(body: dict[str, Any], names: list[str]) -> dict[str, np.ndarray]:
    """TF Serving's row format: one output's rows, or per row a dict of every output."""
    rows = body["predictions"]
    if len(names) == 1:
        return {names[0]: np.asarray(rows)}
    return {name: np.asarray([row[name] for row in rows]) for name in rows[0]}


def ask_with_kserve_sdk(
    python: Path, asked: list[tuple[ServerProcess, Case]]
) -> list[dict[str, Any]]:
    """Run the SDK client once; its answer for each (server, case), in order."""
    requests = [
        {
            "rest": server.rest_url,
            "grpc": f"127.0.0.1:{server.grpc_port}",
            "model": ISVC_NAME,
            "input": {
                "name": case.input_name,
                "datatype": case.datatype,
                "shape": list(case.x.shape),
                "data": case.x.ravel().tolist(),
            },
            "v1": {"instances": case.x.tolist()},
        }
        for server, case in asked
    ]
    result = subprocess.run(
        [str(python), str(CLIENT)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    answers: list[dict[str, Any]] = json.loads(result.stdout)
    return answers
