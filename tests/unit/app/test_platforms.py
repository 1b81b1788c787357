"""Per-platform loader factories: lazy imports and the ONNX thread flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.platforms import onnx_threads, platform_factories, torch_threads
from config.flags import parse_flags
from config.server_config import ServerConfig, load_server_config
from servables.warmup_options import WarmupOptions
from tests.platform_models import write_sklearn_classifier


def server_config() -> ServerConfig:
    folder = Path(__file__).parent  # any existing folder; no model is loaded from it
    flags = [f"--model_base_path={folder}", "--model_platform=tensorflow"]
    return load_server_config(parse_flags(flags))


def test_a_missing_library_fails_only_that_platforms_load_naming_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delitem(sys.modules, "servables.xgboost.xgboost_model", raising=False)
    monkeypatch.setitem(
        sys.modules, "xgboost", None
    )  # what an uninstalled package looks like to import
    factories = platform_factories(server_config(), WarmupOptions())
    loader = factories["xgboost"]("m", 1, str(tmp_path))  # creating a loader imports nothing
    with pytest.raises(
        ImportError,
        match=r"model_platform 'xgboost' needs the 'xgboost' package \(pip install xgboost\)",
    ):
        loader.load()

    write_sklearn_classifier(tmp_path / "1")
    servable = factories["sklearn"]("m", 1, str(tmp_path / "1")).load()
    assert servable.platform == "sklearn"


def test_every_platform_tensorflow_included_is_one_lazy_factory() -> None:
    factories = platform_factories(server_config(), WarmupOptions())
    assert set(factories) == {
        *("tensorflow", "onnx", "sklearn", "xgboost"),
        *("pytorch", "python", "lightgbm", "catboost"),
    }
    loader = factories["tensorflow"]("m", 1, "/nowhere/1")
    assert (loader.model_name, loader.version, loader.path) == ("m", 1, "/nowhere/1")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], {"intra_op_threads": 0, "inter_op_threads": 0}),
        (["--tensorflow_session_parallelism=3"], {"intra_op_threads": 3, "inter_op_threads": 3}),
        (
            ["--tensorflow_intra_op_parallelism=2", "--onnx_inter_op_threads=1"],
            {"intra_op_threads": 2, "inter_op_threads": 1},
        ),
        (
            ["--onnx_intra_op_threads=4", "--tensorflow_intra_op_parallelism=2"],
            {"intra_op_threads": 4, "inter_op_threads": 0},
        ),
    ],
)
def test_onnx_threads_fall_back_to_the_tensorflow_flags(
    flags: list[str], expected: dict[str, int]
) -> None:
    assert onnx_threads(parse_flags(["--model_base_path=/m", *flags])) == expected


def test_other_platforms_and_python_models_never_import_torch(tmp_path: Path) -> None:
    """In a fresh interpreter: ONNX, scikit-learn and a Python model load without torch."""
    script = f"""
import subprocess
import sys
from pathlib import Path
from app.platforms import platform_factories
from config.flags import parse_flags
from config.server_config import load_server_config
from servables.warmup_options import WarmupOptions
from tests.platform_models import write_onnx_from_sklearn, write_sklearn_classifier
root = Path({str(tmp_path)!r})
write_onnx_from_sklearn(root / "onnx" / "1")
write_sklearn_classifier(root / "sk" / "1")
(root / "py" / "1").mkdir(parents=True)
(root / "py" / "1" / "model.py").write_text(
    "import triton_python_backend_utils as pb_utils\\n"
    "class TritonPythonModel:\\n"
    "    @staticmethod\\n"
    "    def auto_complete_config(c):\\n"
    "        c.add_input({{'name': 'A', 'data_type': 'TYPE_FP32', 'dims': [1]}})\\n"
    "        c.add_output({{'name': 'B', 'data_type': 'TYPE_FP32', 'dims': [1]}})\\n"
    "        return c\\n"
    "    def execute(self, requests):\\n"
    "        return []\\n")
config = load_server_config(parse_flags([f"--model_base_path={{root}}"]))
factories = platform_factories(config, WarmupOptions())
for platform, folder in (("onnx", "onnx"), ("sklearn", "sk"), ("python", "py")):
    factories[platform]("m", 1, str(root / folder / "1")).load()
print("torch" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr


def test_torch_threads_follow_the_tensorflow_flags() -> None:
    flags = ["--model_base_path=/m", "--tensorflow_intra_op_parallelism=3"]
    assert torch_threads(parse_flags(flags)) == {"intra_op_threads": 3, "inter_op_threads": 0}
    session = ["--model_base_path=/m", "--tensorflow_session_parallelism=2"]
    assert torch_threads(parse_flags(session)) == {"intra_op_threads": 2, "inter_op_threads": 2}


def test_a_sklearn_version_with_warmup_records_replays_them_before_load_returns(
    tmp_path: Path,
) -> None:
    from servables.tensorflow.warmup import WarmupError
    from tests.unit.servables.tensorflow.test_warmup import predict_record, write_warmup

    write_sklearn_classifier(tmp_path / "1")
    path = write_warmup(tmp_path / "1", [predict_record(alias="nope")])
    factories = platform_factories(server_config(), WarmupOptions())
    with pytest.raises(WarmupError, match=rf"warmup request 0 in {path} failed: .*nope"):
        factories["sklearn"]("m", 1, str(tmp_path / "1")).load()
