"""One Triton ``config.pbtxt``: parsed with Triton's own ``model_config`` proto, made plain.

Input is the text of a Triton model configuration (``inference.ModelConfig``, the proto
that tritonclient ships as ``tritonclient.grpc.model_config_pb2``); it is parsed with
``google.protobuf.text_format``, never by hand. Output is a frozen ``TritonModelConfig``.

Contract:

- ``platform`` is ours: Triton's ``onnxruntime_onnx`` platform or ``onnxruntime`` backend
  is ``onnx``; ``tensorflow_savedmodel`` is ``tensorflow``; ``pytorch_libtorch`` or the
  ``pytorch`` backend is ``pytorch``; the ``python`` backend is ``python``. ``None`` when
  the file names neither a platform nor a backend (the model repository then asks the
  version folder's artifact). Any other platform or backend raises ``ConfigError``.
- ``inputs`` and ``outputs`` keep Triton's names, ``TYPE_*`` data types and dims (without
  the batch dimension when ``max_batch_size`` > 0; -1 is a free dimension). ``TYPE_STRING``
  is Triton's BYTES.
- ``batching`` is the server's ``BatchingSettings`` for a model with ``max_batch_size``
  > 0 and a ``dynamic_batching`` block: the largest preferred batch size (else
  ``max_batch_size``) bounds a batch, and ``max_queue_delay_microseconds`` is the batch
  timeout. ``None`` otherwise: the server-wide batching settings (if any) apply.
- ``version_policy`` is Triton's (``latest`` 1 when unset), as a ``config.model_config``
  policy, so a repository model serves the versions Triton would.
- ``proto`` is the parsed message and ``json`` Triton's JSON rendering of it (what a
  Python model's ``initialize(args)["model_config"]`` and ``GET /v2/models/<m>/config``
  carry).

``parse_triton_config_json`` reads the same configuration from Triton's JSON shape.

Errors: unparsable text, an unknown platform, a negative ``max_batch_size`` or a dim below
-1 raise ``ConfigError`` naming the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any, Final

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from config.batching_config import BatchingSettings
from config.errors import ConfigError
from config.model_config import All, Latest, Specific, VersionPolicy

CONFIG_FILE: Final = "config.pbtxt"

# Triton's platform or backend name -> our model_platform.
TRITON_PLATFORMS: Final[Mapping[str, str]] = {
    "onnxruntime_onnx": "onnx",
    "onnxruntime": "onnx",
    "tensorflow_savedmodel": "tensorflow",
    "pytorch_libtorch": "pytorch",
    "pytorch": "pytorch",
    "python": "python",
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TritonTensor:
    """One input or output as ``config.pbtxt`` declares it."""

    name: str
    data_type: str  # Triton's enum name, e.g. "TYPE_FP32"
    dims: tuple[int, ...]
    optional: bool = False


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TritonModelConfig:
    """A parsed ``config.pbtxt`` (see the module docstring)."""

    name: str
    platform: str | None
    max_batch_size: int
    inputs: tuple[TritonTensor, ...]
    outputs: tuple[TritonTensor, ...]
    batching: BatchingSettings | None
    version_policy: VersionPolicy
    parameters: Mapping[str, str]
    proto: Any  # model_config_pb2.ModelConfig (generated code carries no type hints)

    @property
    def json(self) -> str:
        """Triton's JSON shape of the configuration (proto field names, enums as names)."""
        return json.dumps(model_config_json(self.proto))


