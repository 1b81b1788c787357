"""Text-format protobuf files in, messages out, and every failure as a ``ConfigError``.

TF Serving's configuration files (``models.config``, batching parameters, monitoring,
TLS, the session ``ConfigProto``) are protobuf text format. This module is the single
place that reads such a file and parses it:

- ``read_config_file`` reads UTF-8 text; a missing or unreadable file is a
  ``ConfigError`` naming the path.
- ``parse_text_proto`` parses into a fresh message. A syntax error or an unknown field
  name is a ``ConfigError`` carrying the parser's line and column, and, for an unknown
  field, that field's name; it is first logged as libprotobuf logs it for TF Serving
  ("Error parsing text-format tensorflow.serving.ModelServerConfig: 3:5: ..."). Unknown fields are never ignored: a misspelt option silently
  left at its default is worse than refusing to start.
- ``TextLocator`` finds the line of a field after parsing succeeded, so that validation
  errors (a field with a bad value) can point at a line too. It is best effort: it
  returns ``None`` rather than a wrong guess when the text does not look as expected.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TypeVar

from google.protobuf import text_format
from google.protobuf.message import Message

from config.errors import ConfigError

M = TypeVar("M", bound=Message)
log = logging.getLogger(__name__)

_UNKNOWN_FIELD = re.compile(r'has no field named "([^"]+)"')
_LOCATION_PREFIX = re.compile(r"^\d+:\d+ : ")
# Strings and comments, so that a field name inside either is never mistaken for a key.
_STRING_OR_COMMENT = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\#.*""")


def read_config_file(path: str | os.PathLike[str]) -> str:
    """The file's text; ``ConfigError`` if it cannot be read or is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(path, f"cannot read file: {reason}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(path, f"not UTF-8 text: {error.reason}") from error


def parse_text_proto(text: str, message: M, source: str) -> M:
    """Parse ``text`` into ``message`` (which must be empty) and return it."""
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        unknown = _UNKNOWN_FIELD.search(str(error))
        # libprotobuf's own line, which TF Serving's users (and their log alerts) know.
        log.error(
            "Error parsing text-format %s: %s:%s: %s",
            message.DESCRIPTOR.full_name,
            error.GetLine(),
            error.GetColumn(),
            _LOCATION_PREFIX.sub("", str(error)),
        )
        raise ConfigError(
            source,
            _LOCATION_PREFIX.sub("", str(error)),
            line=error.GetLine(),
            column=error.GetColumn(),
            field=unknown.group(1) if unknown else None,
        ) from error
    return message


class TextLocator:
    """Line numbers of fields in text-format source, for pointing errors at a line."""

    def __init__(self, text: str) -> None:
        self._lines = [_STRING_OR_COMMENT.sub('""', line) for line in text.splitlines()]

    def field_line(self, field: str, start: int = 1, end: int | None = None) -> int | None:
        """The first line in ``[start, end)`` (1-based) where ``field`` is used as a key."""
        key = re.compile(rf"(?<![\w.]){re.escape(field)}\s*[:{{<]")
        stop = len(self._lines) + 1 if end is None else end
        for number in range(start, stop):
            if key.search(self._lines[number - 1]):
                return number
        return None

    def block_starts(self, field: str) -> list[int]:
        """The lines where each occurrence of the message field ``field`` opens."""
        key = re.compile(rf"(?<![\w.]){re.escape(field)}\s*:?\s*[{{<]")
        return [n for n, line in enumerate(self._lines, start=1) if key.search(line)]
