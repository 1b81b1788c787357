"""The Python platform: Triton's add_sub and auto_complete examples, errors, async, finalize."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from protocol.dtypes import DType
from protocol.status import Code, ServingError
from servables.python_backend.python_model import (
    PythonModelLoader,
    PythonModelOptions,
    PythonModelServable,
)
from servables.triton_signature import triton_model_config

EXAMPLES = Path(__file__).resolve().parents[3] / "data" / "triton_python_backend"


def load(version: Path, name: str = "m") -> PythonModelServable:
    loader = PythonModelLoader(
        model_name=name, version=1, path=str(version), options=PythonModelOptions()
    )
    return loader.load()


def lay_out(root: Path, name: str, model: Path, config: Path | None) -> Path:
    """``root/name/1/model.py`` (+ ``root/name/config.pbtxt``), as the examples' READMEs say."""
    (root / name / "1").mkdir(parents=True)
    shutil.copy(model, root / name / "1" / "model.py")
    if config is not None:
        shutil.copy(config, root / name / "config.pbtxt")
    return root / name / "1"


def test_add_sub_example_adds_and_subtracts(tmp_path: Path) -> None:
    version = lay_out(
        tmp_path,
        "add_sub",
        EXAMPLES / "add_sub" / "model.py",
        EXAMPLES / "add_sub" / "config.pbtxt",
    )
    servable = load(version, "add_sub")
    signature = servable.signatures["serving_default"]
    assert signature.inputs["INPUT0"].dtype == DType.DT_FLOAT
    assert signature.inputs["INPUT0"].shape == (4,)
    a, b = np.random.rand(4).astype(np.float32), np.random.rand(4).astype(np.float32)
    out = servable.run(signature, {"INPUT0": a, "INPUT1": b}, ())
    np.testing.assert_allclose(out["OUTPUT0"], a + b)
    np.testing.assert_allclose(out["OUTPUT1"], a - b)
    assert list(servable.run(signature, {"INPUT0": a, "INPUT1": b}, ("OUTPUT1",))) == ["OUTPUT1"]
    servable.unload()


@pytest.mark.parametrize(
    ("model", "max_batch_size"), [("batch_model.py", 4), ("nobatch_model.py", 0)]
)
def test_auto_complete_example_configures_itself(
    tmp_path: Path, model: str, max_batch_size: int
) -> None:
    version = lay_out(tmp_path, "auto", EXAMPLES / "auto_complete" / model, None)
    servable = load(version, "auto")
    assert servable.config.max_batch_size == max_batch_size
    assert [t.name for t in servable.config.inputs] == ["INPUT0", "INPUT1"]
    signature = servable.signatures["serving_default"]
    expected_shape = (-1, 4) if max_batch_size else (4,)
    assert signature.outputs["OUTPUT0"].shape == expected_shape
    if max_batch_size:
        assert servable.batching is not None and servable.batching.max_batch_size == 4


def write_model(tmp_path: Path, body: str) -> Path:
    version = tmp_path / "m" / "1"
    version.mkdir(parents=True)
    (version / "model.py").write_text(textwrap.dedent(body))
    (tmp_path / "m" / "config.pbtxt").write_text(
        'backend: "python"\n'
        'input [ { name: "IN" data_type: TYPE_STRING dims: [ -1 ] } ]\n'
        'output [ { name: "OUT" data_type: TYPE_STRING dims: [ -1 ] } ]\n'
    )
    return version


def test_async_execute_bytes_tensors_and_finalize(tmp_path: Path) -> None:
    marker = tmp_path / "finalized"
    version = write_model(
        tmp_path,
        f"""
        import asyncio
        import numpy as np
        import triton_python_backend_utils as pb_utils

        class TritonPythonModel:
            async def execute(self, requests):
                await asyncio.sleep(0)
                responses = []
                for request in requests:
                    text = pb_utils.get_input_tensor_by_name(request, "IN").as_numpy()
                    upper = np.array([t.upper() for t in text], dtype=object)
                    responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUT", upper)]))
                return responses

            def finalize(self):
                open({str(marker)!r}, "w").close()
        """,
    )
    servable = load(version)
    signature = servable.signatures["serving_default"]
    out = servable.run(signature, {"IN": np.array([b"ab", b"c"], dtype=object)}, ())
    assert out["OUT"].tolist() == [b"AB", b"C"]
    assert not marker.exists()
    servable.unload()
    assert marker.exists()


