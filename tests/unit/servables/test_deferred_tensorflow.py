"""The ``tensorflow`` package's ``__init__`` deferred: protos import alone, TensorFlow on use.

Each check runs in a fresh interpreter, since this one imported TensorFlow already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]


def run(code: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_server_and_its_frontends_import_without_initialising_tensorflow() -> None:
    report = run(
        """
        import json, sys
        import server
        from servables.deferred_tensorflow import defer_tensorflow_init, tensorflow_initialised
        after_server = "tensorflow" in sys.modules
        deferred = defer_tensorflow_init()
        import app.supervisor, frontends.grpc_frontend, frontends.rest_server
        from tensorflow_serving.apis import predict_pb2
        request = predict_pb2.PredictRequest()
        request.inputs["x"].float_val.append(1.0)
        print(json.dumps({
            "after_server": after_server,
            "deferred": deferred,
            "initialised": tensorflow_initialised(),
            "runtime_imported": "tensorflow.python" in sys.modules,
            "parsed": list(predict_pb2.PredictRequest.FromString(
                request.SerializeToString()).inputs["x"].float_val),
        }))
        """
    )
    assert report == {
        "after_server": False,
        "deferred": True,
        "initialised": False,
        "runtime_imported": False,
        "parsed": [1.0],
    }


def test_first_use_initialises_tensorflow_once_and_it_works() -> None:
    report = run(
        """
        import json, threading
        from servables.deferred_tensorflow import defer_tensorflow_init, tensorflow_initialised
        defer_tensorflow_init()
        from tensorflow.core.framework import tensor_pb2
        import tensorflow as tf
        before = tensorflow_initialised()
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(float(tf.constant(2.0) + 1)))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        proto = tf.make_tensor_proto([1.0])
        print(json.dumps({
            "before": before,
            "after": tensorflow_initialised(),
            "results": results,
            "same_proto_class": type(proto) is tensor_pb2.TensorProto,
            "again": defer_tensorflow_init(),
        }))
        """
    )
    assert report == {
        "before": False,
        "after": True,
        "results": [3.0] * 4,
        "same_proto_class": True,
        "again": False,
    }
