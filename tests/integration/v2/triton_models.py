"""The small models Triton's example clients expect, made here as ONNX graphs (not collected).

Triton's ``docs/examples/model_repository`` holds them as configs; the example scripts
(``tests/data/triton_client_examples``) define what each must do:
- ``simple`` (INT32) and ``simple_int8`` (INT8): ``INPUT0``, ``INPUT1`` of shape
  [batch, 16]; ``OUTPUT0`` = INPUT0 + INPUT1, ``OUTPUT1`` = INPUT0 - INPUT1;
- ``simple_string``: the same on BYTES tensors holding decimal integers, answered as
  decimal text (ONNX ``Cast`` string -> int32 -> string);
- ``simple_identity``: BYTES ``INPUT0`` -> ``OUTPUT0`` unchanged, any shape.
- ``densenet_onnx``: a stand-in with the names and input shape ``grpc_client.py`` sends
  (``data_0`` FP32 [3, 224, 224] -> ``fc6_1``); its output is each channel's mean
  ([3, 1, 1]), not DenseNet's 1000 scores: the script only prints the answer.
``write_int64_output`` writes a model whose output is int64 (``ArgMax``), for the V1 row
format (issue 18 item 7).
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

_OPSET = [helper.make_opsetid("", 17)]


def _save(graph: onnx.GraphProto, version_dir: Path) -> None:
    model = helper.make_model(graph, opset_imports=_OPSET)
    model.ir_version = 8  # what onnxruntime releases of the last years all read
    onnx.checker.check_model(model)
    version_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(version_dir / "model.onnx"))


def _sum_and_difference(name: str, element: int, version_dir: Path) -> None:
    shape: list[str | int] = ["batch", 16]
    inputs = [helper.make_tensor_value_info(n, element, shape) for n in ("INPUT0", "INPUT1")]
    outputs = [helper.make_tensor_value_info(n, element, shape) for n in ("OUTPUT0", "OUTPUT1")]
    nodes = [
        helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
        helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"]),
    ]
    _save(helper.make_graph(nodes, name, inputs, outputs), version_dir)


def write_simple(version_dir: Path) -> None:
    _sum_and_difference("simple", TensorProto.INT32, version_dir)


def write_simple_int8(version_dir: Path) -> None:
    _sum_and_difference("simple_int8", TensorProto.INT8, version_dir)


def write_simple_string(version_dir: Path) -> None:
    shape: list[str | int] = ["batch", 16]
    string = TensorProto.STRING
    inputs = [helper.make_tensor_value_info(n, string, shape) for n in ("INPUT0", "INPUT1")]
    outputs = [helper.make_tensor_value_info(n, string, shape) for n in ("OUTPUT0", "OUTPUT1")]
    nodes = [
        helper.make_node("Cast", ["INPUT0"], ["a"], to=TensorProto.INT32),
        helper.make_node("Cast", ["INPUT1"], ["b"], to=TensorProto.INT32),
        helper.make_node("Add", ["a", "b"], ["sum"]),
        helper.make_node("Sub", ["a", "b"], ["difference"]),
        helper.make_node("Cast", ["sum"], ["OUTPUT0"], to=string),
        helper.make_node("Cast", ["difference"], ["OUTPUT1"], to=string),
    ]
    _save(helper.make_graph(nodes, "simple_string", inputs, outputs), version_dir)


def write_simple_identity(version_dir: Path) -> None:
    shape: list[str | int] = ["batch", "n"]
    inputs = [helper.make_tensor_value_info("INPUT0", TensorProto.STRING, shape)]
    outputs = [helper.make_tensor_value_info("OUTPUT0", TensorProto.STRING, shape)]
    nodes = [helper.make_node("Identity", ["INPUT0"], ["OUTPUT0"])]
    _save(helper.make_graph(nodes, "simple_identity", inputs, outputs), version_dir)


def write_int64_output(version_dir: Path) -> None:
    """``x`` float [batch, 3] -> ``label`` int64 [batch] (argmax) and ``x_copy`` float."""
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])]
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
        helper.make_tensor_value_info("x_copy", TensorProto.FLOAT, ["batch", 3]),
    ]
    nodes = [
        helper.make_node("ArgMax", ["x"], ["label"], axis=1, keepdims=0),
        helper.make_node("Identity", ["x"], ["x_copy"]),
    ]
    _save(helper.make_graph(nodes, "int64_output", inputs, outputs), version_dir)


def write_densenet_stand_in(version_dir: Path) -> None:
    inputs = [helper.make_tensor_value_info("data_0", TensorProto.FLOAT, [3, 224, 224])]
    outputs = [helper.make_tensor_value_info("fc6_1", TensorProto.FLOAT, [3, 1, 1])]
    nodes = [helper.make_node("ReduceMean", ["data_0"], ["fc6_1"], axes=[1, 2], keepdims=1)]
    _save(helper.make_graph(nodes, "densenet_onnx", inputs, outputs), version_dir)
