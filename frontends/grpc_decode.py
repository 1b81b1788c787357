"""Undecodable gRPC requests answer INVALID_ARGUMENT naming the message type.

grpc.aio deserializes a request with the method's ``request_deserializer`` before any
handler runs, and answers a ``DecodeError`` there as UNKNOWN "Unexpected DecodeError",
which reads as a server fault. ``safe_deserializer(deserializer)`` is a deserializer that
never raises: bytes that are not a valid message become an ``Undecodable`` note carrying
"the request is not a valid <full message name> message: <protobuf's reason>", which the
method's handler (``frontends.grpc_methods``) answers INVALID_ARGUMENT before the
servicer sees it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError

Deserializer = Callable[[bytes], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Undecodable:
    """What a safe deserializer returns for bytes that are not a valid message."""

    message: str


def _message_name(deserializer: Deserializer) -> str:
    """``tensorflow.serving.PredictRequest`` for ``PredictRequest.FromString``."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "") or "request")


def safe_deserializer(deserializer: Deserializer) -> Deserializer:
    """``deserializer``, returning an ``Undecodable`` where it would raise (module doc)."""
    name = _message_name(deserializer)

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, RuntimeWarning, ValueError) as error:
            return Undecodable(f"the request is not a valid {name} message: {error}")

    return deserialize
