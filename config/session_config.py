"""TensorFlow session options: ``tensorflow.ConfigProto`` text, parsed and checked without TensorFlow.

A session config comes from ``--tensorflow_session_config_file`` or a platform config's
``session_config``, in the text format of TensorFlow's ``tensorflow.ConfigProto``::

    intra_op_parallelism_threads: 4
    gpu_options { allow_growth: true }

It is parsed into ``config.protos.ConfigProto``, the message built from our committed
descriptor set, so TensorFlow is never imported here (the TF edge,
``servables.tensorflow.session_options``, turns the serialized bytes into TensorFlow's
class). A syntax error or unknown field is a ``ConfigError`` with file, line and field.

What TensorFlow 2.21's local ``DirectSession`` does with the fields was checked by
experiment, not assumed. The checks that need no TensorFlow live here:

- ``refuse_unusable``: ``ConfigError`` for a field that would make every model load
  fail: ``experimental.use_tfrt`` (no session factory accepts it in-process) and
  ``experimental.session_metadata`` (TensorFlow refuses a second session with the same
  name and version, and every version here shares one config; TF Serving fills it per
  model itself).
- ``distributed_only_warnings``: one warning per set field that only a distributed
  (``grpc://``) session reads (``cluster_def``, ``rpc_options``, ...,
  ``experimental.tfrt_use_ifrt``, ``experimental.enable_multi_host``), since every
  session here is in-process.

The warnings that depend on TensorFlow's state in this process (no GPU visible, eager
runtime already started) are the TF edge's.
"""

from __future__ import annotations

import os
from typing import Any

from google.protobuf.message import Message

from config.errors import ConfigError
from config.protos import ConfigProto
from config.textproto import TextLocator, parse_text_proto, read_config_file

DISTRIBUTED_ONLY = (
    "it configures distributed sessions, and every model here runs in an in-process session"
)

# ConfigProto fields (dotted paths) that only a distributed (grpc://) session reads.
_DISTRIBUTED_FIELDS = (
    "cluster_def",
    "rpc_options",
    "isolate_session_state",
    "share_cluster_devices_in_session",
    "experimental.collective_group_leader",
    "experimental.share_session_state_in_clusterspec_propagation",
    "experimental.share_cluster_devices_in_session",
    "experimental.coordination_config",
    "experimental.enable_multi_host",
    "experimental.tfrt_use_ifrt",
)
# Fields that would make every model load fail, with the reason.
_REFUSED_FIELDS = {
    "experimental.use_tfrt": "models run in TensorFlow's in-process DirectSession, and no "
    "session factory accepts use_tfrt there (every load would fail)",
    "experimental.session_metadata": "every model version shares this config, and TensorFlow "
    "refuses a second session with the same name and version (TF Serving fills it per "
    "model itself)",
}


def load_session_config(path: str | os.PathLike[str]) -> Message:
    """Read a ``ConfigProto`` text file, refusing fields that would fail every load."""
    return session_config_from_text(read_config_file(path), os.fspath(path))


def session_config_from_text(text: str, source: str) -> Message:
    """Parse ``ConfigProto`` text and ``refuse_unusable`` it; errors name ``source``."""
    config = parse_text_proto(text, ConfigProto(), source)
    refuse_unusable(config, source, TextLocator(text))
    return config


def refuse_unusable(config: Any, source: str, locator: TextLocator, prefix: str = "") -> None:
    """``ConfigError`` for a field that would make every load fail (see module docstring).

    ``config`` is a ``ConfigProto`` of any pool; ``prefix`` is prepended to field names
    in the error (``session_config.`` inside a platform config).
    """
    for path, reason in _REFUSED_FIELDS.items():
        if is_set(config, path):
            leaf = path.rsplit(".", 1)[-1]
            raise ConfigError(
                source,
                f"not supported: {reason}",
                line=locator.field_line(leaf),
                field=prefix + path,
            )


def distributed_only_warnings(config: Any) -> list[str]:
    """A warning for each set field that only a distributed session reads, in a fixed order."""
    return [
        f"{path} has no effect: {DISTRIBUTED_ONLY}"
        for path in _DISTRIBUTED_FIELDS
        if is_set(config, path)
    ]


def is_set(message: Any, path: str) -> bool:
    """Whether the dotted field ``path`` is set (a non-default scalar, non-empty message)."""
    *parents, leaf = path.split(".")
    for name in parents:
        if not message.HasField(name):
            return False
        message = getattr(message, name)
    return any(field.name == leaf for field, _ in message.ListFields())


def set_fields(message: Any, prefix: str) -> list[str]:
    """Dotted names of the set leaf fields of ``message`` (one level into sub-messages)."""
    names: list[str] = []
    for field, value in message.ListFields():
        if field.message_type is not None and not field.is_repeated:
            inner = [f"{prefix}{field.name}.{sub.name}" for sub, _ in value.ListFields()]
            names += inner or [prefix + field.name]
        else:
            names.append(prefix + field.name)
    return names
