"""Loader factories for the platforms beside TensorFlow: ONNX, scikit-learn, XGBoost,
PyTorch, Python models (Triton's python_backend interface), LightGBM and CatBoost.

``platform_factories`` gives the source adapter one ``LoaderFactory`` per platform.
Each platform's module (and so its library: onnxruntime, scikit-learn, XGBoost) is
imported only when a version of that platform is first loaded, inside ``Loader.load()``
in the load lane. A server without XGBoost installed serves every other model; each
XGBoost version ends in the error state with "model_platform 'xgboost' needs the
'xgboost' package (pip install xgboost)". Every platform shares the version extras
(per-model batching file, warmup-record replay) with TensorFlow.

ONNX thread counts: ``--onnx_intra_op_threads`` / ``--onnx_inter_op_threads``; 0 falls
back to ``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism``,
then ``--tensorflow_session_parallelism``; 0 there too lets onnxruntime choose.
PyTorch thread counts: ``--tensorflow_intra_op_parallelism`` /
``--tensorflow_inter_op_parallelism``, then ``--tensorflow_session_parallelism``; 0 lets
torch choose (torch's counts are process-wide: the first PyTorch load applies them).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Final

from actors.source_adapter import LoaderFactory
from config.flags import ServerOptions
from servables.loader import Loader
from servables.model_caller import ModelCaller
from servables.servable import Servable
from servables.version_folder import VersionExtras

# platform -> (module, loader class, options class, pip packages it needs)
_PLATFORMS: Final[Mapping[str, tuple[str, str, str, str]]] = {
    "onnx": ("servables.onnx.onnx_model", "OnnxLoader", "OnnxOptions", "onnxruntime"),
    "sklearn": (
        "servables.sklearn.sklearn_model",
        "SklearnLoader",
        "SklearnOptions",
        "scikit-learn joblib",
    ),
    "xgboost": ("servables.xgboost.xgboost_model", "XgboostLoader", "XgboostOptions", "xgboost"),
    "pytorch": ("servables.torch.torch_model", "TorchLoader", "TorchOptions", "torch==2.13.0"),
    "python": (
        "servables.python_backend.python_model",
        "PythonModelLoader",
        "PythonModelOptions",
        "numpy",
    ),
    "lightgbm": (
        "servables.lightgbm.lightgbm_model",
        "LightgbmLoader",
        "LightgbmOptions",
        "lightgbm",
    ),
    "catboost": (
        "servables.catboost.catboost_model",
        "CatboostLoader",
        "CatboostOptions",
        "catboost",
    ),
}


class DeferredLoader(Loader):
    """Imports its platform's module on ``load()``, then loads through that platform's loader."""

    def __init__(
        self, *, platform: str, model_name: str, version: int, path: str, options: Mapping[str, Any]
    ) -> None:
        self.platform = platform
        self.model_name = model_name
        self.version = version
        self.path = path
        self._options = options

    def load(self) -> Servable:
        module_name, loader_name, options_name, packages = _PLATFORMS[self.platform]
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ImportError(
                f"model_platform '{self.platform}' needs the '{error.name}' package "
                f"(pip install {packages}): {error}"
            ) from error
        options = getattr(module, options_name)(**self._options)
        loader: Loader = getattr(module, loader_name)(
            model_name=self.model_name, version=self.version, path=self.path, options=options
        )
        return loader.load()


def onnx_threads(options: ServerOptions) -> dict[str, int]:
    """The ONNX session's thread counts (see the module docstring)."""
    session = options.tensorflow_session_parallelism
    return {
        "intra_op_threads": options.onnx_intra_op_threads
        or options.tensorflow_intra_op_parallelism
        or session,
        "inter_op_threads": options.onnx_inter_op_threads
        or options.tensorflow_inter_op_parallelism
        or session,
    }


def torch_threads(options: ServerOptions) -> dict[str, int]:
    """PyTorch's thread counts: TensorFlow's parallelism flags, as ONNX falls back to them."""
    session = options.tensorflow_session_parallelism
    return {
        "intra_op_threads": options.tensorflow_intra_op_parallelism or session,
        "inter_op_threads": options.tensorflow_inter_op_parallelism or session,
    }


def platform_factories(
    options: ServerOptions,
    *,
    per_model_batching: bool,
    warmup: Callable[[Servable, str], object] | None,
    model_caller: ModelCaller | None = None,
) -> dict[str, LoaderFactory]:
    """One ``LoaderFactory`` per non-TensorFlow platform.

    ``model_caller`` lets Python models call other models of this server (Triton's BLS);
    without it their ``InferenceRequest.exec()`` fails with UNAVAILABLE.
    """
    extras = VersionExtras(per_model_batching=per_model_batching, warmup=warmup)
    platform_options: dict[str, dict[str, Any]] = {
        "onnx": {"extras": extras, **onnx_threads(options)},
        "sklearn": {"extras": extras},
        "xgboost": {"extras": extras},
        "pytorch": {"extras": extras, **torch_threads(options)},
        "python": {"extras": extras, "model_caller": model_caller},
        "lightgbm": {"extras": extras},
        "catboost": {"extras": extras},
    }

    def factory(platform: str) -> LoaderFactory:
        def make(model_name: str, version: int, path: str) -> Loader:
            return DeferredLoader(
                platform=platform,
                model_name=model_name,
                version=version,
                path=path,
                options=platform_options[platform],
            )

        return make

    return {platform: factory(platform) for platform in _PLATFORMS}
