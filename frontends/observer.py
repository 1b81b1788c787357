"""The hook both frontends call once per request, for metrics (see ``app.metrics``)."""

from __future__ import annotations

from typing import Protocol

from protocol.status import Code


class RequestObserver(Protocol):
    """Counts and times requests."""

    def observe(
        self, *, model_name: str, api: str, entrypoint: str, code: Code, seconds: float
    ) -> None: ...
