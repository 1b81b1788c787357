"""TF Serving's wording where clients and log alerts match on it.

Sources: ``servables/tensorflow/predict_util_test.cc`` (a Predict whose tensor has the wrong
dtype fails with TF's "Expects arg[0] to be float but bool is provided") and
``model_servers/server_core_test.cc`` / ``main.cc`` (a models.config that does not parse is
logged by libprotobuf as "Error parsing text-format tensorflow.serving.ModelServerConfig").
"""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from tests.integration.server_process import ServerProcess, run_server_expecting_failure


def test_a_wrong_dtype_over_grpc_uses_tfs_words(server: ServerProcess) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([True, False])))
    with pytest.raises(grpc.RpcError) as raised:
        server.prediction.Predict(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Expects arg[0] to be float but bool is provided" in (raised.value.details() or "")


def test_a_bad_models_config_is_logged_in_libprotobufs_words_first(tmp_path: Path) -> None:
    config = tmp_path / "models.config"
    config.write_text('model_config_list {\n  config {\n    name: "m"\n    bogus: 1\n  }\n}\n')
    result = run_server_expecting_failure([f"--model_config_file={config}"])
    assert result.returncode == 1
    tf_line = "Error parsing text-format tensorflow.serving.ModelServerConfig: 4:5:"
    our_line = f"configuration error: {config}:4:5: field 'bogus'"
    assert tf_line in result.stderr and our_line in result.stderr, result.stderr
    assert result.stderr.index(tf_line) < result.stderr.index(our_line)
