"""``half_plus_two`` as an ONNX model (``y = 0.5 * x + 2``), for tests of frontend behaviour.

TF Serving's test model ``saved_model_half_plus_two_cpu`` answers ``{"instances": [1.0,
2.0]}`` with ``{"predictions": [2.5, 3.0]}``; this graph (input ``x``, output ``y``, float,
shape [-1]) gives the same answers. A server whose only model is this one never starts
TensorFlow, so it is up in about a second instead of several: tests whose point is a
frontend behaviour (authentication, TLS, connection limits) serve it, and keep a
TensorFlow-backed server where TF Serving compatibility is the point.

``write_half_plus_two_onnx(base_path)`` writes version 1 (``<base_path>/1/model.onnx``),
whose file times are set a minute back, so that the server's first scan takes the
version as complete (a version folder still being written is not loaded).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import onnx
from onnx import TensorProto, helper

OPSET = 13


def write_half_plus_two_onnx(base_path: Path) -> Path:
    """Write ``<base_path>/1/model.onnx``; returns ``base_path`` (``--model_base_path``)."""
    half = helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "half"], ["half_x"]),
            helper.make_node("Add", ["half_x", "two"], ["y"]),
        ],
        "half_plus_two",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])],
        initializer=[half, two],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    version = base_path / "1"
    version.mkdir(parents=True, exist_ok=True)
    artifact = version / "model.onnx"
    artifact.write_bytes(model.SerializeToString())
    settled = time.time() - 60
    for path in (artifact, version):
        os.utime(path, (settled, settled))
    return base_path
