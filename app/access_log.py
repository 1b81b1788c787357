"""The access log: one line per (sampled) request, off by default.

``access_logged(inner, sample_rate)`` returns the request observer the frontends call:
``inner`` itself when the rate is 0 (so the hot path pays nothing), else an ``AccessLog``
that forwards every request to ``inner`` (metrics) and logs a ``sample_rate`` share of
them (1 logs all) on the ``aioserving.access`` logger, at INFO:

    access model=m version=2 api=rest method=predict status=OK latency_ms=1.234 peer=10.0.0.7

``version`` is the version or label the request named (``-`` for the latest), ``peer``
the client address as the transport reports it (``ipv4:10.0.0.7:51234`` on gRPC). With
``--log_format=json`` the same fields are keys of the line's JSON object
(``app.log_format``). Only the model name is written as the client sent it, cut to 200
characters and quoted by the formatter; no body, header or credential is ever logged.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from frontends.observer import Details, RequestObserver
from protocol.status import Code

log = logging.getLogger("aioserving.access")

MAX_NAME_CHARS = 200


class AccessLog:
    """Forwards to ``inner`` and logs a ``sample_rate`` share of the requests."""

    def __init__(
        self,
        inner: RequestObserver,
        sample_rate: float,
        draw: Callable[[], float] = random.random,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample rate {sample_rate} is not between 0 and 1")
        self._inner = inner
        self._sample_rate = sample_rate
        self._draw = draw

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
        self._inner.observe(
            model_name=model_name, api=api, entrypoint=entrypoint, code=code, seconds=seconds
        )
        if self._sample_rate < 1.0 and self._draw() >= self._sample_rate:
            return
        version, peer = details() if details is not None else ("", "")
        fields = {
            "model": model_name[:MAX_NAME_CHARS] or "-",
            "version": version[:MAX_NAME_CHARS] or "-",
            "api": api,
            "method": entrypoint,
            "status": code.name,
            "latency_ms": round(seconds * 1000, 3),
            "peer": peer or "-",
        }
        text = " ".join(f"{key}={_quoted(value)}" for key, value in fields.items())
        log.info("access %s", text, extra={"access": fields})


def _quoted(value: object) -> str:
    text = str(value)
    if text and all(c.isprintable() and not c.isspace() and c not in "\"'=" for c in text):
        return text
    return repr(text)


def access_logged(inner: RequestObserver, sample_rate: float) -> RequestObserver:
    return AccessLog(inner, sample_rate) if sample_rate > 0 else inner
