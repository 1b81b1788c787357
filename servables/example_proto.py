"""``tf.Example`` decoded without TensorFlow: the message classes, built from their schema.

TensorFlow's own ``example_pb2`` lives in the ``tensorflow`` package, and importing any
module under ``tensorflow.`` runs ``tensorflow/__init__.py``, which imports all of
TensorFlow (about 3,600 modules and 3 to 5 s here, measured with TF 2.21). The platforms
that read feature rows from Examples (scikit-learn, XGBoost) must not pay that, so this
module declares the six messages of ``tensorflow/core/example/{example,feature}.proto``
(same names, field numbers and types, so the same wire format) in a descriptor pool of
its own, and lets protobuf build their classes. Being in a private pool, they never
clash with TensorFlow's classes when TensorFlow is imported too; a message of one kind
is not an instance of the other, so only serialized bytes cross between them.

``Example.FromString(data)`` parses as TensorFlow's class would (same C parser, ``upb``).
"""

from __future__ import annotations

from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_Field = descriptor_pb2.FieldDescriptorProto
_PACKAGE: Final = "tensorflow"


def _field(
    name: str, number: int, kind: Any, *, repeated: bool = False, message: str = ""
) -> descriptor_pb2.FieldDescriptorProto:
    field = descriptor_pb2.FieldDescriptorProto(
        name=name,
        number=number,
        type=kind,
        label=_Field.LABEL_REPEATED if repeated else _Field.LABEL_OPTIONAL,
    )
    if message:
        field.type_name = f".{_PACKAGE}.{message}"
    return field


def _schema() -> descriptor_pb2.FileDescriptorProto:
    """``feature.proto`` and ``example.proto`` (proto3: repeated numbers are packed)."""
    schema = descriptor_pb2.FileDescriptorProto(
        name="aioserving/servables/tf_example.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, kind in (
        ("BytesList", _Field.TYPE_BYTES),
        ("FloatList", _Field.TYPE_FLOAT),
        ("Int64List", _Field.TYPE_INT64),
    ):
        schema.message_type.add(name=name, field=[_field("value", 1, kind, repeated=True)])
    feature = schema.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (name, message) in enumerate(
        (("bytes_list", "BytesList"), ("float_list", "FloatList"), ("int64_list", "Int64List")),
        start=1,
    ):
        field = _field(name, number, _Field.TYPE_MESSAGE, message=message)
        field.oneof_index = 0
        feature.field.append(field)
    features = schema.message_type.add(name="Features")
    entry = features.nested_type.add(
        name="FeatureEntry",
        field=[
            _field("key", 1, _Field.TYPE_STRING),
            _field("value", 2, _Field.TYPE_MESSAGE, message="Feature"),
        ],
    )
    entry.options.map_entry = True
    features.field.append(
        _field("feature", 1, _Field.TYPE_MESSAGE, repeated=True, message="Features.FeatureEntry")
    )
    schema.message_type.add(
        name="Example", field=[_field("features", 1, _Field.TYPE_MESSAGE, message="Features")]
    )
    return schema


def _message_classes() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_schema())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in ("Example", "Features", "Feature", "BytesList", "FloatList", "Int64List")
    }


_CLASSES: Final = _message_classes()
Example: Final[Any] = _CLASSES["Example"]
"""``tensorflow.Example`` (``features.feature[name].float_list.value``, ...)."""
Feature: Final[Any] = _CLASSES["Feature"]
