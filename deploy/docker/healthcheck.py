#!/usr/bin/env python3
"""The image's HEALTHCHECK: exit 0 when the server says it is ready, 1 otherwise.

Reads the bound ports from the port file that the entry point asks the server to write
(``$AIOSERVING_PORT_FILE``, by default ``/tmp/aioserving/ports.json``; present only once
both ports listen), then asks the REST port for ``GET /v2/health/ready``. With REST
disabled it only checks that the gRPC port accepts connections. Standard library only: it runs
as its own short-lived process every interval.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

PORT_FILE = Path(os.environ.get("AIOSERVING_PORT_FILE", "/tmp/aioserving/ports.json"))
READY_PATH = "/v2/health/ready"
TIMEOUT_SECONDS = 2.0


def check(port_file: Path = PORT_FILE, host: str = "127.0.0.1") -> str | None:
    """``None`` when healthy, otherwise the reason it is not."""
    try:
        ports = json.loads(port_file.read_text())
    except (OSError, ValueError) as error:
        return f"no port file yet ({error})"
    rest_port, grpc_port = ports.get("rest"), ports.get("grpc")
    if rest_port:
        url = f"http://{host}:{rest_port}{READY_PATH}"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
                return None if response.status == 200 else f"{url} answered {response.status}"
        except (OSError, urllib.error.URLError) as error:
            return f"{url}: {error}"
    if grpc_port:
        try:
            with socket.create_connection((host, grpc_port), timeout=TIMEOUT_SECONDS):
                return None
        except OSError as error:
            return f"gRPC port {grpc_port}: {error}"
    return "neither port is enabled"


def main() -> int:
    reason = check()
    if reason is not None:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
