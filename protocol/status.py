"""Protocol-neutral status codes and the one exception type that carries them.

Every failure that a client can see is a ``ServingError`` with a ``Code``. Each frontend
maps the code exactly once: gRPC to its status code of the same name, REST to the HTTP
status TF Serving uses (NOT_FOUND 404, INVALID_ARGUMENT and FAILED_PRECONDITION 400,
UNAVAILABLE 503, RESOURCE_EXHAUSTED 429, everything else 500). Messages name what is
wrong so that a client can fix its request without reading server logs.
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


def http_status(code: Code) -> int:
    """The HTTP status TF Serving's REST API answers for ``code`` (500 when unlisted)."""
    return HTTP_STATUS_FOR_CODE.get(code, 500)


class ServingError(Exception):
    """A failure with a status code, raised anywhere and mapped once by a frontend."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ServingError({self.code.name}, {self.message!r})"


def invalid_argument(message: str) -> ServingError:
    return ServingError(Code.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(Code.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(Code.FAILED_PRECONDITION, message)


def unavailable(message: str) -> ServingError:
    return ServingError(Code.UNAVAILABLE, message)


def internal(message: str) -> ServingError:
    return ServingError(Code.INTERNAL, message)


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
