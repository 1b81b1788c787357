"""TFRecord framing against TensorFlow's own reader and writer."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf

from protocol.tfrecord import frame, read_records


def test_framed_records_read_back_with_tensorflow(tmp_path: Path) -> None:
    records = [b"", b"one", bytes(range(256)) * 100]
    path = tmp_path / "file.tfrecord"
    path.write_bytes(b"".join(frame(record) for record in records))
    read = [tensor.numpy() for tensor in tf.data.TFRecordDataset(str(path))]
    assert read == records


def test_tensorflow_written_records_read_back(tmp_path: Path) -> None:
    path = tmp_path / "file.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(b"alpha")
        writer.write(b"beta" * 1000)
    data = path.read_bytes()
    assert list(read_records(data)) == [b"alpha", b"beta" * 1000]
    assert data == frame(b"alpha") + frame(b"beta" * 1000)


def test_damage_is_reported_with_its_offset() -> None:
    data = bytearray(frame(b"first") + frame(b"second"))
    data[-6] ^= 0xFF  # a byte of the second record's data
    records = read_records(bytes(data))
    assert next(records) == b"first"
    with pytest.raises(ValueError, match="data checksum mismatch at byte 21"):
        next(records)
    with pytest.raises(ValueError, match="truncated TFRecord of 5 bytes at byte 0"):
        list(read_records(frame(b"first")[:-1]))
