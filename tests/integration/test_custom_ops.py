"""Custom op libraries (``--custom_op_paths``) with a real op, and ``--platform_config_file``.

Once per test session, ``custom_op/add_one.cc`` (the op ``AioservingAddOne``: y = x + 1,
written against TensorFlow's C API) is compiled with g++ against the installed
TensorFlow's headers and library (``tf.sysconfig``), without optimisation (it must load
and run, not be fast): about a second; the time is printed (``-s``). The
library is then loaded into the test process only to export a TF1 SavedModel whose graph
is ``x -> AioservingAddOne -> y``, which loads only in a process where that op is
registered. Without g++ the tests that need the library are skipped; those about bad
paths still run.

The server is started as operators start it:

- with ``--custom_op_paths=<directory>,<library>`` (the directory holds only that library,
  which is loaded once) it serves the model (Predict returns x + 1);
- without it the version ends in the error state, with a message naming the op, and the
  server keeps running and answering (a failed model never stops the server);
- a path that does not exist, and a file that is not a loadable library, make it exit
  non-zero naming the path, before it serves anything;
- a ``--platform_config_file`` supplies the batching parameters (the batch limit is
  enforced), and flags it replaces are named in a start-up warning.

Two servers start, at the same time: the one with the library (and the platform config),
and the one without it. Their tests only read from them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, predict_pb2

from tests.integration.server_process import (
    ServerProcess,
    ServerStarter,
    run_server_expecting_failure,
)
from tests.tf1_models import save_predict_model

SOURCE = Path(__file__).resolve().parent / "custom_op" / "add_one.cc"
OP_NAME = "AioservingAddOne"
MODEL = "add_one"
SLOW_BUILD_SECONDS = 30.0


@pytest.fixture(scope="session")
def op_library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding only the compiled ``add_one.so``."""
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("g++ not found: cannot build the custom op library")
    out = tmp_path_factory.mktemp("custom_ops")
    library = out / "add_one.so"
    command = [
        compiler, "-shared", "-fPIC", "-O0",
        *tf.sysconfig.get_compile_flags(), str(SOURCE), "-o", str(library),
        *tf.sysconfig.get_link_flags(),
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    seconds = time.monotonic() - started
    assert result.returncode == 0, f"building {SOURCE.name} failed:\n{result.stderr[-5000:]}"
    print(f"\nbuilt {library} in {seconds:.1f} s", file=sys.stderr)
    if seconds > SLOW_BUILD_SECONDS:
        warnings.warn(f"building the custom op library took {seconds:.0f} s", stacklevel=1)
    return out


@pytest.fixture(scope="session")
def op_library(op_library_dir: Path) -> Path:
    return op_library_dir / "add_one.so"


@pytest.fixture(scope="session")
def base_path(op_library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF1 SavedModel (version 1) whose graph uses the custom op."""
    ops = tf.load_op_library(str(op_library))
    base = tmp_path_factory.mktemp("models") / MODEL
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        y = ops.aioserving_add_one(x, name="y")
        with tf.compat.v1.Session(graph=graph) as session:
            save_predict_model(session, base / "1", {"x": x}, {"y": y}, strip_default_attrs=True)
    return base


PLATFORM_CONFIG = """
platform_configs {
  key: "tensorflow"
  value {
    source_adapter_config {
      [type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig] {
        legacy_config {
          session_config { intra_op_parallelism_threads: 1 allow_soft_placement: true }
          batching_parameters { max_batch_size { value: 4 } }
          saved_model_tags: "serve"
        }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def servers(
    start_server: ServerStarter,
    base_path: Path,
    op_library: Path,
    op_library_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, ServerProcess]:
    """The server with the library and a platform config, and the one without the library."""
    platform = tmp_path_factory.mktemp("platform") / "platform.config"
    platform.write_text(PLATFORM_CONFIG)
    model = [f"--model_base_path={base_path}", f"--model_name={MODEL}"]
    flags = {
        "with_library": [
            *model,
            # A directory (every .so in it) and a file: both forms, the same library.
            f"--custom_op_paths={op_library_dir},{op_library}",
            f"--platform_config_file={platform}",
            "--enable_batching",
        ],
        "without_library": [
            *model,
            "--max_num_load_retries=0",
            "--exit_on_load_failure=false",  # the point: the server keeps running
        ],
    }
    return dict(zip(flags, start_server.together(*flags.values()), strict=True))


def predict(server: ServerProcess, values: list[float]) -> np.ndarray:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(values, np.float32)))
    response = server.prediction.Predict(request, timeout=30)
    return np.asarray(tf.make_ndarray(response.outputs["y"]))


def version_status(server: ServerProcess) -> get_model_status_pb2.ModelVersionStatus | None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL
    try:
        response = server.models.GetModelStatus(request, timeout=10)
    except grpc.RpcError:
        return None
    return next((s for s in response.model_version_status if s.version == 1), None)


def test_the_model_is_served_with_the_library(
    servers: dict[str, ServerProcess], op_library: Path
) -> None:
    server = servers["with_library"]
    np.testing.assert_allclose(predict(server, [1.0, 2.5, -1.0]), [2.0, 3.5, 0.0])
    assert server.log().count(f"loaded custom op library {op_library}") == 1


def test_without_the_library_the_version_fails_naming_the_op(
    servers: dict[str, ServerProcess],
) -> None:
    server = servers["without_library"]

    def failed() -> bool:
        status = version_status(server)
        return status is not None and status.state == get_model_status_pb2.ModelVersionStatus.END

    server.wait_until(failed, what="version 1 in the error state")
    status = version_status(server)
    assert status is not None
    assert status.status.error_code != 0
    assert OP_NAME in status.status.error_message
    # The server keeps running and answering after a failed load.
    assert server.process.poll() is None
    with pytest.raises(grpc.RpcError) as caught:
        predict(server, [1.0])
    assert caught.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE)


def test_a_missing_custom_op_path_exits_non_zero_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "ops" / "missing.so"
    result = run_server_expecting_failure(
        [f"--model_base_path={tmp_path}", f"--custom_op_paths={missing}"]
    )
    assert result.returncode != 0
    assert str(missing) in result.stderr
    assert "custom_op_paths" in result.stderr


def test_a_library_that_cannot_load_exits_non_zero_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.so"
    broken.write_bytes(b"not a shared library")
    model = tmp_path / "model"  # empty: a TensorFlow model still to come
    model.mkdir()
    result = run_server_expecting_failure(
        [f"--model_base_path={model}", f"--custom_op_paths={broken}"]
    )
    assert result.returncode != 0
    assert f"{broken}: cannot load custom op library" in result.stderr


def test_a_platform_config_supplies_session_and_batching_options(
    servers: dict[str, ServerProcess],
) -> None:
    server = servers["with_library"]
    np.testing.assert_allclose(predict(server, [1.0, 2.0, 3.0, 4.0]), [2.0, 3.0, 4.0, 5.0])
    with pytest.raises(grpc.RpcError) as caught:
        predict(server, [1.0] * 5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "maximum input batch size 4" in (caught.value.details() or "")
    assert "--enable_batching is ignored: --platform_config_file" in server.log()
