"""``--platform_config_file``: TF Serving's ``PlatformConfigMap`` text, for the "tensorflow" platform.

The file is ``tensorflow.serving.PlatformConfigMap`` in text format, its one entry's
``source_adapter_config`` a ``google.protobuf.Any`` holding a
``SavedModelBundleSourceAdapterConfig``, whose ``legacy_config`` is TF Serving's
``SessionBundleConfig`` (see ``config/protos/session_bundle_config.proto``)::

    platform_configs {
      key: "tensorflow"
      value {
        source_adapter_config {
          [type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig] {
            legacy_config {
              session_config { intra_op_parallelism_threads: 4 }
              batching_parameters { max_batch_size { value: 32 } }
              saved_model_tags: "serve"
              enable_model_warmup: true
              model_warmup_options { num_request_iterations { value: 2 } }
            }
          }
        }
      }
    }

As in TF Serving, the file replaces the flags that would otherwise build this config:
the TensorFlow session flags, the batching flags, ``--saved_model_tags`` and the warmup
flags. ``overridden_flags`` names those that were given, for a start-up warning. It
follows that, as in TF Serving, warmup is off unless ``enable_model_warmup: true`` and
batching is off unless ``batching_parameters`` is set.

``SessionBundleConfig`` fields, mapped into a ``PlatformSettings``:

- ``session_config``: the session ``ConfigProto`` of every model version, serialized
  (bytes), checked as ``config.session_config`` checks a session config file;
- ``batching_parameters``: batching on, validated like ``--batching_parameters_file``;
- ``enable_per_model_batching_params``: ``--enable_per_model_batching_parameters``;
  without ``batching_parameters`` it has no effect (a warning), as in TF Serving;
- ``saved_model_tags``: empty means "serve", as in TF Serving;
- ``enable_model_warmup`` and ``model_warmup_options.num_request_iterations`` (unset: 1).

Any other field that is set (``session_target``, the TFLite, ``experimental_*`` and
session metadata fields, other warmup options, ...) is a ``ConfigError`` naming the file,
line and field: silently serving differently from what the file asks is worse than
refusing to start. So are: a platform other than "tensorflow", a missing "tensorflow"
entry, an ``Any`` of another type, and text that does not parse.

The messages come from ``config.protos`` (a committed descriptor set), so nothing here
imports TensorFlow; ``PlatformConfigMap`` is the pip package's ``platform_config_pb2``,
which does not import TensorFlow either.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from google.protobuf import message as protobuf_message
from google.protobuf import text_format
from tensorflow_serving.config.platform_config_pb2 import PlatformConfigMap

from config.batching_config import BatchingSettings, batching_parameters_from_proto
from config.errors import ConfigError
from config.flags import ServerOptions
from config.protos import POOL, SavedModelBundleSourceAdapterConfig
from config.session_config import refuse_unusable
from config.textproto import TextLocator, read_config_file

PLATFORM = "tensorflow"
DEFAULT_TAGS = ("serve",)

# SessionBundleConfig fields that are mapped; every other set field is refused.
_MAPPED_FIELDS = frozenset(
    {
        "session_config",
        "batching_parameters",
        "enable_per_model_batching_params",
        "saved_model_tags",
        "enable_model_warmup",
        "model_warmup_options",
    }
)
_MAPPED_WARMUP_FIELDS = frozenset({"num_request_iterations"})
_TFLITE = "TensorFlow Lite models are not served by this server"
_REFUSAL_REASONS = {
    "session_target": "every model runs in an in-process session (the empty target)",
    "session_run_load_threadpool_index": "restore and init ops run on the session's own "
    "thread pools",
    "experimental_transient_ram_bytes_during_load": "this server does no resource estimation",
    "experimental_fixed_input_tensors": "no tensors are appended to session runs",
    "enable_session_metadata": "sessions carry no metadata",
    "remove_unused_fields_from_bundle_metagraph": "the meta graph is kept as loaded",
    "prefer_tflite_model": _TFLITE,
    "num_tflite_interpreters": _TFLITE,
    "num_tflite_interpreters_per_pool": _TFLITE,
    "num_tflite_pools": _TFLITE,
    "wrap_session_with_no_threading_params": "sessions are not wrapped",
    "mixed_precision": "models run with the precision they were saved with",
    "model_warmup_options.num_model_warmup_threads": "warmup replays its records one at a "
    "time in the loading thread",
    "model_warmup_options.model_name": "warmup runs on the version being loaded",
    "model_warmup_options.model_version": "warmup runs on the version being loaded",
    "model_warmup_options.enable_all_batch_sizes_warmup": "warmup replays the recorded "
    "requests only",
}

# Flags whose settings the platform config replaces (TF Serving ignores them too).
OVERRIDDEN_FLAGS = (
    "tensorflow_session_parallelism",
    "tensorflow_intra_op_parallelism",
    "tensorflow_inter_op_parallelism",
    "tensorflow_session_config_file",
    "per_process_gpu_memory_fraction",
    "enable_batching",
    "batching_parameters_file",
    "enable_per_model_batching_parameters",
    "saved_model_tags",
    "enable_model_warmup",
    "num_request_iterations_for_warmup",
)

_UNKNOWN_FIELD = re.compile(r'has no field named "([^"]+)"')
_UNKNOWN_TYPE = re.compile(r"Type (\S+) not found in descriptor pool")
_LOCATION_PREFIX = re.compile(r"^\d+:\d+ : ")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformSettings:
    """The "tensorflow" platform's settings; see the module docstring for the mapping."""

    source: str
    session_config: bytes
    """A serialized ``tensorflow.ConfigProto``."""
    batching: BatchingSettings | None
    """``None``: batching off."""
    per_model_batching: bool
    saved_model_tags: tuple[str, ...]
    enable_model_warmup: bool
    num_request_iterations_for_warmup: int
    warnings: tuple[str, ...] = ()