def test_errors_reach_the_caller_with_their_status(tmp_path: Path) -> None:
    version = write_model(
        tmp_path,
        """
        import triton_python_backend_utils as pb_utils

        class TritonPythonModel:
            def execute(self, requests):
                text = pb_utils.get_input_tensor_by_name(requests[0], "IN").as_numpy()[0]
                if text == b"raise":
                    raise pb_utils.TritonModelException("model says no")
                error = pb_utils.TritonError("bad input: " + text.decode(), pb_utils.TritonError.INVALID_ARG)
                return [pb_utils.InferenceResponse(error=error)]
        """,
    )
    servable = load(version)
    signature = servable.signatures["serving_default"]
    with pytest.raises(ServingError) as raised:
        servable.run(signature, {"IN": np.array([b"xyz"], dtype=object)}, ())
    assert raised.value.code == Code.INVALID_ARGUMENT
    assert raised.value.message == "bad input: xyz"
    with pytest.raises(ServingError) as raised:
        servable.run(signature, {"IN": np.array([b"raise"], dtype=object)}, ())
    assert raised.value.code == Code.INTERNAL
    assert "model says no" in raised.value.message


def test_bls_outside_a_server_answers_unavailable_in_the_response(tmp_path: Path) -> None:
    version = write_model(
        tmp_path,
        """
        import triton_python_backend_utils as pb_utils

        class TritonPythonModel:
            def execute(self, requests):
                inner = pb_utils.InferenceRequest(
                    model_name="other", requested_output_names=["OUT"],
                    inputs=[pb_utils.get_input_tensor_by_name(requests[0], "IN")])
                response = inner.exec()
                if response.has_error():
                    raise pb_utils.TritonModelException(response.error().message())
                return [response]
        """,
    )
    servable = load(version)
    with pytest.raises(ServingError, match="no model caller"):
        servable.run(
            servable.signatures["serving_default"], {"IN": np.array([b"a"], dtype=object)}, ()
        )


def test_a_model_without_tensors_fails_the_load_saying_where_to_declare_them(
    tmp_path: Path,
) -> None:
    version = tmp_path / "m" / "1"
    version.mkdir(parents=True)
    (version / "model.py").write_text("class TritonPythonModel:\n    pass\n")
    with pytest.raises(ValueError, match="declares no inputs or no outputs"):
        load(version)


def test_initialize_failure_fails_the_load(tmp_path: Path) -> None:
    version = write_model(
        tmp_path,
        """
        class TritonPythonModel:
            def initialize(self, args):
                raise RuntimeError("missing label map for " + args["model_name"])
        """,
    )
    with pytest.raises(RuntimeError, match="missing label map for m"):
        load(version)


@pytest.mark.parametrize(
    ("model", "max_batch_size"), [("batch_model.py", 4), ("nobatch_model.py", 0)]
)
def test_triton_model_config_is_what_the_auto_complete_client_checks(
    tmp_path: Path, model: str, max_batch_size: int
) -> None:
    version = lay_out(tmp_path, "auto", EXAMPLES / "auto_complete" / model, None)
    config = triton_model_config(load(version, "auto"))
    assert config["name"] == "auto"
    assert config["backend"] == "python"
    assert config["max_batch_size"] == max_batch_size
    expected = [
        {"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]},
        {"name": "INPUT1", "data_type": "TYPE_FP32", "dims": [4]},
    ]
    assert [{k: t[k] for k in ("name", "data_type", "dims")} for t in config["input"]] == expected
    assert [t["name"] for t in config["output"]] == ["OUTPUT0", "OUTPUT1"]


def test_request_parameters_reach_the_model_as_a_json_string(tmp_path: Path) -> None:
    echo = Path(__file__).resolve().parents[3] / "data" / "echo_parameters"
    servable = load(lay_out(tmp_path, "echo", echo / "model.py", echo / "config.pbtxt"))
    assert servable.takes_parameters
    signature = servable.signatures["serving_default"]
    x = {"IN": np.zeros((2, 1), np.float32)}
    given = {"greeting": "hi", "n": 3, "flag": True}
    out = servable.run_with_parameters(signature, x, (), given)["PARAMETERS"]
    assert out.shape == (2, 1)
    assert [json.loads(row[0]) for row in out] == [given, given]
    assert json.loads(servable.run(signature, x, ())["PARAMETERS"][0, 0]) == {}
