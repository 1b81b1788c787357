"""Credential files for authentication, read and checked before TensorFlow is imported.

``--auth_basic_users_file``: one user per line, ``user:hash``, where ``hash`` is

- bcrypt, ``$2b$`` / ``$2a$`` / ``$2y$`` (``htpasswd -nbB user password`` writes this,
  or ``python -c 'import bcrypt; print(bcrypt.hashpw(b"pw", bcrypt.gensalt()).decode())'``);
- or ``sha256:`` and 64 hex digits of SHA-256 of the password (for systems without
  bcrypt; a bare hash is weaker against a stolen file, so prefer bcrypt).

``--auth_bearer_tokens_file``: one token per line, at least 16 characters of
``[A-Za-z0-9._~+/=-]`` (the RFC 6750 token alphabet).

In both files blank lines and lines starting with ``#`` are skipped, and surrounding
whitespace is removed. A malformed line is a ``ConfigError`` naming the file and line,
never the secret itself. Passwords never appear on the command line (where ``ps`` shows
them), and ``AuthSettings`` keeps its secrets out of ``repr``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping

from config.errors import ConfigError
from config.textproto import read_config_file

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
SHA256_PREFIX = "sha256:"
MIN_TOKEN_CHARS = 16
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")
_BCRYPT = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuthSettings:
    """Who may call the server; ``enabled`` is false when neither file is given."""

    basic_users: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    """user -> password hash (bcrypt or ``sha256:<hex>``)."""
    bearer_tokens: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    protect_health: bool = False
    open_metrics: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.basic_users or self.bearer_tokens)


def _lines(path: os.PathLike[str]) -> list[tuple[int, str]]:
    lines = []
    for number, raw in enumerate(read_config_file(path).splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append((number, line))
    return lines


def load_basic_users(path: os.PathLike[str]) -> dict[str, str]:
    """``user:hash`` lines; ``ConfigError`` (file, line) for a malformed one or an empty file."""
    users: dict[str, str] = {}
    for number, line in _lines(path):
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise ConfigError(path, "expected 'user:hash'", line=number)
        if user in users:
            raise ConfigError(path, f"user {user!r} is listed twice", line=number)
        if hashed.startswith(BCRYPT_PREFIXES):
            if not _BCRYPT.fullmatch(hashed):
                raise ConfigError(path, f"user {user!r}: malformed bcrypt hash", line=number)
        elif hashed.startswith(SHA256_PREFIX):
            if not _SHA256_HEX.fullmatch(hashed.removeprefix(SHA256_PREFIX)):
                raise ConfigError(path, f"user {user!r}: sha256: needs 64 hex digits", line=number)
        else:
            raise ConfigError(
                path,
                f"user {user!r}: the hash must be bcrypt ($2b$...) or sha256:<hex>",
                line=number,
            )
        users[user] = hashed
    if not users:
        raise ConfigError(path, "lists no users")
    return users


def load_bearer_tokens(path: os.PathLike[str]) -> tuple[str, ...]:
    """One token per line; ``ConfigError`` (file, line) for a short or malformed one."""
    tokens: list[str] = []
    for number, line in _lines(path):
        if not _TOKEN.fullmatch(line):
            raise ConfigError(path, "a token may only hold A-Z a-z 0-9 . _ ~ + / = -", line=number)
        if len(line) < MIN_TOKEN_CHARS:
            raise ConfigError(
                path, f"a token needs at least {MIN_TOKEN_CHARS} characters", line=number
            )
        tokens.append(line)
    if not tokens:
        raise ConfigError(path, "lists no tokens")
    return tuple(tokens)


def load_auth_settings(
    basic_users_file: os.PathLike[str] | None,
    bearer_tokens_file: os.PathLike[str] | None,
    *,
    protect_health: bool,
    open_metrics: bool,
) -> AuthSettings:
    """Both files (when given) and the two switches."""
    return AuthSettings(
        basic_users=load_basic_users(basic_users_file) if basic_users_file is not None else {},
        bearer_tokens=load_bearer_tokens(bearer_tokens_file)
        if bearer_tokens_file is not None
        else (),
        protect_health=protect_health,
        open_metrics=open_metrics,
    )
