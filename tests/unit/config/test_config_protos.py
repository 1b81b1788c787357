"""Our config protos, loaded from the committed descriptor set (config.protos)."""

from __future__ import annotations

from google.protobuf import text_format

from config.protos import BatchingParameters, MonitoringConfig, SSLConfig


def test_tf_serving_names_and_numbers() -> None:
    fields = BatchingParameters.DESCRIPTOR.fields_by_name
    numbers = {name: field.number for name, field in fields.items()}
    assert numbers == {
        "max_batch_size": 1,
        "batch_timeout_micros": 2,
        "max_enqueued_batches": 3,
        "num_batch_threads": 4,
        "thread_pool_name": 5,
        "allowed_batch_sizes": 6,
        "pad_variable_length_inputs": 7,
        "enable_large_batch_splitting": 8,
        "max_execution_batch_size": 9,
    }
    assert BatchingParameters.DESCRIPTOR.full_name == "tensorflow.serving.BatchingParameters"
    assert fields["max_batch_size"].message_type.full_name == "google.protobuf.Int64Value"
    assert MonitoringConfig.DESCRIPTOR.full_name == "tensorflow.serving.MonitoringConfig"
    assert [f.name for f in SSLConfig.DESCRIPTOR.fields] == [
        "server_key",
        "server_cert",
        "custom_ca",
        "client_verify",
    ]


def test_wrapper_fields_tell_unset_from_zero() -> None:
    message = text_format.Parse("batch_timeout_micros { value: 0 }", BatchingParameters())
    assert message.HasField("batch_timeout_micros")
    assert not message.HasField("max_batch_size")


def test_wire_round_trip() -> None:
    message = BatchingParameters()
    message.max_batch_size.value = 32
    message.allowed_batch_sizes.extend([8, 32])
    assert BatchingParameters.FromString(message.SerializeToString()) == message
