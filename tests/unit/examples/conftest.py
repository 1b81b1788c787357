"""Shared fixture: one export of the default digits versions per test session.

Training and saving take a few seconds, so every test that needs exported versions reads the
same folder; tests must treat it as read-only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The repository root holds the top-level packages (examples/, protocol/, ...), but pytest run
# as `.venv/bin/pytest` does not put it on sys.path and these test folders have no __init__.py.
# Redundant (and harmless) once setup.cfg sets `pythonpath = .` for pytest.
_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from examples.export_digits import ExportedVersion, export_digits_model  # noqa: E402 - after the sys.path fix above


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[int, ExportedVersion]:
    """The default versions (1 after 100 iterations, 2 after 2000), keyed by version."""
    model_dir: Path = tmp_path_factory.mktemp("digits_model")
    return {item.version: item for item in export_digits_model(model_dir)}