def load_platform_config(path: str | os.PathLike[str]) -> PlatformSettings:
    """Read and validate a ``PlatformConfigMap`` text file."""
    return platform_config_from_text(read_config_file(path), os.fspath(path))


def platform_config_from_text(text: str, source: str) -> PlatformSettings:
    """Parse and validate ``PlatformConfigMap`` text; errors name ``source``."""
    config_map = PlatformConfigMap()
    _parse(text, config_map, source, POOL)
    locator = TextLocator(text)
    for key in config_map.platform_configs:
        if key != PLATFORM:
            raise ConfigError(
                source,
                f"unsupported platform {key!r} (supported: {PLATFORM})",
                line=_line_of(text, rf'\bkey\s*:\s*["\']{re.escape(key)}["\']'),
                field="platform_configs",
            )
    if PLATFORM not in config_map.platform_configs:
        raise ConfigError(
            source, f'no "{PLATFORM}" entry in platform_configs', field="platform_configs"
        )
    packed = config_map.platform_configs[PLATFORM].source_adapter_config
    expected = SavedModelBundleSourceAdapterConfig.DESCRIPTOR.full_name
    line = locator.field_line("source_adapter_config")
    if packed.TypeName() != expected:
        found = repr(packed.TypeName()) if packed.type_url else "nothing"
        raise ConfigError(
            source,
            f"expected a {expected}, found {found}",
            line=line,
            field="source_adapter_config",
        )
    adapter: Any = SavedModelBundleSourceAdapterConfig()
    try:
        packed.Unpack(adapter)
    except protobuf_message.DecodeError as error:
        raise ConfigError(
            source,
            f"cannot decode the packed {expected}: {error}",
            line=line,
            field="source_adapter_config",
        ) from error
    return _Mapper(source, locator).convert(adapter.legacy_config)


def overridden_flags(options: ServerOptions) -> list[str]:
    """A warning for each flag given (not at its default) that the platform config replaces."""
    defaults = ServerOptions()
    return [
        f"--{name} is ignored: --platform_config_file sets the TensorFlow session, batching, "
        "tag and warmup options (as in TF Serving)"
        for name in OVERRIDDEN_FLAGS
        if getattr(options, name) != getattr(defaults, name)
    ]


