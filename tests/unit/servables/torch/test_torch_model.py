"""The PyTorch loader: TorchScript, ExportedProgram and AOTInductor, with and without config.pbtxt."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from protocol.dtypes import DType
from protocol.status import Code, ServingError
from servables.torch.torch_model import TorchLoader, TorchOptions, TorchServable, is_aoti_package
from tests.torch_models import (
    example_inputs,
    libtorch_config,
    write_aoti_package,
    write_exported_program,
    write_torchscript,
)


def load(version: Path) -> TorchServable:
    options = TorchOptions(intra_op_threads=1)
    return TorchLoader(model_name="m", version=1, path=str(version), options=options).load()


def expected(model: torch.nn.Module, batch: int) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        total, difference = model(*example_inputs(batch))
    return total.numpy(), difference.numpy()


def inputs(batch: int, names: tuple[str, str]) -> dict[str, np.ndarray]:
    x, y = example_inputs(batch)
    return {names[0]: x.numpy(), names[1]: y.numpy()}


def test_exported_program_gives_its_names_types_and_dynamic_batch(tmp_path: Path) -> None:
    model = write_exported_program(tmp_path / "1")
    assert not is_aoti_package(str(tmp_path / "1" / "model.pt2"))
    servable = load(tmp_path / "1")
    signature = servable.signatures["serving_default"]
    assert list(signature.inputs) == ["x", "y"]
    assert signature.inputs["x"].dtype == DType.DT_FLOAT
    assert signature.inputs["x"].shape == (-1, 4)
    assert len(signature.outputs) == 2
    first, second = signature.outputs
    out = servable.run(signature, inputs(5, ("x", "y")), ())
    total, difference = expected(model, 5)
    np.testing.assert_allclose(out[first], total, rtol=1e-6)
    np.testing.assert_allclose(out[second], difference, rtol=1e-6)
    assert list(servable.run(signature, inputs(3, ("x", "y")), (second,))) == [second]


def test_torchscript_takes_forward_argument_names(tmp_path: Path) -> None:
    model = write_torchscript(tmp_path / "1")
    servable = load(tmp_path / "1")
    signature = servable.signatures["serving_default"]
    assert list(signature.inputs) == ["x", "y"]
    assert list(signature.outputs) == ["output_0", "output_1"]
    out = servable.run(signature, inputs(3, ("x", "y")), ())
    total, difference = expected(model, 3)
    np.testing.assert_allclose(out["output_0"], total, rtol=1e-6)
    np.testing.assert_allclose(out["output_1"], difference, rtol=1e-6)


def test_triton_config_names_tensors_by_position(tmp_path: Path) -> None:
    model = write_torchscript(tmp_path / "m" / "1")
    (tmp_path / "m" / "config.pbtxt").write_text(libtorch_config("m"))
    servable = load(tmp_path / "m" / "1")
    signature = servable.signatures["serving_default"]
    assert list(signature.inputs) == ["INPUT__0", "INPUT__1"]
    assert signature.inputs["INPUT__1"].shape == (-1, 4)
    out = servable.run(signature, inputs(2, ("INPUT__1", "INPUT__0")), ("OUTPUT__1",))
    # INPUT__1 is the second argument whatever order the request lists them in
    x, y = example_inputs(2)
    np.testing.assert_allclose(out["OUTPUT__1"], (y - x).numpy(), rtol=1e-6)
    assert expected(model, 2)[0].shape == (2, 4)


def test_config_contradicting_an_exported_program_fails_the_load(tmp_path: Path) -> None:
    write_exported_program(tmp_path / "m" / "1")
    config = libtorch_config("m").replace("dims: [ 4 ]", "dims: [ 5 ]", 1)
    (tmp_path / "m" / "config.pbtxt").write_text(config)
    with pytest.raises(ValueError, match=r"input 'INPUT__0' has shape \[-1, 5\]"):
        load(tmp_path / "m" / "1")


def test_a_tensor_of_the_wrong_size_is_invalid_argument(tmp_path: Path) -> None:
    write_exported_program(tmp_path / "1")
    servable = load(tmp_path / "1")
    signature = servable.signatures["serving_default"]
    bad = {"x": np.zeros((2, 3), np.float32), "y": np.zeros((2, 3), np.float32)}
    with pytest.raises(ServingError) as raised:
        servable.run(signature, bad, ())
    assert raised.value.code == Code.INVALID_ARGUMENT


def test_corrupt_file_fails_the_load(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.pt").write_bytes(b"not a zip")
    with pytest.raises(RuntimeError):
        load(tmp_path / "1")


@pytest.mark.skipif(shutil.which("c++") is None, reason="AOTInductor needs a C++ compiler")
def test_aoti_package_needs_and_uses_its_config(tmp_path: Path) -> None:
    model = write_aoti_package(tmp_path / "m" / "1")
    assert is_aoti_package(str(tmp_path / "m" / "1" / "model.pt2"))
    with pytest.raises(ValueError, match="AOTInductor package"):
        load(tmp_path / "m" / "1")
    (tmp_path / "m" / "config.pbtxt").write_text(libtorch_config("m"))
    servable = load(tmp_path / "m" / "1")
    out = servable.run(
        servable.signatures["serving_default"], inputs(6, ("INPUT__0", "INPUT__1")), ()
    )
    total, difference = expected(model, 6)
    np.testing.assert_allclose(out["OUTPUT__0"], total, rtol=1e-5)
    np.testing.assert_allclose(out["OUTPUT__1"], difference, rtol=1e-5)


def test_python_backend_tensors_cross_dlpack_with_torch() -> None:
    from torch.utils import dlpack

    from servables.python_backend import triton_python_backend_utils as pb_utils

    source = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    capsule = dlpack.to_dlpack(source)  # type: ignore[attr-defined]  # torch stubs omit it
    from_capsule = pb_utils.Tensor.from_dlpack("t", capsule)
    from_tensor = pb_utils.Tensor.from_dlpack("t", source)
    np.testing.assert_array_equal(from_capsule.as_numpy(), source.numpy())
    np.testing.assert_array_equal(from_tensor.as_numpy(), source.numpy())
    back = torch.utils.dlpack.from_dlpack(from_tensor.to_dlpack())
    assert torch.equal(back, source)


def test_triton_model_config_from_an_exported_programs_signature(tmp_path: Path) -> None:
    from servables.triton_signature import triton_model_config

    write_exported_program(tmp_path / "1")
    config = triton_model_config(load(tmp_path / "1"))
    assert (config["platform"], config["max_batch_size"]) == ("pytorch_libtorch", 0)
    assert config["input"] == [
        {"name": "x", "data_type": "TYPE_FP32", "dims": [-1, 4]},
        {"name": "y", "data_type": "TYPE_FP32", "dims": [-1, 4]},
    ]
