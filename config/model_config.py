"""The list of models to serve: TF Serving's ``ModelServerConfig``, validated and frozen.

Input is TF Serving's own format, ``tensorflow.serving.ModelServerConfig``: a text file
given by ``--model_config_file``, the message of a ``HandleReloadConfigRequest``, or the
pair ``--model_name`` / ``--model_base_path``. Output is a ``ModelServerSettings``: an
immutable tuple of ``ModelSettings`` in file order, one per model.

Contract:

- The result is complete: an empty ``model_platform`` is what the base path's files say
  (``config.model_files.detect_platform``: ``saved_model.pb`` is tensorflow,
  ``model.onnx`` onnx, ...; ambiguous or unrecognised files are a ``ConfigError``
  naming them), and ``"tensorflow"``, TF Serving's default, when the base path holds no
  files yet, does not exist, or is an ``s3://`` URL. An unset
  version policy is ``Latest(1)``, ``latest {}`` is ``Latest(1)``, and ``base_path`` is
  an absolute folder or an ``s3://bucket/prefix`` URL (kept as written, never checked
  here: the path poller reads the store; any other ``scheme://`` is rejected). A relative ``base_path`` is resolved against the directory of the config
  file (TF Serving resolves it against the working directory; a config file that works
  wherever the server is started from is more useful). Text and protos that did not
  come from a file resolve against ``base_dir``, by default the working directory.
- Environment variables are not expanded (TF Serving does not expand them either).
- Every rejected setting raises ``ConfigError`` naming the source, the field and, for
  text input, the line: an empty or duplicate name, a platform other than
  ``tensorflow``, ``onnx``, ``sklearn``, ``xgboost``, ``pytorch``, ``python``, ``lightgbm``
  or ``catboost``, both ``model_type`` and ``model_platform`` set, an empty ``base_path``
  or (unless ``require_existing_base_path=False``) one that is not an existing
  directory, ``specific`` with no versions or a negative version, a version label that
  is empty or points to a negative version, and the features this server does not
  implement (``custom_model_config``). An empty model list
  is valid: it means "serve nothing", as a reload uses to unload every model.
- Whether a labelled version is actually available is decided at serving time, not here.
- A model's ``logging_config`` becomes ``ModelSettings.request_logging`` (``None`` when
  absent), validated by ``config.request_logging``; its errors carry the model's line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeAlias

from tensorflow_serving.config import model_server_config_pb2

from config.errors import COMMAND_LINE, ConfigError
from config.model_files import ModelFilesError, detect_platform
from config.request_logging import RequestLogging, RequestLoggingError, request_logging_from_proto
from config.textproto import TextLocator, parse_text_proto, read_config_file

log = logging.getLogger(__name__)

ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig

TENSORFLOW_PLATFORM = "tensorflow"
ONNX_PLATFORM = "onnx"
SKLEARN_PLATFORM = "sklearn"
XGBOOST_PLATFORM = "xgboost"
PYTORCH_PLATFORM = "pytorch"
PYTHON_PLATFORM = "python"
LIGHTGBM_PLATFORM = "lightgbm"
CATBOOST_PLATFORM = "catboost"
SUPPORTED_PLATFORMS: frozenset[str] = frozenset(
    {
        TENSORFLOW_PLATFORM,
        ONNX_PLATFORM,
        SKLEARN_PLATFORM,
        XGBOOST_PLATFORM,
        PYTORCH_PLATFORM,
        PYTHON_PLATFORM,
        LIGHTGBM_PLATFORM,
        CATBOOST_PLATFORM,
    }
)


@dataclass(frozen=True, slots=True)
class Latest:
    """Serve the ``num_versions`` highest-numbered versions found under the base path."""

    num_versions: int = 1


@dataclass(frozen=True, slots=True)
class All:
    """Serve every version found under the base path."""


@dataclass(frozen=True, slots=True)
class Specific:
    """Serve exactly these versions (sorted, unique) when they appear under the base path."""

    versions: tuple[int, ...]


VersionPolicy: TypeAlias = Latest | All | Specific


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSettings:
    """One model to serve. ``version_labels`` maps a label such as "stable" to a version."""

    name: str
    base_path: str  # an absolute local folder or an s3://bucket/prefix URL
    platform: str = TENSORFLOW_PLATFORM
    version_policy: VersionPolicy = Latest()
    version_labels: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    request_logging: RequestLogging | None = None
    """The model's ``logging_config``: which requests to log, and where."""

    def __post_init__(self) -> None:
        # A caller's dict must not change this (frozen) value behind its back.
        object.__setattr__(self, "version_labels", MappingProxyType(dict(self.version_labels)))


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelServerSettings:
    """Every model to serve, in config order, and where the list came from."""

    models: tuple[ModelSettings, ...]
    source: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(model.name for model in self.models)

    def model(self, name: str) -> ModelSettings | None:
        """The settings of the model called ``name``, or ``None``."""
        return next((model for model in self.models if model.name == name), None)


