"""Our config protos, loaded from the committed descriptor set (config.protos)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from google.protobuf import text_format

from config.protos import BatchingParameters, MonitoringConfig, SSLConfig

REPO_ROOT = Path(__file__).resolve().parents[3]


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


def test_the_committed_descriptor_set_matches_the_proto_files(tmp_path: Path) -> None:
    """A .proto edit (or a TensorFlow/grpcio-tools upgrade) without a rebuild fails here.

    Fix: ``python -m config.protos.build`` and commit ``config/protos/descriptors.binpb``.
    """
    rebuilt = tmp_path / "descriptors.binpb"
    result = subprocess.run(
        [sys.executable, "-m", "config.protos.build", f"--output={rebuilt}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    committed = (REPO_ROOT / "config" / "protos" / "descriptors.binpb").read_bytes()
    assert rebuilt.read_bytes() == committed, (
        "config/protos/descriptors.binpb is stale: run python -m config.protos.build"
    )


def test_the_pool_holds_tensorflows_config_proto_without_importing_tensorflow() -> None:
    code = textwrap.dedent(
        """
        import sys
        from google.protobuf import text_format
        import config.protos
        config = text_format.Parse(
            "gpu_options { allow_growth: true } experimental { collective_group_leader: 'x' }",
            config.protos.ConfigProto(),
        )
        assert config.gpu_options.allow_growth
        assert "tensorflow" not in sys.modules, sorted(sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
