"""The documentation stays true to the tree: the flags page is generated, links resolve.

- ``docs/flags.md`` is exactly what ``config.flags_page`` renders from the flag
  declarations, so editing a flag without regenerating the page fails here.
- Every flag the server's own parser (``config.flags.build_parser``, the one
  ``parse_flags`` uses) accepts is on that page, checked from the parser's actions rather
  than from the generator.
- Every relative link and image in ``README.md`` and ``docs/*.md`` names a file that
  exists, and a ``#anchor`` names a heading of the target page.

Nothing here imports TensorFlow; the files are read as text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.flags import build_parser
from config.flags_page import REGENERATE_COMMAND, render_flags_page

ROOT = Path(__file__).resolve().parents[2]
FLAGS_PAGE = ROOT / "docs" / "flags.md"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def test_flags_page_is_the_generators_output() -> None:
    assert FLAGS_PAGE.read_text(encoding="utf-8") == render_flags_page(), (
        f"docs/flags.md is out of date; regenerate it with `{REGENERATE_COMMAND}`"
    )


def test_every_flag_the_parser_accepts_is_on_the_flags_page() -> None:
    page = FLAGS_PAGE.read_text(encoding="utf-8")
    spellings = [
        spelling
        for action in build_parser()._actions  # argparse keeps no public list of actions
        for spelling in action.option_strings
        if spelling.startswith("--") and spelling != "--help"
    ]
    assert len(spellings) > 50, "the parser's flags were not enumerated"
    missing = [spelling for spelling in spellings if f"`{spelling}`" not in page]
    assert not missing, f"flags missing from docs/flags.md: {missing}"


def _links(page: Path) -> list[str]:
    text = _INLINE_CODE.sub("", _FENCE.sub("", page.read_text(encoding="utf-8")))
    return [
        target
        for target in _LINK.findall(text)
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces as hyphens."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    anchors: set[str] = set()
    for heading in _HEADING.findall(text):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        unique, n = slug, 0
        while unique in anchors:
            n += 1
            unique = f"{slug}-{n}"
        anchors.add(unique)
    return anchors


def test_the_link_checker_sees_links_and_headings() -> None:
    readme_links = _links(ROOT / "README.md")
    assert any(link.startswith("docs/") for link in readme_links), readme_links
    assert "flags" in _anchors(FLAGS_PAGE)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _links(page):
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target} (no file {resolved.relative_to(ROOT)})")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"
