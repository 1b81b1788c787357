"""How the suite is spread over processes (pytest-xdist, ``-n auto`` in ``pytest.ini``).

The suite is mostly waiting on servers that start in other processes, so on a 2-core
machine two pytest workers keep both cores busy where one left the second idle. Tests go
to workers by ``xdist_group`` (``--dist loadgroup``), one group being what must run in a
single process:
- a module's tests stay together, so its module-scoped servers start once;
- tests sharing a session-scoped resource that is costly or global stay together:
  the session's shared TF Serving servers (``shared_servers``), the exported digits
  model (``digits_model``), the reliability server, and everything under ``tests/deploy``
  (one Docker daemon, one image tag, one KServe virtualenv).
Without xdist (``-n 0``, or ``-p no:xdist``) the marks do nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_TESTS = Path(__file__).parent
_SHARED_FIXTURES = ("shared_servers", "digits_model")
"""Session fixtures whose users must share one process (the first one used names the group)."""
_SHARED_FOLDERS = ("deploy", "reliability")
"""Folders whose tests share session fixtures of their own conftest."""


def _group(item: pytest.Item) -> str:
    relative = item.path.relative_to(_TESTS)
    if relative.parts[0] in _SHARED_FOLDERS:
        return relative.parts[0]
    for fixture in _SHARED_FIXTURES:
        if fixture in getattr(item, "fixturenames", ()):
            return fixture
    return relative.as_posix()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
