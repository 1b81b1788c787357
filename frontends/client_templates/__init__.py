"""Generated clients: one template per language, filled with a server, a path and a body.

``render_client(language, ...)`` returns ``(filename, text)``. Every client posts the body
to ``server + path``, takes ``--server`` (else ``$SERVER``, else the address it was
generated for), sends ``Authorization: $AIOSERVING_AUTH`` when that variable is set, prints
the response and exits non-zero on an HTTP error. Values are embedded as each language's
string literals (a JSON string is a valid literal in Python, Go and JavaScript), so no
name or body can break out of them. An unknown language is INVALID_ARGUMENT.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Final

from protocol.status import invalid_argument

LANGUAGES: Final = {
    "python": ("python.py.tmpl", ".py"),
    "bash": ("bash.sh.tmpl", ".sh"),
    "golang": ("golang.go.tmpl", ".go"),
    "javascript": ("javascript.js.tmpl", ".js"),
}


def client_filename(model: str, language: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", model) or "model"
    return f"{safe}_client{LANGUAGES[language][1]}"


def render_client(
    *, language: str, server: str, path: str, body: str, model: str, signature: str
) -> tuple[str, str]:
    """The client file for ``language``: ``(filename, text)``."""
    if language not in LANGUAGES:
        raise invalid_argument(
            f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}"
        )
    template = resources.files(__package__).joinpath(LANGUAGES[language][0]).read_text()
    filename = client_filename(model, language)
    comment_safe = {
        k: re.sub(r"[^\w.:/@ -]", "_", v)
        for k, v in {"MODEL": model, "SIGNATURE": signature}.items()
    }
    replacements = {
        "@@SERVER_LITERAL@@": json.dumps(server),
        "@@PATH_LITERAL@@": json.dumps(path),
        "@@BODY_LITERAL@@": json.dumps(body),
        "@@SERVER@@": re.sub(r"[^\w.:/\[\]-]", "_", server),
        "@@PATH@@": re.sub(r"[^\w.:/%-]", "_", path),
        "@@BODY@@": body,
        "@@FILENAME@@": filename,
        "@@MODEL@@": comment_safe["MODEL"],
        "@@SIGNATURE@@": comment_safe["SIGNATURE"],
    }
    for placeholder, value in replacements.items():
        template = template.replace(placeholder, value)
    return filename, template
