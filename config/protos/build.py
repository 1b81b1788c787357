"""Compile the ``.proto`` files of ``config/protos`` into the committed descriptor set.

Run ``python -m config.protos.build`` after editing a ``.proto`` file here, or after
upgrading TensorFlow or grpcio-tools, and commit the result (``descriptors.binpb``).
``tests/unit/config/test_config_protos.py`` rebuilds the set and fails when the
committed file differs, so an edit without a rebuild cannot go unnoticed.

The output is one ``google.protobuf.FileDescriptorSet``, dependencies before their
dependants (protoc's ``--include_imports`` order), holding:

- our files (batching, monitoring, TLS, session bundle and source adapter configs);
- the well-known types they use, from grpc_tools' bundled include directory;
- TensorFlow's ``tensorflow/core/protobuf/config.proto`` and ``named_tensor.proto`` with
  every file they import, which ``session_bundle_config.proto`` needs. The tensorflow
  package ships no ``.proto`` sources, so their descriptors are taken from its loaded
  ``config_pb2`` and ``named_tensor_pb2`` modules and handed to protoc as
  ``--descriptor_set_in``.

This is the only module of ``config`` that imports TensorFlow, and only when run as a
build step. protoc runs in a child process: its C++ protobuf clashes with the copy
bundled in TensorFlow and crashes when both live in one process. A protoc failure is a
``RuntimeError`` with protoc's message, and the process exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib.resources
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import descriptor, descriptor_pb2

PROTO_DIR = Path(__file__).resolve().parent
DESCRIPTOR_SET = PROTO_DIR / "descriptors.binpb"
PROTO_FILES = (
    "batching_parameters.proto",
    "monitoring_config.proto",
    "ssl_config.proto",
    "session_bundle_config.proto",
    "saved_model_bundle_source_adapter.proto",
)
# Found by protoc in grpc_tools' include directory; TensorFlow's copies are left out so
# that one definition of each is used.
_WELL_KNOWN_PREFIX = "google/protobuf/"


def build_descriptor_set() -> bytes:
    """The serialized ``FileDescriptorSet`` of ``PROTO_FILES`` and their imports."""
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    with (
        importlib.resources.as_file(well_known) as include_dir,
        tempfile.TemporaryDirectory(prefix="aioserving-protos-") as tmp,
    ):
        imports_file = Path(tmp) / "tensorflow.binpb"
        imports_file.write_bytes(_tensorflow_descriptors().SerializeToString())
        out = Path(tmp) / "descriptors.binpb"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"--proto_path={PROTO_DIR}",
                f"--proto_path={include_dir}",
                f"--descriptor_set_in={imports_file}",
                "--include_imports",
                f"--descriptor_set_out={out}",
                *PROTO_FILES,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"protoc failed ({result.returncode}) on {PROTO_FILES} in {PROTO_DIR}: "
                f"{result.stderr.strip()}"
            )
        return out.read_bytes()


def _tensorflow_descriptors() -> descriptor_pb2.FileDescriptorSet:
    """TensorFlow's ``ConfigProto`` and ``NamedTensorProto`` files, imports first."""
    from tensorflow.core.protobuf import config_pb2, named_tensor_pb2

    ordered: list[descriptor_pb2.FileDescriptorProto] = []
    seen: set[str] = set()

    def visit(file: descriptor.FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            visit(dependency)
        if not file.name.startswith(_WELL_KNOWN_PREFIX):
            ordered.append(descriptor_pb2.FileDescriptorProto.FromString(file.serialized_pb))

    visit(config_pb2.DESCRIPTOR)
    visit(named_tensor_pb2.DESCRIPTOR)
    return descriptor_pb2.FileDescriptorSet(file=ordered)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m config.protos.build", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DESCRIPTOR_SET,
        help=f"where to write the descriptor set (default: {DESCRIPTOR_SET})",
    )
    args = parser.parse_args(argv)
    data = build_descriptor_set()
    args.output.write_bytes(data)
    names = [file.name for file in descriptor_pb2.FileDescriptorSet.FromString(data).file]
    print(f"wrote {len(data)} bytes, {len(names)} files, to {args.output}")


if __name__ == "__main__":
    main()