def load_model_config(
    path: str | os.PathLike[str], *, require_existing_base_path: bool = True
) -> ModelServerSettings:
    """Read and validate a ``models.config`` file (``--model_config_file``)."""
    text = read_config_file(path)
    return model_config_from_text(
        text,
        os.fspath(path),
        base_dir=Path(path).parent,
        require_existing_base_path=require_existing_base_path,
    )


def model_config_from_text(
    text: str,
    source_name: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    require_existing_base_path: bool = True,
) -> ModelServerSettings:
    """Parse and validate ``ModelServerConfig`` text; errors name ``source_name`` and a line."""
    proto = parse_text_proto(text, ModelServerConfig(), source_name)
    converter = _Converter(source_name, base_dir, require_existing_base_path, TextLocator(text))
    return converter.convert(proto)


def model_config_from_proto(
    proto: model_server_config_pb2.ModelServerConfig,
    source_name: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    require_existing_base_path: bool = True,
) -> ModelServerSettings:
    """Validate a ``ModelServerConfig`` message, e.g. from ``HandleReloadConfigRequest``."""
    converter = _Converter(source_name, base_dir, require_existing_base_path, locator=None)
    return converter.convert(proto)


def single_model_config(
    name: str,
    base_path: str | os.PathLike[str],
    *,
    platform: str = "",
    require_existing_base_path: bool = True,
) -> ModelServerSettings:
    """The one-model config that ``--model_name``, ``--model_base_path`` and ``--model_platform`` describe.

    An empty ``platform`` is told from the files, as an empty ``model_platform`` is.
    """
    proto = ModelServerConfig()
    proto.model_config_list.config.add(
        name=name, base_path=os.fspath(base_path), model_platform=platform
    )
    return model_config_from_proto(
        proto, COMMAND_LINE, require_existing_base_path=require_existing_base_path
    )


