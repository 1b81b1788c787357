"""Small PyTorch models written as each artifact kind, for the PyTorch platform's tests.

``AddSub`` takes two float32 [batch, 4] tensors and returns their sum and difference, so
every answer can be compared with the model's own output. Importing this module imports
torch: only the ``.[torch]`` tests do.
"""

from __future__ import annotations

from pathlib import Path

import torch


class AddSub(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0]))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x * self.scale + y, x - y


def example_inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(batch)
    return torch.randn(batch, 4, generator=generator), torch.randn(batch, 4, generator=generator)


def exported_program() -> torch.export.ExportedProgram:
    batch = torch.export.Dim("batch", min=1, max=1024)
    return torch.export.export(
        AddSub().eval(), example_inputs(), dynamic_shapes={"x": {0: batch}, "y": {0: batch}}
    )


def write_torchscript(version: Path) -> AddSub:
    """``model.pt`` by ``torch.jit.script``; returns the eager model to compare with."""
    version.mkdir(parents=True, exist_ok=True)
    model = AddSub().eval()
    torch.jit.save(torch.jit.script(model), str(version / "model.pt"))
    return model


def write_exported_program(version: Path) -> AddSub:
    """``model.pt2`` by ``torch.export.save`` with a dynamic batch dimension."""
    version.mkdir(parents=True, exist_ok=True)
    torch.export.save(exported_program(), str(version / "model.pt2"))
    return AddSub().eval()


def write_aoti_package(version: Path) -> AddSub:
    """``model.pt2`` by ``torch._inductor.aoti_compile_and_package`` (compiles C++: slow)."""
    version.mkdir(parents=True, exist_ok=True)
    torch._inductor.aoti_compile_and_package(
        exported_program(), package_path=str(version / "model.pt2")
    )
    return AddSub().eval()


def libtorch_config(name: str, max_batch_size: int = 8) -> str:
    """Triton's ``pytorch_libtorch`` config.pbtxt for ``AddSub`` (``INPUT__0`` naming)."""
    tensors = {
        "input": ("INPUT__0", "INPUT__1"),
        "output": ("OUTPUT__0", "OUTPUT__1"),
    }
    body = "".join(
        f"{kind} [\n"
        + ",\n".join(f'  {{ name: "{n}" data_type: TYPE_FP32 dims: [ 4 ] }}' for n in names)
        + "\n]\n"
        for kind, names in tensors.items()
    )
    return f'name: "{name}"\nplatform: "pytorch_libtorch"\nmax_batch_size: {max_batch_size}\n{body}'