def _parse(text: str, message: Any, source: str, pool: Any) -> None:
    """``text_format.Parse`` that expands ``Any`` from ``pool``; errors as ``ConfigError``."""
    try:
        text_format.Parse(text, message, descriptor_pool=pool)
    except text_format.ParseError as error:
        detail = _LOCATION_PREFIX.sub("", str(error))
        unknown = _UNKNOWN_FIELD.search(detail)
        line, column = error.GetLine(), error.GetColumn()
        field = unknown.group(1) if unknown else None
        unknown_type = _UNKNOWN_TYPE.search(detail)
        if unknown_type is not None:
            name = unknown_type.group(1)
            detail = (
                f"unknown type {name!r} in source_adapter_config (expected "
                "tensorflow.serving.SavedModelBundleSourceAdapterConfig)"
            )
            line, column = _line_of(text, re.escape(name)), None
            field = "source_adapter_config"
        raise ConfigError(source, detail, line=line, column=column, field=field) from error


def _line_of(text: str, pattern: str) -> int | None:
    found = re.compile(pattern)
    for number, line in enumerate(text.splitlines(), start=1):
        if found.search(line.split("#", 1)[0]):
            return number
    return None


class _Mapper:
    def __init__(self, source: str, locator: TextLocator) -> None:
        self._source = source
        self._locator = locator

    def convert(self, bundle: Any) -> PlatformSettings:
        for field, _ in bundle.ListFields():
            if field.name not in _MAPPED_FIELDS:
                raise self._refuse(field.name)
        for field, _ in bundle.model_warmup_options.ListFields():
            if field.name not in _MAPPED_WARMUP_FIELDS:
                raise self._refuse(f"model_warmup_options.{field.name}")
        batching = self._batching(bundle)
        warnings = []
        if bundle.enable_per_model_batching_params and batching is None:
            warnings.append(
                f"{self._source}: enable_per_model_batching_params has no effect without "
                "batching_parameters (as in TF Serving)"
            )
        return PlatformSettings(
            source=self._source,
            session_config=self._session_config(bundle.session_config),
            batching=batching,
            per_model_batching=bool(bundle.enable_per_model_batching_params)
            and batching is not None,
            saved_model_tags=tuple(bundle.saved_model_tags) or DEFAULT_TAGS,
            enable_model_warmup=bool(bundle.enable_model_warmup),
            num_request_iterations_for_warmup=self._warmup_iterations(bundle.model_warmup_options),
            warnings=tuple(warnings),
        )

    def _session_config(self, proto: Any) -> bytes:
        refuse_unusable(proto, self._source, self._locator, prefix="session_config.")
        # Deterministic, so that equal configs give equal bytes.
        serialized: bytes = proto.SerializeToString(deterministic=True)
        return serialized

    def _batching(self, bundle: Any) -> BatchingSettings | None:
        if not bundle.HasField("batching_parameters"):
            return None
        # The converter behind --batching_parameters_file, so that the checks and defaults
        # are the same; its errors find their line in this file's text.
        return batching_parameters_from_proto(
            bundle.batching_parameters, self._source, self._locator
        )

    def _warmup_iterations(self, warmup: Any) -> int:
        if not warmup.HasField("num_request_iterations"):
            return 1
        value = int(warmup.num_request_iterations.value)
        if value < 1:
            raise ConfigError(
                self._source,
                f"must be at least 1, got {value}",
                line=self._locator.field_line("num_request_iterations"),
                field="model_warmup_options.num_request_iterations",
            )
        return value

    def _refuse(self, path: str) -> ConfigError:
        reason = _REFUSAL_REASONS.get(path, "this server has no such feature")
        return ConfigError(
            self._source,
            f"not supported: {reason}; remove it",
            line=self._locator.field_line(path.rsplit(".", 1)[-1]),
            field=path,
        )