class _Converter:
    """Proto to settings for one source; knows how to point an error at a model's line."""

    def __init__(
        self,
        source: str,
        base_dir: str | os.PathLike[str] | None,
        require_existing_base_path: bool,
        locator: TextLocator | None,
    ) -> None:
        self._source = source
        self._base_dir = Path.cwd() if base_dir is None else Path(base_dir)
        self._require_existing_base_path = require_existing_base_path
        self._locator = locator
        self._block_starts = locator.block_starts("config") if locator else []

    def convert(self, proto: model_server_config_pb2.ModelServerConfig) -> ModelServerSettings:
        if proto.HasField("custom_model_config"):
            raise self._error(
                None,
                "custom_model_config",
                "custom_model_config is not supported; list models in model_config_list",
            )
        if len(self._block_starts) != len(proto.model_config_list.config):
            self._block_starts = []  # the text does not look as expected: give no lines
        models: list[ModelSettings] = []
        names: set[str] = set()
        # Names first, for the whole list: a model's own checks may read its files.
        for index, model in enumerate(proto.model_config_list.config):
            if model.name and model.name in names:
                raise self._error(index, "name", f"duplicate model name '{model.name}'")
            names.add(model.name)
        for index, model in enumerate(proto.model_config_list.config):
            models.append(self._model(index, model))
        return ModelServerSettings(models=tuple(models), source=self._source)

    def _model(self, index: int, model: model_server_config_pb2.ModelConfig) -> ModelSettings:
        if not model.name:
            raise self._error(index, "name", "model name must not be empty")
        base_path = self._base_path(index, model)
        return ModelSettings(
            name=model.name,
            base_path=base_path,
            platform=self._platform(index, model, base_path),
            version_policy=self._version_policy(index, model),
            version_labels=self._version_labels(index, model),
            request_logging=self._request_logging(index, model),
        )

    def _request_logging(
        self, index: int, model: model_server_config_pb2.ModelConfig
    ) -> RequestLogging | None:
        if not model.HasField("logging_config"):
            return None
        try:
            return request_logging_from_proto(model.logging_config, base_dir=self._base_dir)
        except RequestLoggingError as error:
            raise self._error(
                index, f"logging_config.{error.field}", f"model '{model.name}': {error}"
            ) from error

    def _platform(
        self, index: int, model: model_server_config_pb2.ModelConfig, base_path: str
    ) -> str:
        if model.model_type != model_server_config_pb2.MODEL_TYPE_UNSPECIFIED:
            if model.model_platform:
                raise self._error(
                    index,
                    "model_type",
                    "Illegal setting both ModelServerConfig::model_type (deprecated) and "
                    f"ModelServerConfig::model_platform, model name is {model.name}",
                )
            if model.model_type == model_server_config_pb2.TENSORFLOW:
                return TENSORFLOW_PLATFORM
            raise self._error(
                index,
                "model_type",
                f"ModelServerConfig::model_type choice {model.model_type} not supported. "
                f"(model '{model.name}': only model_type TENSORFLOW is supported)",
            )
        platform = model.model_platform or self._detected_platform(index, model.name, base_path)
        if platform not in SUPPORTED_PLATFORMS:
            supported = ", ".join(sorted(SUPPORTED_PLATFORMS))
            raise self._error(
                index,
                "model_platform",
                f"Model {model.name} requests unsupported platform {platform} "
                f"(supported: {supported})",
            )
        return platform

    def _detected_platform(self, index: int, name: str, base_path: str) -> str:
        """No ``model_platform``: the files' platform, else TF Serving's ``tensorflow``."""
        if "://" in base_path or not os.path.isdir(base_path):
            return TENSORFLOW_PLATFORM
        try:
            detected = detect_platform(base_path)
        except (ModelFilesError, OSError) as error:
            raise self._error(index, "model_platform", f"model '{name}': {error}") from error
        if detected is None:
            log.info(
                "model %s: no model files in %s yet; serving it as tensorflow, TF Serving's "
                "default (set model_platform for another)",
                name,
                base_path,
            )
            return TENSORFLOW_PLATFORM
        log.info("model %s: platform %s, told from the files in %s", name, detected, base_path)
        return detected

    def _base_path(self, index: int, model: model_server_config_pb2.ModelConfig) -> str:
        if not model.base_path:
            raise self._error(index, "base_path", f"model '{model.name}': base_path is required")
        scheme, separator, rest = model.base_path.partition("://")
        if separator:
            # Checked in the store by the path poller, never here: it may be unreachable now.
            if scheme != "s3" or not rest.split("/", 1)[0]:
                raise self._error(
                    index,
                    "base_path",
                    f"model '{model.name}': base path '{model.base_path}' is not supported: "
                    "give a local folder or s3://bucket/prefix",
                )
            return str(model.base_path)
        # normpath, not resolve(): keep the user's symlinks in paths and messages.
        path = Path(os.path.normpath(self._base_dir.absolute() / model.base_path))
        if self._require_existing_base_path and not path.is_dir():
            problem = "is not a directory" if path.exists() else "does not exist"
            raise self._error(
                index, "base_path", f"model '{model.name}': base path '{path}' {problem}"
            )
        return str(path)

    def _version_policy(
        self, index: int, model: model_server_config_pb2.ModelConfig
    ) -> VersionPolicy:
        policy = model.model_version_policy
        choice = policy.WhichOneof("policy_choice")
        if choice == "all":
            return All()
        if choice == "specific":
            versions = policy.specific.versions
            if not versions:
                raise self._error(
                    index,
                    "model_version_policy.specific.versions",
                    f"model '{model.name}': specific version policy lists no versions",
                )
            if any(version < 0 for version in versions):
                raise self._error(
                    index,
                    "model_version_policy.specific.versions",
                    f"model '{model.name}': versions must be non-negative, got {list(versions)}",
                )
            return Specific(versions=tuple(sorted(set(versions))))
        # num_versions is a proto3 uint32, so unset reads 0; TF Serving documents 1 as default.
        return Latest(num_versions=max(1, policy.latest.num_versions))

    def _version_labels(
        self, index: int, model: model_server_config_pb2.ModelConfig
    ) -> dict[str, int]:
        for label, version in model.version_labels.items():
            if not label:
                raise self._error(
                    index, "version_labels", f"model '{model.name}': empty version label"
                )
            if version < 0:
                raise self._error(
                    index,
                    "version_labels",
                    f"model '{model.name}': label '{label}' points to negative version {version}",
                )
        return dict(sorted(model.version_labels.items()))

    def _error(self, index: int | None, field_path: str, message: str) -> ConfigError:
        return ConfigError(
            self._source, message, line=self._line(index, field_path), field=field_path
        )

    def _line(self, index: int | None, field_path: str) -> int | None:
        """The line of ``field_path`` in model ``index``'s block (or top level if ``None``)."""
        if self._locator is None:
            return None
        if index is None:
            return self._locator.field_line(field_path.split(".")[0])
        if not self._block_starts:
            return None
        start = self._block_starts[index]
        end = self._block_starts[index + 1] if index + 1 < len(self._block_starts) else None
        for key in reversed(field_path.split(".")):
            line = self._locator.field_line(key, start, end)
            if line is not None:
                return line
        return start
