"""Warmup replay on a real SavedModel (a copy of saved_model_half_plus_two_cpu)."""

from __future__ import annotations

import concurrent.futures
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import prediction_log_pb2

from servables.tensorflow.saved_model import SavedModelLoader, SavedModelOptions, SavedModelServable
from servables.tensorflow.warmup import MAX_WARMUP_RECORDS, WarmupError
from servables.warmup_options import WarmupOptions, warmup_file
from tests.integration.server_process import testdata_dir as shared_testdata

CLASSIFY, REGRESS = "tensorflow/serving/classify", "tensorflow/serving/regress"


@pytest.fixture
def version_dir(tmp_path: Path) -> Path:
    target = tmp_path / "half_plus_two" / "123"
    shutil.copytree(shared_testdata() / "saved_model_half_plus_two_cpu" / "00000123", target)
    return target


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ``SavedModelServable.run`` call, by signature name."""
    calls: list[str] = []
    original = SavedModelServable.run

    def spy(self: SavedModelServable, signature: Any, *args: Any) -> dict[str, np.ndarray]:
        calls.append(signature.name)
        return original(self, signature, *args)

    monkeypatch.setattr(SavedModelServable, "run", spy)
    return calls


def _example_input(target: Any, *xs: float) -> None:
    for x in xs:
        example = target.example_list.examples.add()
        example.features.feature["x"].float_list.value.append(x)


def predict_record(x: float = 2.0, signature: str = "serving_default", alias: str = "x") -> bytes:
    entry = prediction_log_pb2.PredictionLog()
    request = entry.predict_log.request
    request.model_spec.name = "anything"  # ignored by warmup
    request.model_spec.signature_name = signature
    request.inputs[alias].CopyFrom(tf.make_tensor_proto(np.array([[x]], np.float32)))
    return bytes(entry.SerializeToString())


def classify_record() -> bytes:
    entry = prediction_log_pb2.PredictionLog()
    entry.classify_log.request.model_spec.signature_name = "classify_x_to_y"
    _example_input(entry.classify_log.request.input, 2.0, 10.0)
    return bytes(entry.SerializeToString())


def regress_record() -> bytes:
    entry = prediction_log_pb2.PredictionLog()
    entry.regress_log.request.model_spec.signature_name = "regress_x_to_y2"
    _example_input(entry.regress_log.request.input, 2.0)
    return bytes(entry.SerializeToString())


def multi_inference_record() -> bytes:
    entry = prediction_log_pb2.PredictionLog()
    request = entry.multi_inference_log.request
    _example_input(request.input, 2.0)
    for signature, method in (("classify_x_to_y", CLASSIFY), ("regress_x_to_y2", REGRESS)):
        task = request.tasks.add(method_name=method)
        task.model_spec.name = "m"
        task.model_spec.signature_name = signature
    return bytes(entry.SerializeToString())


def write_warmup(version: Path, records: Iterable[bytes]) -> Path:
    path = Path(warmup_file(str(version)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return path


def loader(version: Path, **warmup: Any) -> SavedModelLoader:
    return SavedModelLoader(
        model_name="half_plus_two",
        version=123,
        path=str(version),
        options=SavedModelOptions(warmup=WarmupOptions(**warmup)),
    )


def test_load_replays_every_record_the_configured_times_before_returning(
    version_dir: Path, runs: list[str]
) -> None:
    write_warmup(
        version_dir,
        [predict_record(), classify_record(), regress_record(), multi_inference_record()],
    )
    observed: list[tuple[str, float]] = []
    servable = loader(
        version_dir, iterations=2, observer=lambda name, seconds: observed.append((name, seconds))
    ).load()
    try:
        # The MultiInference record is one merged call of both its tasks.
        one_pass = [
            "serving_default",
            "classify_x_to_y",
            "regress_x_to_y2",
            "classify_x_to_y+regress_x_to_y2",
        ]
        assert sorted(runs) == sorted(one_pass * 2)
        assert runs[:2] == ["serving_default", "serving_default"]  # records in order, each repeated
        assert [name for name, _ in observed] == ["half_plus_two"]
        assert observed[0][1] >= 0
    finally:
        servable.unload()


def test_load_in_a_worker_thread_reads_the_records(version_dir: Path, runs: list[str]) -> None:
    write_warmup(version_dir, [predict_record()] * 3)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        servable = pool.submit(loader(version_dir).load).result()
    servable.unload()
    assert runs == ["serving_default"] * 3


def test_no_file_or_disabled_means_no_warmup(version_dir: Path, runs: list[str]) -> None:
    loader(version_dir).load().unload()
    write_warmup(version_dir, [predict_record()])
    loader(version_dir, enabled=False).load().unload()
    assert runs == []


def test_warmup_logs_its_duration(
    version_dir: Path, runs: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    write_warmup(version_dir, [predict_record()])
    with caplog.at_level("INFO", logger="servables.tensorflow.warmup"):
        loader(version_dir).load().unload()
    lines = [r.getMessage() for r in caplog.records if r.name == "servables.tensorflow.warmup"]
    assert len(lines) == 1
    assert "half_plus_two version 123" in lines[0] and "1 records" in lines[0] and " ms" in lines[0]


@pytest.fixture
def unloads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    closed: list[int] = []
    original = SavedModelServable.unload

    def spy(self: SavedModelServable) -> None:
        closed.append(self.version)
        original(self)

    monkeypatch.setattr(SavedModelServable, "unload", spy)
    return closed


def test_a_file_that_is_not_tfrecord_fails_the_load(
    version_dir: Path, runs: list[str], unloads: list[int]
) -> None:
    path = Path(warmup_file(str(version_dir)))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a TFRecord file at all")
    with pytest.raises(WarmupError) as raised:
        loader(version_dir).load()
    message = str(raised.value)
    assert str(path) in message and "record 0" in message and "TFRecord" in message
    assert "\n" not in message  # the version's error is the first line of the message
    assert runs == [] and unloads == [123]


def test_a_record_that_is_not_a_prediction_log_fails_the_load(
    version_dir: Path, runs: list[str]
) -> None:
    path = write_warmup(version_dir, [predict_record(), b"\xff\xff\xff garbage"])
    with pytest.raises(WarmupError, match=r"record 1 from .*tf_serving_warmup_requests") as raised:
        loader(version_dir).load()
    assert str(path) in str(raised.value)
    assert runs == []  # everything is parsed before the first replay


def test_a_failing_request_fails_the_load_naming_the_record(
    version_dir: Path, unloads: list[int]
) -> None:
    path = write_warmup(version_dir, [predict_record(), predict_record(alias="nope")])
    with pytest.raises(WarmupError) as raised:
        loader(version_dir).load()
    message = str(raised.value)
    assert f"warmup request 1 in {path} failed" in message and "nope" in message
    assert unloads == [123]


def test_a_missing_feature_in_a_classify_record_fails_the_load(version_dir: Path) -> None:
    entry = prediction_log_pb2.PredictionLog()
    entry.classify_log.request.model_spec.signature_name = "classify_x_to_y"
    entry.classify_log.request.input.example_list.examples.add().CopyFrom(example_pb2.Example())
    write_warmup(version_dir, [entry.SerializeToString()])
    with pytest.raises(WarmupError, match=r"warmup request 0 .*Feature: x"):
        loader(version_dir).load()


def test_session_run_logs_are_unsupported(version_dir: Path) -> None:
    entry = prediction_log_pb2.PredictionLog()
    entry.session_run_log.SetInParent()
    write_warmup(version_dir, [entry.SerializeToString()])
    with pytest.raises(WarmupError, match="Unsupported log_type for warmup: session_run_log"):
        loader(version_dir).load()


def test_more_than_the_maximum_records_fails_before_replaying_any(
    version_dir: Path, runs: list[str]
) -> None:
    record = predict_record()
    write_warmup(version_dir, [record] * MAX_WARMUP_RECORDS)
    loader(version_dir).load().unload()
    assert len(runs) == MAX_WARMUP_RECORDS
    runs.clear()
    write_warmup(version_dir, [record] * (MAX_WARMUP_RECORDS + 1))
    with pytest.raises(WarmupError, match=r"exceeds the maximum \(1000\)"):
        loader(version_dir).load()
    assert runs == []
