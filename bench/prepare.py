"""Inputs every run shares, under ``bench/out/``: models, the model config, request bodies.

- ``digits`` is exported by ``examples.export_digits`` (versions 1 and 2); ``cnn`` is a small
  untrained net exported here (conv 3x3x32 -> conv 3x3x64 -> maxpool -> dense 128 -> dense
  10, input ``images`` [None, 784] reshaped inside, so it takes the very requests ``digits``
  takes; seeded weights: the bench measures speed, not accuracy). Exports are skipped when
  present and atomic (a hidden sibling renamed into place), so a polling server never sees
  half a version. ``copy_version`` publishes a new version the same way.
- For each payload: ``NAME.grpc`` (a serialized ``PredictRequest``, tensor packed by
  ``tf.make_tensor_proto`` as TF Serving's ``mnist_client`` does) and ``NAME.json`` (REST
  row format); for the Open Inference Protocol, as ``tritonclient`` sends them:
  ``NAME.v2grpc`` (a serialized ``ModelInferRequest``, the tensor in
  ``raw_input_contents``), ``NAME.v2rest`` (the binary tensor extension: a JSON header with
  ``binary_data_size`` and ``binary_data_output: true``, then the raw floats; its length in
  ``NAME.v2rest_length``) and ``NAME.v2json`` (JSON ``data``). ``capture`` stores what the
  real server answered (``*_response``, and ``v2rest_response_length``), which the floors
  replay and h2load's size check expects.
Files are replaced atomically, so two bench runs at once may share them.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
import uuid
from pathlib import Path

import numpy as np

from bench.spec import (
    ALL_MODELS,
    CNN,
    DIGITS,
    MODEL_CONFIG,
    PAYLOADS,
    REQUEST_SUFFIX,
    Model,
    Payload,
)

SIGNATURE = "serving_default"
PREDICT_PATH = "/tensorflow.serving.PredictionService/Predict"
MODEL_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
GRPC_METHODS = {"grpc": PREDICT_PATH, "v2grpc": MODEL_INFER_PATH}
INFERENCE_HEADER = "Inference-Header-Content-Length"


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def examples(model: Model, rows: int) -> np.ndarray:
    """Held-out digits for the 784-wide models, 0..rows-1 for half_plus_two."""
    if model.width == 1:
        return np.arange(rows, dtype=np.float32).reshape(rows, 1)
    from examples.digits_data import load_digits_28x28

    images = load_digits_28x28().test_images
    return np.ascontiguousarray(images[np.arange(rows) % len(images)], dtype=np.float32)


def predict_request(model: Model, rows: int):  # type: ignore[no-untyped-def]  # a PredictRequest
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model.name
    request.model_spec.signature_name = SIGNATURE
    data = examples(model, rows)
    request.inputs[model.input_name].CopyFrom(tf.make_tensor_proto(data, shape=data.shape))
    return request


def rest_target(protocol: str, payload: Payload) -> tuple[str, dict[str, str]]:
    """The URL path and headers of a REST payload's request (after ``prepare``)."""
    if protocol == "rest":
        return f"/v1/models/{payload.model.name}:predict", {"Content-Type": "application/json"}
    path = f"/v2/models/{payload.model.name}/infer"
    if protocol == "v2json":
        return path, {"Content-Type": "application/json"}
    length = payload.file("v2rest_length").read_text().strip()
    return path, {"Content-Type": "application/octet-stream", INFERENCE_HEADER: length}


def v2_bodies(model: Model, rows: int) -> dict[str, bytes]:
    """``v2grpc``, ``v2rest``, ``v2rest_length`` and ``v2json`` for ``rows`` examples."""
    from tritonclient.grpc import service_pb2

    data = examples(model, rows)
    raw = data.tobytes()
    tensor = {"name": model.input_name, "shape": list(data.shape), "datatype": "FP32"}
    grpc_request = service_pb2.ModelInferRequest(
        model_name=model.name,
        inputs=[service_pb2.ModelInferRequest.InferInputTensor(**tensor)],
        raw_input_contents=[raw],
    )
    header = json.dumps(
        {
            "inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}],
            "parameters": {"binary_data_output": True},
        },
        separators=(",", ":"),
    ).encode()
    document = {"inputs": [{**tensor, "data": data.reshape(-1).tolist()}]}
    return {
        "v2grpc": grpc_request.SerializeToString(),
        "v2rest": header + raw,
        "v2rest_length": str(len(header)).encode(),
        "v2json": json.dumps(document, separators=(",", ":")).encode(),
    }


