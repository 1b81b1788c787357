"""Message classes for the config protos that the pip packages do not ship, without TensorFlow.

``tensorflow-serving-api`` includes ``model_server_config_pb2`` and ``platform_config_pb2``
(neither imports TensorFlow) but not the batching, monitoring, TLS or session bundle
messages. Their ``.proto`` files live beside this module, in TF Serving's package
(``tensorflow.serving``) with its field names and numbers, so that existing text files
parse unchanged.

At import this module reads ``descriptors.binpb``, a ``FileDescriptorSet`` committed
beside it, into a private ``DescriptorPool`` and builds the message classes from it with
the installed protobuf runtime. No subprocess runs and TensorFlow is not imported. The
set is produced by ``python -m config.protos.build`` (see ``config/protos/build.py``),
and a unit test fails when it is out of date with the ``.proto`` files.

The set also holds TensorFlow's ``tensorflow.ConfigProto`` and the files it imports, so
a session config (``--tensorflow_session_config_file``, a platform config's
``session_config``) parses here without TensorFlow: ``ConfigProto`` below is that
message, built from this private pool. It is not TensorFlow's class; the TF edge
(``servables.tensorflow.session_options``) converts through the wire format.

The pool is private because the default pool may hold TensorFlow's own
``tensorflow.*`` files once TensorFlow is imported, and two definitions of one name in
one pool conflict. ``POOL`` is exported so that ``text_format.Parse(...,
descriptor_pool=POOL)`` can expand a ``google.protobuf.Any`` written as
``[type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig]``.

A missing or unreadable descriptor set is a bug in the installation, not a user error,
and fails the import.
"""

from __future__ import annotations

import importlib.resources

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

DESCRIPTOR_SET_NAME = "descriptors.binpb"


def _load_pool() -> descriptor_pool.DescriptorPool:
    data = (importlib.resources.files(__name__) / DESCRIPTOR_SET_NAME).read_bytes()
    pool = descriptor_pool.DescriptorPool()
    for file_proto in descriptor_pb2.FileDescriptorSet.FromString(data).file:
        pool.Add(file_proto)  # --include_imports lists dependencies first
    return pool


POOL = _load_pool()


def _message_class(full_name: str) -> type[Message]:
    message_class: type[Message] = message_factory.GetMessageClass(
        POOL.FindMessageTypeByName(full_name)
    )
    return message_class


BatchingParameters = _message_class("tensorflow.serving.BatchingParameters")
MonitoringConfig = _message_class("tensorflow.serving.MonitoringConfig")
PrometheusConfig = _message_class("tensorflow.serving.PrometheusConfig")
SSLConfig = _message_class("tensorflow.serving.SSLConfig")
SessionBundleConfig = _message_class("tensorflow.serving.SessionBundleConfig")
SavedModelBundleSourceAdapterConfig = _message_class(
    "tensorflow.serving.SavedModelBundleSourceAdapterConfig"
)
ConfigProto = _message_class("tensorflow.ConfigProto")
"""TensorFlow's ``tensorflow.ConfigProto``, from this pool (not TensorFlow's class)."""

__all__ = [
    "POOL",
    "BatchingParameters",
    "ConfigProto",
    "MonitoringConfig",
    "PrometheusConfig",
    "SSLConfig",
    "SavedModelBundleSourceAdapterConfig",
    "SessionBundleConfig",
]
