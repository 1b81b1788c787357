"""Server-side batching through both frontends, checked by answers and by metrics.

Most tests share one server that batches with per-model parameters
(``--enable_per_model_batching_parameters``): each test has its own copy of half_plus_two
under its own name, whose version folder holds that test's ``batching_params.pbtxt``, so
its queues and its metrics (labelled by model) are its own. The server-wide
``--batching_parameters_file`` sets what only a server-wide file can: one batch thread.
``--rest_api_timeout_in_ms`` applies to every REST request, so its test has its own server.
Both keep TF Serving's fixed timeout (``--batching_cost_model=false``): their tests hold
requests in a queue for the timeout. A third server, with the cost model on (the
default), shows that a lone request does not wait for its timeout. The servers start at
the same time.
"""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from tests.integration.server_process import ServerProcess, ServerStarter
from tests.integration.test_metrics import sample

PER_MODEL_BATCHING = {
    "shared_batches": "max_batch_size { value: 64 } batch_timeout_micros { value: 200000 } "
    "allowed_batch_sizes: 8 allowed_batch_sizes: 64",
    "small_queue": "max_batch_size { value: 2 } batch_timeout_micros { value: 1000000 } "
    "max_enqueued_batches { value: 1 }",
    "slow_batches": "max_batch_size { value: 64 } batch_timeout_micros { value: 1500000 }",
    "per_model": "max_batch_size { value: 2 } batch_timeout_micros { value: 100000 }",
    "splitting": "max_batch_size { value: 4 } batch_timeout_micros { value: 300000 } "
    "enable_large_batch_splitting { value: true }",
}
"""Each model (a copy of half_plus_two) and its version folder's batching parameters."""


def predict_request(rows: np.ndarray, model: str) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(rows.astype(np.float32)))
    return request


