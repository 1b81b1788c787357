"""The flags reference page: every command-line flag rendered as a markdown table.

``render_flags_page()`` reads the flag declarations themselves (each ``ServerOptions``
field's ``Flag`` annotation in ``config.flags``, and ``IGNORED_TF_SERVING_FLAGS``) and
returns ``docs/flags.md``: one table per ``--help`` section, in the order the sections
are first declared, each row the flag (with its aliases), its default written as it is
typed on the command line, and its help text. The output depends only on the
declarations, so the same tree always renders the same page;
``tests/unit/test_docs.py`` compares the committed page with it, so the page cannot
drift from the code. Regenerate it with::

    python -m config.flags_page > docs/flags.md

Importing this module imports ``config.flags`` only (no TensorFlow, no protobuf).
"""

from __future__ import annotations

import enum

from config.flags import IGNORED, IGNORED_TF_SERVING_FLAGS, Flag, ServerOptions, flags

REGENERATE_COMMAND = "python -m config.flags_page > docs/flags.md"

_HEADER = f"""\
# Flags

<!-- Generated from config/flags.py by `{REGENERATE_COMMAND}`; do not edit. -->

Every flag `server.py` accepts, as `--help` lists them. Names, meanings and defaults follow
TF Serving's `tensorflow_model_server`; a help text marked "(aioserving)" is this
server's own flag. A flag is written `--name=value` or `--name value`; a boolean flag may
be given bare (`--enable_batching`) or as `=true` / `=false`. An unknown flag or a bad
value exits with status 2. The files these flags name are described in
[configuration](configuration.md).
"""


def render_flags_page() -> str:
    """The whole ``docs/flags.md`` text, ending in one newline."""
    defaults = ServerOptions()
    by_group: dict[str, list[tuple[str, Flag]]] = {}
    for name, spec in flags().items():
        by_group.setdefault(spec.group, []).append((name, spec))
    lines = [_HEADER]
    for group, members in by_group.items():
        lines += [f"## {_title(group)}", "", "| flag | default | meaning |", "|---|---|---|"]
        lines += [
            f"| {_flag_cell(name, spec)} | {_default_cell(getattr(defaults, name))} "
            f"| {_escape(spec.help)} |"
            for name, spec in members
        ]
        lines.append("")
    lines += [
        "## Other",
        "",
        "`--version` prints the server's and TensorFlow's versions and exits 0, as TF "
        "Serving's does.",
        "",
        f"## {_title(IGNORED)}",
        "",
        "Accepted with any value so that start-up scripts keep working; each one given "
        "is a warning at start-up.",
        "",
        ", ".join(f"`--{name}`" for name in IGNORED_TF_SERVING_FLAGS),
    ]
    return "\n".join(lines) + "\n"


def _title(group: str) -> str:
    return group[:1].upper() + group[1:]


def _flag_cell(name: str, spec: Flag) -> str:
    spellings = [f"`--{name}`", *(f"`{alias}`" for alias in spec.aliases)]
    return " ".join(spellings)


def _default_cell(default: object) -> str:
    """The default as it would be typed after ``--flag=``."""
    if default is None:
        return "unset"
    if isinstance(default, bool):
        shown = str(default).lower()
    elif isinstance(default, enum.Enum):
        shown = str(default.value)
    elif isinstance(default, tuple):
        shown = ",".join(_tuple_item(item) for item in default)
    else:
        shown = str(default)
    return f"`{shown}`" if shown else '`""`'


def _tuple_item(item: object) -> str:
    if isinstance(item, tuple):
        return "=".join(str(part) for part in item)
    return str(item)


def _escape(text: str) -> str:
    """Help text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


if __name__ == "__main__":
    print(render_flags_page(), end="")
