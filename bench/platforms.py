"""Per platform: the load time and the in-process versus served throughput of one small model.

For each platform a small model is made here (PyTorch: the ``AddSub`` model of
``tests/torch_models.py`` as TorchScript, ExportedProgram and, with ``--aoti``, an
AOTInductor package; Python: Triton's ``add_sub`` example; LightGBM and CatBoost: an iris
classifier; ONNX: the skl2onnx iris model, as the reference). Then:

- ``load_s``: one ``Loader.load()`` in this process (the median of ``--loads``; the first
  torch load also pays for importing torch, reported apart as ``first_load_s``);
- ``inprocess_per_s``: back-to-back ``servable.run`` calls of one row on this thread;
- ``served_per_s``: back-to-back Predict calls of one row through the official TF Serving
  gRPC stub, one in flight, against ``server.py`` serving every model from one
  ``models.config`` (``--port 0``; batching off).

Each throughput is calls per second over ``--seconds`` after a warm-up of 50 calls. Prints
one JSON object per platform. Usage: ``python -m bench.platforms [--seconds 3] [--aoti]``.
Record the command, the commit and the machine with the figures (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from servables.loader import Loader  # noqa: E402 - after the path set-up


def _rate(call: Callable[[], object], seconds: float) -> float:
    for _ in range(50):
        call()
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        call()
        calls += 1
    return calls / elapsed


def make_models(root: Path, aoti: bool) -> dict[str, tuple[str, str, dict[str, np.ndarray]]]:
    """name -> (platform, version path, one-row inputs)."""
    import catboost
    import lightgbm
    from tests.platform_models import iris, write_onnx_from_sklearn
    from tests.torch_models import (
        example_inputs,
        libtorch_config,
        write_aoti_package,
        write_exported_program,
        write_torchscript,
    )

    x, y = iris()
    row = {"inputs": x[:1]}
    x1, y1 = (t.numpy() for t in example_inputs(1))
    models: dict[str, tuple[str, str, dict[str, np.ndarray]]] = {}
    write_onnx_from_sklearn(root / "onnx" / "1")
    models["onnx"] = ("onnx", str(root / "onnx" / "1"), {"X": x[:1].astype(np.float32)})
    write_torchscript(root / "torchscript" / "1")
    models["torchscript"] = ("pytorch", str(root / "torchscript" / "1"), {"x": x1, "y": y1})
    write_exported_program(root / "exported" / "1")
    models["exported"] = ("pytorch", str(root / "exported" / "1"), {"x": x1, "y": y1})
    if aoti:
        write_aoti_package(root / "aoti" / "1")
        (root / "aoti" / "config.pbtxt").write_text(libtorch_config("aoti"))
        models["aoti"] = ("pytorch", str(root / "aoti" / "1"), {"INPUT__0": x1, "INPUT__1": y1})
    examples = ROOT / "tests" / "data" / "triton_python_backend" / "add_sub"
    (root / "python" / "1").mkdir(parents=True)
    shutil.copy(examples / "model.py", root / "python" / "1")
    shutil.copy(examples / "config.pbtxt", root / "python")
    a = np.ones(4, np.float32)
    models["python"] = ("python", str(root / "python" / "1"), {"INPUT0": a, "INPUT1": a})
    booster = lightgbm.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
        lightgbm.Dataset(x, y),
        num_boost_round=20,
    )
    (root / "lightgbm" / "1").mkdir(parents=True)
    booster.save_model(str(root / "lightgbm" / "1" / "model.txt"))
    models["lightgbm"] = ("lightgbm", str(root / "lightgbm" / "1"), row)
    classifier = catboost.CatBoostClassifier(
        iterations=20, verbose=False, thread_count=1, allow_writing_files=False
    )
    classifier.fit(x, y)
    (root / "catboost" / "1").mkdir(parents=True)
    classifier.save_model(str(root / "catboost" / "1" / "model.cbm"))
    models["catboost"] = ("catboost", str(root / "catboost" / "1"), row)
    return models


def loader(name: str, platform: str, path: str) -> Loader:
    from app.platforms import DeferredLoader, LazyPlatform
    from servables.version_folder import VersionExtras

    options: dict[str, Any] = {"extras": VersionExtras()}
    if platform == "pytorch":
        options.update(intra_op_threads=1, inter_op_threads=1)
    if platform == "onnx":
        options.update(intra_op_threads=1, inter_op_threads=1)
    lazy = LazyPlatform(platform, options)
    return DeferredLoader(platform=lazy, model_name=name, version=1, path=path)


def served_rates(root: Path, models: dict[str, Any], seconds: float) -> dict[str, float]:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    from tests.integration.server_process import ServerProcess

    body = "".join(
        f'  config {{ name: "{n}" base_path: "{Path(p).parent}" model_platform: "{pl}" }}\n'
        for n, (pl, p, _) in models.items()
    )
    (root / "models.config").write_text(f"model_config_list {{\n{body}}}\n")
    server = ServerProcess(
        [f"--model_config_file={root / 'models.config'}", "--tensorflow_intra_op_parallelism=1",
         "--tensorflow_inter_op_parallelism=1"],
        root,
    )  # fmt: skip
    try:
        rates = {}
        for name, (_, _, inputs) in models.items():
            request = predict_pb2.PredictRequest()
            request.model_spec.name = name
            for key, array in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(array))
            server.wait_until(
                partial(_answers, server, request), timeout=120, what=f"{name} to answer"
            )
            rates[name] = _rate(partial(server.prediction.Predict, request, timeout=30), seconds)
        return rates
    finally:
        server.stop()


def _answers(server: Any, request: Any) -> bool:
    try:
        server.prediction.Predict(request, timeout=30)
    except Exception:  # noqa: BLE001 - not loaded yet: any error means "try again"
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--aoti", action="store_true", help="also an AOTInductor package")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        models = make_models(root, args.aoti)
        results: dict[str, dict[str, float]] = {}
        for name, (platform, path, inputs) in models.items():
            started = time.perf_counter()
            servable = loader(name, platform, path).load()
            first = time.perf_counter() - started
            times = []
            for _ in range(args.loads):
                started = time.perf_counter()
                loader(name, platform, path).load().unload()
                times.append(time.perf_counter() - started)
            signature = servable.signatures["serving_default"]
            rate = _rate(partial(servable.run, signature, inputs, ()), args.seconds)
            results[name] = {
                "first_load_s": round(first, 4),
                "load_s": round(statistics.median(times), 4),
                "inprocess_per_s": round(rate),
            }
            servable.unload()
        for name, rate in served_rates(root, models, args.seconds).items():
            results[name]["served_per_s"] = round(rate)
        for name, figures in results.items():
            print(json.dumps({"model": name, "platform": models[name][0], **figures}))


if __name__ == "__main__":
    main()