def model_config_json(proto: Any) -> dict[str, Any]:
    """``proto`` as Triton renders ``model_config`` in JSON (dims and sizes as numbers)."""
    rendered: dict[str, Any] = json_format.MessageToDict(
        proto, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    # protobuf renders int64 as strings; Triton's JSON carries numbers.
    for key in ("input", "output"):
        for tensor in rendered.get(key, []):
            tensor["dims"] = [int(d) for d in tensor.get("dims", [])]
    return rendered


def parse_triton_config(text: str, source: str) -> Any:
    """``text`` parsed into ``inference.ModelConfig``; ``ConfigError`` naming ``source``."""
    proto = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as error:
        raise ConfigError(source, str(error), line=error.GetLine() or None) from error
    return proto


def parse_triton_config_json(text: str, source: str) -> TritonModelConfig:
    """A configuration in Triton's JSON shape (a repository ``load`` request's ``config``),
    parsed with ``json_format.ParseDict``; ``ConfigError`` naming ``source``."""
    try:
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ConfigError(source, "a model configuration must be a JSON object")
        proto = json_format.ParseDict(document, model_config_pb2.ModelConfig())
    except (ValueError, json_format.ParseError) as error:
        raise ConfigError(source, str(error)) from error
    return triton_config_from_proto(proto, source)


def read_triton_config(path: str | os.PathLike[str]) -> TritonModelConfig:
    """Read, parse and make plain one ``config.pbtxt`` file."""
    source = os.fspath(path)
    with open(source, encoding="utf-8") as file:
        text = file.read()
    return triton_config_from_proto(parse_triton_config(text, source), source)


def triton_config_from_proto(proto: Any, source: str) -> TritonModelConfig:
    """Validate ``proto`` (an ``inference.ModelConfig``) into a ``TritonModelConfig``."""
    platform = _platform(proto, source)
    if proto.max_batch_size < 0:
        raise ConfigError(source, f"max_batch_size must be >= 0, got {proto.max_batch_size}")
    inputs = tuple(_tensor(t, source, "input") for t in proto.input)
    outputs = tuple(_tensor(t, source, "output") for t in proto.output)
    return TritonModelConfig(
        name=proto.name,
        platform=platform,
        max_batch_size=proto.max_batch_size,
        inputs=inputs,
        outputs=outputs,
        batching=_batching(proto),
        version_policy=_version_policy(proto),
        parameters={key: value.string_value for key, value in proto.parameters.items()},
        proto=proto,
    )


def _platform(proto: Any, source: str) -> str | None:
    named = proto.platform or proto.backend
    if not named:
        return None
    platform = TRITON_PLATFORMS.get(named)
    if platform is None:
        supported = ", ".join(sorted(TRITON_PLATFORMS))
        field = "platform" if proto.platform else "backend"
        raise ConfigError(
            source, f"unsupported {field} '{named}' (supported: {supported})", field=field
        )
    return platform


def _tensor(tensor: Any, source: str, kind: str) -> TritonTensor:
    if not tensor.name:
        raise ConfigError(source, f"an {kind} has no name", field=kind)
    dims = tuple(int(d) for d in tensor.dims)
    if any(d < -1 for d in dims):
        raise ConfigError(source, f"{kind} '{tensor.name}': dims {list(dims)} below -1")
    type_name = model_config_pb2.DataType.Name(tensor.data_type)
    optional = bool(getattr(tensor, "optional", False))
    return TritonTensor(name=tensor.name, data_type=type_name, dims=dims, optional=optional)


def _batching(proto: Any) -> BatchingSettings | None:
    if proto.max_batch_size <= 0 or not proto.HasField("dynamic_batching"):
        return None
    dynamic = proto.dynamic_batching
    preferred = sorted(size for size in dynamic.preferred_batch_size if size > 0)
    limit = min(max(preferred), proto.max_batch_size) if preferred else proto.max_batch_size
    return BatchingSettings(
        max_batch_size=limit, batch_timeout_micros=int(dynamic.max_queue_delay_microseconds)
    )


def _version_policy(proto: Any) -> VersionPolicy:
    choice = proto.version_policy.WhichOneof("policy_choice")
    if choice == "all":
        return All()
    if choice == "specific":
        return Specific(versions=tuple(sorted(set(proto.version_policy.specific.versions))))
    if choice == "latest":
        return Latest(num_versions=max(1, proto.version_policy.latest.num_versions))
    return Latest()
