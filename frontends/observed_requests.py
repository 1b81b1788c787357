"""The request observer that also carries the server's ``Observability`` to the call wrappers.

Every frontend hands its ``RequestObserver`` to its call wrapper (``frontends.grpc_calls``,
``frontends.rest_calls``). When the supervisor passes an ``ObservedRequests``, the
wrappers also open each call's tracing and request-logging scope through its
``observability`` (``dataplane.observing``); with any other observer they do neither.
So tracing, payload capture and shadows reach every transport, V2 included, without each
frontend taking one more argument. ``observe`` is passed through unchanged; a wrapper on
a hot path calls the wrapped observer directly (``observer_of``), saving the forwarding.
"""

from __future__ import annotations

from dataplane.observing import Observability
from frontends.observer import Details, RequestObserver
from protocol.status import Code


class ObservedRequests:
    """``observer``'s ``observe``, plus ``observability`` for the call wrappers."""

    __slots__ = ("observability", "observer")

    def __init__(self, observer: RequestObserver, observability: Observability) -> None:
        self.observer = observer
        self.observability = observability

    def observe(
        self,
        *,
        model_name: str,
        api: str,
        entrypoint: str,
        code: Code,
        seconds: float,
        details: Details | None = None,
    ) -> None:
        self.observer.observe(
            model_name=model_name,
            api=api,
            entrypoint=entrypoint,
            code=code,
            seconds=seconds,
            details=details,
        )


def observability_of(observer: RequestObserver | None) -> Observability | None:
    """The ``Observability`` an ``ObservedRequests`` carries; None for any other observer."""
    return observer.observability if isinstance(observer, ObservedRequests) else None


def observer_of(observer: RequestObserver | None) -> RequestObserver | None:
    """The observer an ``ObservedRequests`` forwards ``observe`` to; any other as it is."""
    return observer.observer if isinstance(observer, ObservedRequests) else observer
