"""``config.auth_config``: credential files are checked, errors name file and line, never the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.auth_config import AuthSettings, load_basic_users, load_bearer_tokens
from config.errors import ConfigError

BCRYPT = "$2b$04$" + "a" * 53
SHA = "sha256:" + "0f" * 32


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "creds"
    path.write_text(text)
    return path


def test_users_file_accepts_bcrypt_and_sha256_and_skips_comments(tmp_path: Path) -> None:
    users = load_basic_users(write(tmp_path, f"# comment\n\nalice:{BCRYPT}\n  bob:{SHA}  \n"))
    assert users == {"alice": BCRYPT, "bob": SHA}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice\n", "expected 'user:hash'"),
        ("alice:plaintext-password\n", "must be bcrypt"),
        ("alice:sha256:abc\n", "64 hex digits"),
        (f"alice:{BCRYPT}\nalice:{SHA}\n", "listed twice"),
        ("# nobody\n", "lists no users"),
    ],
)
def test_a_bad_users_file_names_the_line_and_hides_the_secret(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_basic_users(write(tmp_path, text))
    assert message in str(error.value)
    assert "plaintext-password" not in str(error.value)


def test_tokens_file_needs_long_tokens_of_the_token_alphabet(tmp_path: Path) -> None:
    assert load_bearer_tokens(write(tmp_path, "# t\nabcdefghijklmnop\n")) == ("abcdefghijklmnop",)
    with pytest.raises(ConfigError, match=r"creds:1: a token needs at least 16"):
        load_bearer_tokens(write(tmp_path, "short\n"))
    with pytest.raises(ConfigError, match=r"creds:2: a token may only hold"):
        load_bearer_tokens(write(tmp_path, "abcdefghijklmnop\nwith spaces in it ok\n"))


def test_settings_keep_secrets_out_of_repr() -> None:
    settings = AuthSettings(basic_users={"alice": BCRYPT}, bearer_tokens=("abcdefghijklmnopq",))
    assert settings.enabled
    assert BCRYPT not in repr(settings) and "abcdefghijklmnopq" not in repr(settings)
