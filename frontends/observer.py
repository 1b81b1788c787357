"""The hook the call wrappers (``grpc_calls``, ``rest_calls``) report to: metrics and the access log.

``details``, when a frontend passes it, returns ``(version, peer)`` for the request: the
version or label it named (``""`` for the latest) and the client's address. It is a
callable so that working them out costs nothing unless an observer logs the request
(``app.access_log`` calls it only for the sampled ones; metrics never do).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from protocol.status import Code

Details = Callable[[], tuple[str, str]]

_REST_VERSION = re.compile(r"/(?:versions|labels)/([^/:]+)")


class RequestObserver(Protocol):
    """Counts, times and (optionally) logs requests."""

    def observe(
        self,
        *,
        model_name: str,
        api: str,
        entrypoint: str,
        code: Code,
        seconds: float,
        details: Details | None = None,
    ) -> None: ...


def rest_version(path: str) -> str:
    """The version or label a REST path names (TF Serving's and V2's), else ``""``."""
    match = _REST_VERSION.search(path)
    return match.group(1) if match else ""


def grpc_version(request: object) -> str:
    """The version or label a gRPC request names (``model_spec`` or V2 ``model_version``)."""
    spec = getattr(request, "model_spec", None)
    if spec is not None:
        if spec.HasField("version"):
            return str(spec.version.value)
        return str(spec.version_label)
    return str(getattr(request, "model_version", ""))