def prepare() -> None:
    """Export the models the bench owns, write the model config and the request bodies."""
    if not (DIGITS.base_path / "2").is_dir():
        from examples.export_digits import export_digits_model

        shutil.rmtree(DIGITS.base_path, ignore_errors=True)
        export_digits_model(DIGITS.base_path)
    if not (CNN.base_path / "1").is_dir():
        export_cnn(CNN.base_path / "1")
    write_model_config(MODEL_CONFIG, ALL_MODELS)
    for payload in PAYLOADS:
        request = predict_request(payload.model, payload.rows)
        write_atomically(payload.file("grpc"), request.SerializeToString())
        body = {"signature_name": SIGNATURE, "instances": examples(payload.model, payload.rows)}
        body["instances"] = body["instances"].tolist()  # type: ignore[attr-defined]
        write_atomically(payload.file("json"), json.dumps(body, separators=(",", ":")).encode())
        for suffix, data in v2_bodies(payload.model, payload.rows).items():
            write_atomically(payload.file(suffix), data)


def write_model_config(path: Path, models: tuple[Model, ...]) -> None:
    entries = "".join(
        f'  config {{ name: "{m.name}" base_path: "{m.base_path}" model_platform: "tensorflow" }}\n'
        for m in models
    )
    write_atomically(path, f"model_config_list {{\n{entries}}}\n".encode())


def capture(grpc_port: int, rest_port: int) -> None:
    """Send every body once to the real server and keep its answers; raises on any error."""
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        for protocol, method in GRPC_METHODS.items():
            call = channel.unary_unary(method)
            for payload in PAYLOADS:
                answer = call(payload.file(REQUEST_SUFFIX[protocol]).read_bytes())
                write_atomically(payload.file(f"{protocol}_response"), answer)
    for protocol in ("rest", "v2rest", "v2json"):
        for payload in PAYLOADS:
            path, headers = rest_target(protocol, payload)
            request = urllib.request.Request(
                f"http://127.0.0.1:{rest_port}{path}",
                data=payload.file(REQUEST_SUFFIX[protocol]).read_bytes(),
                headers=headers,
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                write_atomically(payload.file(f"{protocol}_response"), response.read())
                if protocol == "v2rest":
                    length = response.headers[INFERENCE_HEADER].encode()
                    write_atomically(payload.file("v2rest_response_length"), length)


def export_cnn(target: Path) -> None:
    import tensorflow as tf

    class SmallCnn(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="small_cnn")

            def init(shape: list[int], seed: int, scale: float) -> tf.Variable:
                return tf.Variable(tf.random.stateless_normal(shape, seed=[7, seed]) * scale)

            self.conv1, self.conv2 = init([3, 3, 1, 32], 1, 0.3), init([3, 3, 32, 64], 2, 0.06)
            self.dense1, self.dense2 = init([9216, 128], 3, 0.01), init([128, 10], 4, 0.1)
            self.bias1, self.bias2 = tf.Variable(tf.zeros([128])), tf.Variable(tf.zeros([10]))

        @tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32)])
        def predict(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
            x = tf.reshape(images, [-1, 28, 28, 1])
            x = tf.nn.relu(tf.nn.conv2d(x, self.conv1, strides=1, padding="VALID"))
            x = tf.nn.relu(tf.nn.conv2d(x, self.conv2, strides=1, padding="VALID"))
            x = tf.reshape(tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID"), [-1, 9216])
            x = tf.nn.relu(tf.matmul(x, self.dense1) + self.bias1)
            return {"scores": tf.nn.softmax(tf.matmul(x, self.dense2) + self.bias2)}

    model = SmallCnn()
    staging = _staging(target)
    signatures = {SIGNATURE: model.predict.get_concrete_function()}
    tf.saved_model.save(model, str(staging), signatures=signatures)
    os.rename(staging, target)


def copy_version(model: Model, source: int, new: int) -> None:
    staging = _staging(model.base_path / str(new))
    shutil.copytree(model.base_path / str(source), staging)
    os.rename(staging, model.base_path / str(new))


def latest_version(model: Model) -> Path:
    return max(
        (p for p in model.base_path.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
    )


def _staging(target: Path) -> Path:
    """A hidden, non-numeric sibling: a version poller ignores it until the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.parent / f".{target.name}.incomplete-{uuid.uuid4().hex}"
