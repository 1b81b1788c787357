"""The ONNX loader: signatures from the graph, same answers as onnxruntime, load errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from protocol.dtypes import DType
from protocol.status import Code, ServingError
from servables.onnx.onnx_model import OnnxLoader, OnnxOptions, OnnxServable
from tests.platform_models import iris, write_onnx_from_sklearn


def load(path: Path, *, intra_op_threads: int = 0, inter_op_threads: int = 0) -> OnnxServable:
    options = OnnxOptions(intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads)
    return OnnxLoader(model_name="m", version=1, path=str(path), options=options).load()


def test_skl2onnx_model_answers_as_onnxruntime_does(tmp_path: Path) -> None:
    data = write_onnx_from_sklearn(tmp_path / "1")
    servable = load(tmp_path / "1", intra_op_threads=1, inter_op_threads=1)
    signature = servable.signatures["serving_default"]
    assert signature.inputs["X"].shape == (-1, 4)
    assert signature.inputs["X"].dtype == DType.DT_FLOAT
    assert signature.outputs["label"].dtype == DType.DT_INT64
    assert signature.outputs["probabilities"].shape == (-1, 3)
    x = iris()[0].astype(np.float32)
    out = servable.run(signature, {"X": x}, ())
    label, probabilities = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(
        None, {"X": x}
    )
    np.testing.assert_array_equal(out["label"], label)
    np.testing.assert_allclose(out["probabilities"], probabilities, rtol=1e-6)
    assert list(servable.run(signature, {"X": x[:1]}, ("label",))) == ["label"]


def test_free_dimensions_become_minus_one_and_strings_round_trip(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["t"])],
        "strings",
        [helper.make_tensor_value_info("s", TensorProto.STRING, ["batch", None])],
        [helper.make_tensor_value_info("t", TensorProto.STRING, ["batch", None])],
    )
    (tmp_path / "1").mkdir()
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
        tmp_path / "1" / "model.onnx",
    )
    servable = load(tmp_path / "1")
    spec = servable.signatures["serving_default"].inputs["s"]
    assert (spec.dtype, spec.shape) == (DType.DT_STRING, (-1, -1))
    out = servable.run(
        servable.signatures["serving_default"], {"s": np.array([[b"a", b"bc"]], dtype=object)}, ()
    )
    assert out["t"].tolist() == [["a", "bc"]]


def test_wrong_dimension_is_invalid_argument(tmp_path: Path) -> None:
    write_onnx_from_sklearn(tmp_path / "1")
    servable = load(tmp_path / "1")
    with pytest.raises(ServingError) as caught:
        servable.run(
            servable.signatures["serving_default"], {"X": np.zeros((2, 3), np.float32)}, ()
        )
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert "invalid dimensions" in caught.value.message


def test_a_corrupt_file_fails_the_load_with_onnxruntimes_reason(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(Exception, match="ONNXRuntimeError"):
        load(tmp_path / "1")


def test_an_unsupported_opset_fails_the_load(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "future",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 999)])
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(Exception, match="opset"):
        load(tmp_path / "1")