@pytest.fixture(scope="module")
def servers(
    start_server: ServerStarter,
    testdata: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> list[ServerProcess]:
    """The per-model batching server, the ``--rest_api_timeout_in_ms`` one (``hpt``) and the
    cost model's (``hpt``, a 60 s timeout)."""
    from tests.integration.conftest import copy_model

    root = tmp_path_factory.mktemp("batching")
    for model, parameters in PER_MODEL_BATCHING.items():
        base = copy_model(testdata / "saved_model_half_plus_two_cpu", root / model)
        (base / "00000123" / "batching_params.pbtxt").write_text(parameters)
    config = root / "models.config"
    config.write_text(
        "model_config_list { "
        + " ".join(f'config {{ name: "{m}" base_path: "{root / m}" }}' for m in PER_MODEL_BATCHING)
        + " }"
    )
    server_wide = root / "batching.pbtxt"
    server_wide.write_text("num_batch_threads { value: 1 }")
    slow = root / "slow_batching.pbtxt"
    slow.write_text("max_batch_size { value: 64 } batch_timeout_micros { value: 1500000 }")
    minute = root / "minute_batching.pbtxt"
    minute.write_text("max_batch_size { value: 64 } batch_timeout_micros { value: 60000000 }")
    return start_server.together(
        [
            f"--model_config_file={config}",
            "--enable_batching",
            f"--batching_parameters_file={server_wide}",
            "--enable_per_model_batching_parameters",
            "--batching_cost_model=false",
        ],
        [
            f"--model_base_path={testdata / 'saved_model_half_plus_two_cpu'}",
            "--model_name=hpt",
            "--enable_batching",
            f"--batching_parameters_file={slow}",
            "--rest_api_timeout_in_ms=300",
            "--batching_cost_model=false",
        ],
        [
            f"--model_base_path={testdata / 'saved_model_half_plus_two_cpu'}",
            "--model_name=hpt",
            "--enable_batching",
            f"--batching_parameters_file={minute}",
        ],
    )


@pytest.fixture(scope="module")
def server(servers: list[ServerProcess]) -> ServerProcess:
    return servers[0]


def metrics(server: ServerProcess) -> str:
    status, text = server.http("GET", "/metrics")
    assert status == 200 and isinstance(text, str)
    return text


def test_concurrent_grpc_and_rest_requests_share_batches_and_get_their_own_rows(
    server: ServerProcess,
) -> None:
    model = "shared_batches"
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        grpc_calls = [
            pool.submit(
                server.prediction.Predict,
                predict_request(np.array([[i], [i + 0.5]]), model),
                timeout=30,
            )
            for i in range(10)
        ]
        rest_calls = [
            pool.submit(
                server.http, "POST", f"/v1/models/{model}:predict", {"instances": [[100.0 + i]]}
            )
            for i in range(10)
        ]
        for i, call in enumerate(grpc_calls):
            np.testing.assert_allclose(
                tf.make_ndarray(call.result().outputs["y"]), [[0.5 * i + 2], [0.5 * (i + 0.5) + 2]]
            )
        for i, call in enumerate(rest_calls):
            assert call.result() == (200, {"predictions": [[0.5 * (100.0 + i) + 2]]})
    text = metrics(server)
    batches = sample(
        text, ":tensorflow:serving:batching_session:input_batch_size_count", model_name=model
    )
    rows = sample(
        text, ":tensorflow:serving:batching_session:input_batch_size_sum", model_name=model
    )
    assert rows == 30
    assert batches < 20  # requests were batched together
    padded = sample(
        text, ":tensorflow:serving:batching_session:processed_batch_size_sum", model_name=model
    )
    assert padded >= rows and padded % 8 == 0  # every batch padded to an allowed size


def test_oversized_request_is_rejected_and_a_full_queue_answers_unavailable(
    server: ServerProcess,
) -> None:
    model = "small_queue"
    with pytest.raises(grpc.RpcError) as too_big:
        server.prediction.Predict(predict_request(np.ones((3, 1)), model), timeout=30)
    assert too_big.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_batch_size" in too_big.value.details()
    status, body = server.http(
        "POST", f"/v1/models/{model}:predict", {"instances": [[1.0], [2.0], [3.0]]}
    )
    assert status == 400 and "max_batch_size" in body["error"]

    # One batch of 1 waits (timeout 1 s); it has room for one more row; the next request
    # needs a second batch, which the queue (max_enqueued_batches 1) cannot take.
    first = server.prediction.Predict.future(predict_request(np.ones((1, 1)), model), timeout=30)
    time.sleep(0.3)
    status, body = server.http("POST", f"/v1/models/{model}:predict", {"instances": [[1.0], [2.0]]})
    assert status == 503 and "full" in body["error"]
    with pytest.raises(grpc.RpcError) as full:
        server.prediction.Predict(predict_request(np.ones((2, 1)), model), timeout=30)
    assert full.value.code() == grpc.StatusCode.UNAVAILABLE
    first.result()  # the queued request is not disturbed


def test_a_client_whose_deadline_passes_in_the_queue_is_not_computed(
    server: ServerProcess,
) -> None:
    model = "slow_batches"
    with pytest.raises(grpc.RpcError) as gone:
        server.prediction.Predict(predict_request(np.ones((5, 1)), model), timeout=0.3)
    assert gone.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    survivor = server.prediction.Predict(predict_request(np.ones((1, 1)), model), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(survivor.outputs["y"]), [[2.5]])
    text = metrics(server)
    # Only the survivor's row was ever batched.
    assert (
        sample(text, ":tensorflow:serving:batching_session:input_batch_size_sum", model_name=model)
        == 1
    )


def test_a_rest_request_past_rest_api_timeout_in_ms_is_answered_and_never_computed(
    servers: list[ServerProcess],
) -> None:
    """TF Serving's ``--rest_api_timeout_in_ms``: the request's deadline, enforced in the queue."""
    server = servers[1]
    status, body = server.http(
        "POST", "/v1/models/hpt:predict", {"instances": [[1.0], [2.0], [3.0]]}
    )
    assert status == 504
    assert "deadline exceeded" in body["error"]
    text = metrics(server)
    # The expired request was dropped from its batch before the model ran.
    assert (
        sample(text, ":tensorflow:serving:batching_session:input_batch_size_sum", model_name="hpt")
        == 0
    )


def test_per_model_batching_parameters_come_from_the_version_folder(
    server: ServerProcess,
) -> None:
    # The model's own limit (its folder says 2), not the server-wide file's default 1000.
    with pytest.raises(grpc.RpcError) as too_big:
        server.prediction.Predict(predict_request(np.ones((3, 1)), "per_model"), timeout=30)
    assert too_big.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "maximum input batch size 2" in too_big.value.details()


def test_splitting_mixed_shapes_and_a_failing_batch_through_both_frontends(
    server: ServerProcess,
) -> None:
    from tensorflow_serving.apis import regression_pb2

    model = "splitting"
    # Splitting: 10 rows go out as batches of at most 4 and come back whole, in order.
    rows = np.arange(10, dtype=np.float32).reshape(10, 1)
    response = server.prediction.Predict(predict_request(rows, model), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), 0.5 * rows + 2)
    status, body = server.http(
        "POST", f"/v1/models/{model}:predict", {"instances": [[float(i)] for i in range(6)]}
    )
    assert status == 200 and body["predictions"] == [[0.5 * i + 2] for i in range(6)]

    # Mixed inner shapes arriving together ([N,1] and [N,2]) share a batch, which fails
    # with FAILED_PRECONDITION without pad_variable_length_inputs, as TF Serving's
    # batching_session.cc MergeInputTensors answers.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        narrow = pool.submit(
            server.prediction.Predict, predict_request(np.ones((1, 1)), model), timeout=30
        )
        wide = pool.submit(
            server.http, "POST", f"/v1/models/{model}:predict", {"instances": [[1.0, 2.0]]}
        )
        with pytest.raises(grpc.RpcError) as mixed:
            narrow.result()
        assert mixed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "from different tasks have different shapes" in mixed.value.details()
        status, body = wide.result()
        assert status == 400 and "padding is turned off" in body["error"]

    # A batch that fails (one Example lacks the required feature) fails every request in it.
    def regress(x: float | None) -> regression_pb2.RegressionRequest:
        request = regression_pb2.RegressionRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = "regress_x_to_y"
        example = request.input.example_list.examples.add()
        if x is not None:
            example.features.feature["x"].float_list.value.append(x)
        return request

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        calls = [
            pool.submit(server.prediction.Regress, regress(x), timeout=30) for x in (2.0, None)
        ]
        errors = [call.exception() for call in calls]
    assert all(
        isinstance(e, grpc.RpcError) and e.code() == grpc.StatusCode.INVALID_ARGUMENT
        for e in errors
    ), errors
    # Alone, the good request succeeds: the failure came from sharing the batch.
    assert server.prediction.Regress(regress(2.0), timeout=30).result.regressions[0].value == 3.0


def test_with_the_cost_model_a_lone_request_does_not_wait_for_the_batch_timeout(
    servers: list[ServerProcess],
) -> None:
    """The timeout is 60 s and each client gives up after 30 s: only a batch that went out
    at once, as the cost model sends a request that finds its model idle, answers."""
    server = servers[2]
    for x in (1.0, 2.0):
        response = server.prediction.Predict(predict_request(np.array([[x]]), "hpt"), timeout=30)
        np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[0.5 * x + 2]])
    status, body = server.http("POST", "/v1/models/hpt:predict", {"instances": [[3.0]]})
    assert (status, body) == (200, {"predictions": [[3.5]]})
    text = metrics(server)
    # Each went through the batcher, as a batch of its own.
    count = ":tensorflow:serving:batching_session:input_batch_size_count"
    assert sample(text, count, model_name="hpt") == 3
