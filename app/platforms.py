"""Every platform's loader factory, TensorFlow included, registered in one table.

``_PLATFORMS`` names, per ``model_platform``, the module that loads it, the loader class
and the options callable in that module, and the pip packages it needs. Adding a platform
is one row there and one entry in ``platform_options``. ``platform_factories`` gives the
source adapter one loader factory per row; creating a loader imports nothing.

A platform's module (and so its library: TensorFlow, onnxruntime, scikit-learn, XGBoost)
is imported when a version of that platform is first loaded, inside ``Loader.load()`` in
the load lane, and its options are built then, once, for every later version. No module
here or in a platform's package imports another platform's library. A server without
XGBoost installed serves every other model; each XGBoost version ends in the error state
with "model_platform 'xgboost' needs the 'xgboost' package (pip install xgboost)".

Every platform shares the version extras (per-model batching file, warmup-record replay).
Warmup replay reads TFRecord files, so it imports TensorFlow, but only for a version that
has a warmup file while ``--enable_model_warmup`` is on (``servables.warmup_options``).
TensorFlow's session config is turned into its ``ConfigProto`` when the platform is first
prepared (at start-up, when a configured model is TensorFlow: ``LazyPlatform.prepare``)
or loaded, which logs then the config's fields that cannot take effect in this process.

ONNX thread counts: ``--onnx_intra_op_threads`` / ``--onnx_inter_op_threads``; 0 falls
back to ``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism``,
then ``--tensorflow_session_parallelism``; 0 there too lets onnxruntime choose.
PyTorch thread counts: ``--tensorflow_intra_op_parallelism`` /
``--tensorflow_inter_op_parallelism``, then ``--tensorflow_session_parallelism``; 0 lets
torch choose (torch's counts are process-wide: the first PyTorch load applies them).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from config.flags import ServerOptions
from config.server_config import ServerConfig
from servables.loader import Loader
from servables.model_caller import ModelCaller
from servables.servable import Servable
from servables.version_folder import VersionExtras
from servables.warmup_options import WarmupOptions, wants_warmup

# platform -> (module, loader class, options callable, pip packages it needs)
_PLATFORMS: Final[Mapping[str, tuple[str, str, str, str]]] = {
    "tensorflow": (
        "servables.tensorflow.saved_model",
        "SavedModelLoader",
        "saved_model_options",
        "tensorflow",
    ),
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


class LazyPlatform:
    """One platform's module and options: imported and built on the first ``loader()`` call.

    Loads run on several load threads; the lock makes the import and the options happen
    once. An import that fails is retried by the next load (the package may be installed
    by then), and raises ``ImportError`` naming the package to install.
    """

    def __init__(self, platform: str, options: Mapping[str, Any]) -> None:
        self.platform = platform
        self._options = options
        self._lock = threading.Lock()
        self._ready: tuple[Any, object] | None = None  # (module, options)

    def __call__(self, model_name: str, version: int, path: str) -> Loader:
        """A loader for one version; imports nothing until its ``load()``."""
        return DeferredLoader(platform=self, model_name=model_name, version=version, path=path)

    def prepare(self) -> bool:
        """Import the platform and build its options now; False when its package is missing.

        The server prepares its configured models' platforms at start-up, while it filters
        the native start-up noise (``app.log_format``): TensorFlow probes its devices here.
        A missing package is reported by each version's load, not here.
        """
        try:
            self._module_and_options()
        except ImportError:
            return False
        return True

    def loader(self, model_name: str, version: int, path: str) -> Loader:
        """This platform's own loader for one version (imports the platform on first use)."""
        loader_name = _PLATFORMS[self.platform][1]
        module, options = self._module_and_options()
        loader: Loader = getattr(module, loader_name)(
            model_name=model_name, version=version, path=path, options=options
        )
        return loader

    def _module_and_options(self) -> tuple[Any, object]:
        with self._lock:
            if self._ready is None:
                module_name, _, options_name, packages = _PLATFORMS[self.platform]
                try:
                    module = importlib.import_module(module_name)
                except ImportError as error:
                    raise ImportError(
                        f"model_platform '{self.platform}' needs the '{error.name}' package "
                        f"(pip install {packages}): {error}"
                    ) from error
                self._ready = (module, getattr(module, options_name)(**self._options))
            return self._ready


class DeferredLoader(Loader):
    """Loads one version through its platform's loader, importing the platform on ``load()``."""

    def __init__(self, *, platform: LazyPlatform, model_name: str, version: int, path: str) -> None:
        self.platform = platform.platform
        self.model_name = model_name
        self.version = version
        self.path = path
        self._lazy = platform

    def load(self) -> Servable:
        return self._lazy.loader(self.model_name, self.version, self.path).load()


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


def warmup_options(
    config: ServerConfig, observer: Callable[[str, float], None] | None = None
) -> WarmupOptions:
    """Warmup from the flags; ``observer`` gets (model, seconds) after each warmup."""
    return WarmupOptions(
        enabled=config.enable_model_warmup,
        iterations=config.num_request_iterations_for_warmup,
        check_method_names=config.options.enable_signature_method_name_check,
        observer=observer,
    )


def warmup_replay(warmup: WarmupOptions) -> Callable[[Servable, str], object]:
    """The warmup hook of the non-TensorFlow platforms: TensorFlow only when there are records."""

    def replay(servable: Servable, path: str) -> None:
        if wants_warmup(path, warmup):
            from servables.tensorflow.warmup import run_warmup

            run_warmup(servable, path, warmup)

    return replay


def platform_options(
    config: ServerConfig, warmup: WarmupOptions, model_caller: ModelCaller | None = None
) -> dict[str, dict[str, Any]]:
    """Each platform's options callable's keyword arguments (plain values, no framework).

    ``model_caller`` lets Python models call other models of this server (Triton's BLS);
    without it their ``InferenceRequest.exec()`` fails with UNAVAILABLE.
    """
    extras = VersionExtras(
        per_model_batching=config.per_model_batching, warmup=warmup_replay(warmup)
    )
    return {
        "tensorflow": {
            "tags": config.saved_model_tags,
            "session_config": config.session_config,
            "gpu_fraction_from_flag": config.gpu_fraction_from_flag,
            "warmup": warmup,
            "per_model_batching": config.per_model_batching,
        },
        "onnx": {"extras": extras, **onnx_threads(config.options)},
        "sklearn": {"extras": extras},
        "xgboost": {"extras": extras},
        "pytorch": {"extras": extras, **torch_threads(config.options)},
        "python": {"extras": extras, "model_caller": model_caller},
        "lightgbm": {"extras": extras},
        "catboost": {"extras": extras},
    }


def platform_factories(
    config: ServerConfig, warmup: WarmupOptions, model_caller: ModelCaller | None = None
) -> dict[str, LazyPlatform]:
    """One loader factory per platform in ``_PLATFORMS``; nothing imported yet."""
    options = platform_options(config, warmup, model_caller)
    return {platform: LazyPlatform(platform, options[platform]) for platform in _PLATFORMS}
