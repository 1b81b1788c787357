"""The request logger, stepped by hand and run for real: files TF Serving's tools can read."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

from actors.request_logger import RequestLogger
from config.model_config import ModelSettings
from config.request_logging import RequestLogging
from protocol.prediction_log import CaptureContext, Captured, CapturedExamples, CapturedTensors
from protocol.tensors import ndarray_to_tensor_proto, tensor_proto_to_ndarray
from protocol.tfrecord import read_records


class Tally:
    """A RequestLogObserver that remembers what it was told."""

    def __init__(self) -> None:
        self.written: dict[str, list[int]] = {}
        self.dropped: list[tuple[str, str]] = []

    def request_log_written(self, model_name: str, records: int, nbytes: int) -> None:
        tally = self.written.setdefault(model_name, [0, 0])
        tally[0] += records
        tally[1] += nbytes

    def request_log_dropped(self, model_name: str, reason: str, records: int = 1) -> None:
        self.dropped.extend([(model_name, reason)] * records)


def model(name: str, prefix: Path | str, rate: float = 1.0) -> ModelSettings:
    return ModelSettings(
        name=name,
        base_path="/models/" + name,
        request_logging=RequestLogging(filename_prefix=str(prefix), sampling_rate=rate),
    )


def context(model_name: str = "m", version: int = 7, origin: str = "grpc") -> CaptureContext:
    return CaptureContext(
        model_name=model_name,
        version=version,
        signature_name="serving_default",
        sampling_rate=0.25,
        request_origin=origin,
        timestamp_secs=1_700_000_000,
        saved_model_tags=("serve",),
    )


def predict_capture(x: float = 1.0, model_name: str = "m") -> Captured:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.version_label = "stable"
    request.inputs["x"].CopyFrom(ndarray_to_tensor_proto(np.array([[x]], np.float32)))
    response = predict_pb2.PredictResponse()
    response.model_spec.name = model_name
    response.outputs["y"].CopyFrom(ndarray_to_tensor_proto(np.array([[x / 2 + 2]], np.float32)))
    return Captured(context=context(model_name), request=request, response=response)


def records_under(folder: Path) -> list[prediction_log_pb2.PredictionLog]:
    entries = []
    for path in sorted(folder.iterdir()):
        for record in read_records(path.read_bytes()):
            entries.append(prediction_log_pb2.PredictionLog.FromString(record))
    return entries


def test_sampling_follows_each_models_rate_and_draws_only_when_needed(tmp_path: Path) -> None:
    draws = iter([0.2, 0.7])
    drawn: list[float] = []

    def draw() -> float:
        drawn.append(next(draws))
        return drawn[-1]

    logger = RequestLogger(draw=draw)
    logger.configure(
        [
            model("all", tmp_path / "a"),
            model("none", tmp_path / "n", 0.0),
            model("half", tmp_path / "h", 0.5),
            ModelSettings(name="plain", base_path="/models/plain"),
        ]
    )
    assert logger.sample("all") == RequestLogging(
        filename_prefix=str(tmp_path / "a"), sampling_rate=1.0
    )
    assert logger.sample("none") is None
    assert logger.sample("plain") is None
    assert logger.sample("unknown") is None
    assert drawn == []  # rates 0 and 1 and unconfigured models never draw
    assert logger.sample("half") is not None  # 0.2 < 0.5
    assert logger.sample("half") is None  # 0.7 >= 0.5
    logger.configure([])  # a reload that removes logging
    assert logger.sample("all") is None


async def test_handle_writes_every_api_as_tf_serving_logs_it(tmp_path: Path) -> None:
    tally = Tally()
    logger = RequestLogger(observer=tally)
    logger.configure([model("m", tmp_path / "logs" / "req")])

    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "m"
    classify.input.example_list.examples.add().features.feature["x"].float_list.value.append(1.0)
    classified = classification_pb2.ClassificationResponse()
    classified.result.classifications.add().classes.add(label="a", score=0.9)
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "m"
    regressed = regression_pb2.RegressionResponse()
    regressed.result.regressions.add(value=3.5)
    multi = inference_pb2.MultiInferenceRequest()
    multi.tasks.add(method_name="tensorflow/serving/regress").model_spec.name = "m"
    multi_answer = inference_pb2.MultiInferenceResponse()
    multi_answer.results.add().regression_result.regressions.add(value=1.0)
    tensors = CapturedTensors(
        context=context(origin="v2-rest"),
        inputs={"x": np.array([[1.0, 2.0]], np.float32), "s": np.array([b"a", b"bc"], object)},
        outputs={"y": np.array([[2.5, 3.0]], np.float32)},
        requested_version=7,
    )
    predicted = predict_capture()
    batch: list[Captured | CapturedTensors | CapturedExamples] = [
        predicted,
        Captured(context=context(), request=classify, response=classified),
        Captured(context=context(), request=regress, response=regressed),
        Captured(context=context(), request=multi, response=multi_answer),
        tensors,
    ]
    rest_classify = CapturedExamples(
        context=context(origin="rest"),
        input=classify.input,
        response=classified,
        requested_label="stable",
        requested_signature="classify_x",
    )
    rest_regress = CapturedExamples(
        context=context(origin="rest"), input=classify.input, response=regressed
    )
    batch += [rest_classify, rest_regress]
    await logger.handle(batch)
    await logger.stop()

    files = sorted((tmp_path / "logs").iterdir())
    assert len(files) == 1 and files[0].name.startswith("req-") and files[0].suffix == ".tfrecord"
    entries = records_under(tmp_path / "logs")
    assert [entry.WhichOneof("log_type") for entry in entries] == [
        "predict_log",
        "classify_log",
        "regress_log",
        "multi_inference_log",
        "predict_log",
        "classify_log",
        "regress_log",
    ]
    for entry in entries:
        metadata = entry.log_metadata
        assert metadata.model_spec.name == "m"
        assert metadata.model_spec.version.value == 7
        assert metadata.model_spec.signature_name == "serving_default"
        assert metadata.sampling_config.sampling_rate == 0.25
        assert list(metadata.saved_model_tags) == ["serve"]
        assert metadata.timestamp_secs == 1_700_000_000
    assert entries[0].predict_log.request == predicted.request
    assert entries[0].predict_log.request.model_spec.version_label == "stable"
    assert entries[1].classify_log.response == classified
    assert entries[2].regress_log.request == regress
    assert entries[3].multi_inference_log.response == multi_answer
    v2 = entries[4]
    assert v2.log_metadata.request_origin == "v2-rest"
    assert v2.predict_log.request.model_spec.version.value == 7
    np.testing.assert_array_equal(
        tensor_proto_to_ndarray(v2.predict_log.request.inputs["x"]), [[1.0, 2.0]]
    )
    assert list(v2.predict_log.request.inputs["s"].string_val) == [b"a", b"bc"]
    np.testing.assert_array_equal(
        tensor_proto_to_ndarray(v2.predict_log.response.outputs["y"]), [[2.5, 3.0]]
    )
    # REST classify/regress: the requests TF Serving converts them to.
    expected_classify = classification_pb2.ClassificationRequest()
    expected_classify.model_spec.name = "m"
    expected_classify.model_spec.version_label = "stable"
    expected_classify.model_spec.signature_name = "classify_x"
    expected_classify.input.CopyFrom(classify.input)
    assert entries[5].classify_log.request == expected_classify
    assert entries[5].classify_log.response == classified
    assert entries[6].regress_log.request.input == classify.input
    assert entries[6].regress_log.response == regressed
    assert entries[6].log_metadata.request_origin == "rest"
    size = files[0].stat().st_size
    assert tally.written == {"m": [7, size]}
    assert tally.dropped == []


async def test_files_rotate_by_size_and_concatenate_in_name_order(tmp_path: Path) -> None:
    one = len(predict_capture().request.SerializeToString())
    logger = RequestLogger(max_file_bytes=3 * one + 200)
    logger.configure([model("m", tmp_path / "req")])
    for start in range(0, 10, 2):
        await logger.handle([predict_capture(float(start)), predict_capture(float(start + 1))])
    await logger.stop()
    files = sorted(tmp_path.iterdir())
    assert len(files) > 2
    assert all(path.stat().st_size <= 3 * one + 200 for path in files)
    joined = b"".join(path.read_bytes() for path in files)
    xs = [
        tensor_proto_to_ndarray(
            prediction_log_pb2.PredictionLog.FromString(record).predict_log.request.inputs["x"]
        ).item()
        for record in read_records(joined)
    ]
    assert xs == [float(x) for x in range(10)]


async def test_a_full_queue_drops_and_counts_and_stop_writes_what_was_queued(
    tmp_path: Path,
) -> None:
    tally = Tally()
    logger = RequestLogger(capacity=2, observer=tally)
    logger.configure([model("m", tmp_path / "req")])
    assert not logger.offer(predict_capture())  # not started yet
    await logger.start()
    # offer() never awaits, so the actor cannot run between these three calls.
    assert [logger.offer(predict_capture(float(x))) for x in range(3)] == [True, True, False]
    await logger.stop()
    assert tally.dropped == [("m", "stopped"), ("m", "queue_full")]
    assert tally.written["m"][0] == 2
    assert len(records_under(tmp_path)) == 2
    assert not logger.offer(predict_capture())
    assert tally.dropped[-1] == ("m", "stopped")


async def test_running_logger_writes_offered_records(tmp_path: Path) -> None:
    tally = Tally()
    logger = RequestLogger(observer=tally)
    logger.configure([model("m", tmp_path / "req")])
    await logger.start()
    for x in range(50):
        assert logger.offer(predict_capture(float(x)))
        if x % 10 == 0:
            await asyncio.sleep(0)  # let the actor take batches of different sizes
    await logger.stop()
    assert len(records_under(tmp_path)) == 50
    assert tally.written["m"][0] == 50


async def test_a_reload_that_drops_a_prefix_closes_its_file(tmp_path: Path) -> None:
    tally = Tally()
    logger = RequestLogger(observer=tally)
    logger.configure([model("m", tmp_path / "a" / "req"), model("k", tmp_path / "b" / "req")])
    await logger.handle([predict_capture(model_name="m"), predict_capture(model_name="k")])
    logger.configure([model("k", tmp_path / "b" / "req")])
    await logger.handle([predict_capture(model_name="m")])  # sampled before the reload
    assert tally.dropped == [("m", "unconfigured")]
    # The file of the prefix no model uses is closed (complete) before stop.
    assert len(records_under(tmp_path / "a")) == 1
    await logger.stop()
    assert len(records_under(tmp_path / "b")) == 1


async def test_unwritable_prefix_counts_write_errors_and_keeps_going(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    tally = Tally()
    logger = RequestLogger(observer=tally)
    logger.configure([model("bad", tmp_path / "file" / "req"), model("m", tmp_path / "ok" / "req")])
    await logger.handle([predict_capture(model_name="bad"), predict_capture(model_name="m")])
    await logger.stop()
    assert tally.dropped == [("bad", "write_error")]
    assert len(records_under(tmp_path / "ok")) == 1


@pytest.fixture
def s3_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's S3 server on a loopback port, as tests/integration/test_object_store.py uses."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="logs")
    try:
        yield client
    finally:
        server.stop()


async def test_s3_prefix_uploads_each_closed_file(s3_store: Any) -> None:
    logger = RequestLogger()
    logger.configure([model("m", "s3://logs/team/req")])
    await logger.start()
    assert logger.offer(predict_capture(3.0))
    await logger.stop()
    keys = [item["Key"] for item in s3_store.list_objects_v2(Bucket="logs")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("team/req-") and keys[0].endswith(".tfrecord")
    body = s3_store.get_object(Bucket="logs", Key=keys[0])["Body"].read()
    (record,) = read_records(body)
    entry = prediction_log_pb2.PredictionLog.FromString(record)
    assert tensor_proto_to_ndarray(entry.predict_log.request.inputs["x"]).item() == 3.0


async def test_captured_traffic_warms_up_the_next_version(tmp_path: Path) -> None:
    """The loop: a file logged from version 123's traffic is version 124's warmup file."""
    from servables.tensorflow.saved_model import (
        SavedModelLoader,
        SavedModelOptions,
        SavedModelServable,
    )
    from servables.tensorflow.warmup import read_warmup_records
    from servables.warmup_options import WarmupOptions, warmup_file
    from tests.integration.server_process import testdata_dir

    try:
        source = testdata_dir() / "saved_model_half_plus_two_cpu" / "00000123"
    except FileNotFoundError:
        pytest.skip("TF Serving test data not found: set AIOSERVING_TESTDATA")
    logger = RequestLogger()
    logger.configure([model("half_plus_two", tmp_path / "logs" / "req")])
    rest_predict = CapturedTensors(
        context=context("half_plus_two", 123, origin="rest"),
        inputs={"x": np.array([[3.0]], np.float32)},
        outputs={"y": np.array([[3.5]], np.float32)},
    )
    await logger.handle([predict_capture(2.0, "half_plus_two"), rest_predict])
    await logger.stop()
    (captured,) = sorted((tmp_path / "logs").iterdir())

    version = tmp_path / "half_plus_two" / "124"
    shutil.copytree(source, version)
    warmup = Path(warmup_file(str(version)))
    warmup.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(captured, warmup)
    assert len(read_warmup_records(str(warmup))) == 2  # TensorFlow's own TFRecord reader

    replayed: list[dict[str, np.ndarray[Any, Any]]] = []
    original = SavedModelServable.run

    def spy(self: SavedModelServable, signature: Any, inputs: Any, *args: Any) -> Any:
        replayed.append(dict(inputs))
        return original(self, signature, inputs, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SavedModelServable, "run", spy)
        servable = SavedModelLoader(
            model_name="half_plus_two",
            version=124,
            path=str(version),
            options=SavedModelOptions(warmup=WarmupOptions()),
        ).load()
    servable.unload()
    assert [inputs["x"].tolist() for inputs in replayed] == [[[2.0]], [[3.0]]]
