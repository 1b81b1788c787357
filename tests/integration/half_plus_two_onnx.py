"""``half_plus_two`` as an ONNX model (``y = 0.5 * x + 2``), for tests of frontend behaviour.

TF Serving's test model ``saved_model_half_plus_two_cpu`` answers ``{"instances": [1.0,
2.0]}`` with ``{"predictions": [2.5, 3.0]}``; this graph (input ``x``, output ``y``, float)
gives the same answers. A server whose only model is this one never starts
TensorFlow, so it is up in about a second instead of several: tests whose point is a
frontend behaviour (authentication, TLS, connection limits) serve it, and keep a
TensorFlow-backed server where TF Serving compatibility is the point.

``write_half_plus_two_onnx(base_path)`` writes ``<base_path>/<version>/model.onnx``
(version 1, and ``x`` of shape [-1], unless told otherwise: ``version=123, dims=("batch",
1)`` is TF Serving's own signature), whose file times are set a minute back, so that the
server's first scan takes the version as complete (a folder still being written is not
loaded).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import onnx
from onnx import TensorProto, helper

OPSET = 13


def write_half_plus_two_onnx(
    base_path: Path, version: int = 1, dims: tuple[str | int, ...] = ("batch",)
) -> Path:
    """Write ``<base_path>/<version>/model.onnx`` (``x`` and ``y`` of shape ``dims``, a name
    for a free dimension); returns ``base_path`` (``--model_base_path``)."""
    half = helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "half"], ["half_x"]),
            helper.make_node("Add", ["half_x", "two"], ["y"]),
        ],
        "half_plus_two",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, list(dims))],
        initializer=[half, two],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    folder = base_path / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    artifact = folder / "model.onnx"
    artifact.write_bytes(model.SerializeToString())
    settled = time.time() - 60
    for path in (artifact, folder):
        os.utime(path, (settled, settled))
    return base_path
