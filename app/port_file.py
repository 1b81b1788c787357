"""``--port_file``: the bound ports as JSON, for tests and tools that start us on port 0."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_port_file(path: Path, ports: dict[str, int | None]) -> None:
    """Atomically write ``{"grpc": P, "rest": P}`` (a disabled frontend's port is null)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(ports))
    os.replace(temporary, path)
