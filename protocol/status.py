"""Protocol-neutral status codes and the one exception type that carries them.

Every failure that a client can see is a ``ServingError`` with a ``Code`` and a
``Reason``. Each frontend maps the code exactly once: gRPC to its status code of the same name, REST to the HTTP
status TF Serving uses (NOT_FOUND 404, INVALID_ARGUMENT and FAILED_PRECONDITION 400,
UNAVAILABLE 503, RESOURCE_EXHAUSTED 429, everything else 500). Messages name what is
wrong so that a client can fix its request without reading server logs.

The ``Reason`` says which failure it is, set where the error is raised, so that an API
whose wording differs from TF Serving's (REST's unknown signature, V2's unknown model,
label or version) words its own message from the reason, never by matching the text.
Most errors keep the default ``Reason.GENERIC``: their message is the same everywhere.
"""

from __future__ import annotations

import enum


class Code(enum.Enum):
    """The canonical status codes (TF's ``error::Code`` numbers, gRPC's names)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


HTTP_STATUS_FOR_CODE: dict[Code, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.INVALID_ARGUMENT: 400,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.UNIMPLEMENTED: 501,
    Code.UNAVAILABLE: 503,
    Code.DEADLINE_EXCEEDED: 504,
}


class Reason(enum.Enum):
    """Which failure a ``ServingError`` reports, where an API words it its own way."""

    GENERIC = enum.auto()
    """Any failure whose message every API sends as it is."""
    UNKNOWN_MODEL = enum.auto()
    """No version of the model is known (resolution or GetModelStatus)."""
    NO_AVAILABLE_VERSION = enum.auto()
    """The model is known but has no AVAILABLE version to answer "the latest"."""
    UNKNOWN_VERSION = enum.auto()
    """The model has no such version (in no state)."""
    VERSION_NOT_READY = enum.auto()
    """The version exists but is not AVAILABLE (loading, unloading, failed)."""
    UNKNOWN_LABEL = enum.auto()
    """The model has no such version label."""
    UNKNOWN_SIGNATURE = enum.auto()
    """The servable has no signature of the requested name."""


def http_status(code: Code) -> int:
    """The HTTP status TF Serving's REST API answers for ``code`` (500 when unlisted)."""
    return HTTP_STATUS_FOR_CODE.get(code, 500)


class ServingError(Exception):
    """A failure with a status code, raised anywhere and mapped once by a frontend."""

    def __init__(self, code: Code, message: str, reason: Reason = Reason.GENERIC) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason

    def __repr__(self) -> str:
        return f"ServingError({self.code.name}, {self.message!r})"


def invalid_argument(message: str, reason: Reason = Reason.GENERIC) -> ServingError:
    return ServingError(Code.INVALID_ARGUMENT, message, reason)


def not_found(message: str, reason: Reason = Reason.GENERIC) -> ServingError:
    return ServingError(Code.NOT_FOUND, message, reason)


def failed_precondition(message: str, reason: Reason = Reason.GENERIC) -> ServingError:
    return ServingError(Code.FAILED_PRECONDITION, message, reason)


def unavailable(message: str, reason: Reason = Reason.GENERIC) -> ServingError:
    return ServingError(Code.UNAVAILABLE, message, reason)


def internal(message: str, reason: Reason = Reason.GENERIC) -> ServingError:
    return ServingError(Code.INTERNAL, message, reason)


MAX_MESSAGE_CHARS = 4096
"""Longest error message sent to a client: gRPC clients refuse trailers over 16 KiB by
default, and a message echoing a huge client input helps nobody."""


def safe_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` made fit for any wire: lone surrogates replaced, truncated with a note.

    Error paths call this so that they can never fail themselves (a lone UTF-16 surrogate
    echoed from a client's JSON cannot be UTF-8 encoded).
    """
    text = message.encode("utf-8", "replace").decode("utf-8")
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [truncated: {len(text) - limit} more characters]"
