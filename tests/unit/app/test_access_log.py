"""The access log's sampling and line format, driven one request at a time."""

from __future__ import annotations

import json
import logging

import pytest

from app.access_log import AccessLog, access_logged
from app.log_format import JsonFormatter
from app.metrics import ServerMetrics
from config.flags import parse_flags
from protocol.status import Code


def observe(observer: object, **overrides: object) -> None:
    fields: dict[str, object] = {
        "model_name": "m",
        "api": "rest",
        "entrypoint": "predict",
        "code": Code.OK,
        "seconds": 0.0012345,
        "details": lambda: ("2", "127.0.0.1"),
    }
    fields.update(overrides)
    observer.observe(**fields)  # type: ignore[attr-defined]


def test_off_by_default_means_the_frontends_call_metrics_directly() -> None:
    metrics = ServerMetrics()
    assert parse_flags([]).access_log_sample_rate == 0.0
    assert access_logged(metrics, 0.0) is metrics


def test_every_request_is_logged_at_rate_one_and_still_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = ServerMetrics()
    log = access_logged(metrics, 1.0)
    with caplog.at_level(logging.INFO, logger="aioserving.access"):
        observe(log)
        observe(log, model_name="odd name", code=Code.NOT_FOUND, details=None)
    assert [r.getMessage() for r in caplog.records] == [
        "access model=m version=2 api=rest method=predict status=OK latency_ms=1.234 "
        "peer=127.0.0.1",
        "access model='odd name' version=- api=rest method=predict status=NOT_FOUND "
        "latency_ms=1.234 peer=-",
    ]
    assert metrics.request_count.value("odd name", "NOT_FOUND") == 1


def test_the_sample_rate_decides_which_requests_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    draws = iter([0.05, 0.5, 0.09, 0.95])
    asked: list[int] = []

    def details() -> tuple[str, str]:
        asked.append(1)
        return ("", "peer")

    log = AccessLog(ServerMetrics(), 0.1, draw=lambda: next(draws))
    with caplog.at_level(logging.INFO, logger="aioserving.access"):
        for _ in range(4):
            observe(log, details=details)
    assert len(caplog.records) == 2
    assert len(asked) == 2  # details are worked out only for the logged requests


def test_json_lines_carry_the_access_fields_as_keys(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="aioserving.access"):
        observe(access_logged(ServerMetrics(), 1.0))
    line = json.loads(JsonFormatter().format(caplog.records[0]))
    assert line["logger"] == "aioserving.access"
    assert line["level"] == "INFO"
    assert {k: line[k] for k in ("model", "version", "api", "method", "status", "peer")} == {
        "model": "m",
        "version": "2",
        "api": "rest",
        "method": "predict",
        "status": "OK",
        "peer": "127.0.0.1",
    }
    assert line["latency_ms"] == 1.234


def test_a_rate_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        AccessLog(ServerMetrics(), 1.5)
