"""Log set-up for the server process: text or JSON lines, and TensorFlow's start-up noise.

``configure_logging(log_format, verbose)`` runs in ``server.main`` before TensorFlow is
imported (it must: TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` once, at import).

- ``text`` (default): ``2026-01-01 12:00:00.123 I name] message``.
- ``json``: every line the Python logging writes is one JSON object with ``time``,
  ``level``, ``logger`` and ``message``, the access log's fields as keys of their own,
  and ``exception`` when there is one. TensorFlow's C++ logging bypasses Python and stays
  plain text; without ``--verbose`` it is silenced, so in practice every line is JSON.
- Without ``verbose``, TensorFlow's start-up noise is dropped. Its C++ notices (the oneDNN
  notice, CUDA probing on a CPU-only machine, absl's "before InitializeLog" banner) are
  written to file descriptor 2 before absl's logging is set up, so no log level reaches
  them (``TF_CPP_MIN_LOG_LEVEL`` does not, in TF 2.21): ``native_stderr_filtered`` sends
  fd 2 to a temporary file while TensorFlow is imported and the session set up (the
  first run's example export, and ``Supervisor.prepare_platforms`` at start-up; the
  example programs use it too, ``examples.quiet_tensorflow``), then writes back every
  line except those (``NOISE``), in order. The ``tensorflow`` and
  ``absl`` Python loggers go to ERROR (the deprecation warning of the TF1 loader the
  SavedModel loader uses, "Restoring parameters from"). Only oneDNN's notice goes
  (printed when ``TF_ENABLE_ONEDNN_OPTS=1`` turns it on; ``server.py`` sets it to 0 unless
  the operator set it). Later C++ warnings are untouched.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

TEXT_FORMAT = "%(asctime)s.%(msecs)03d %(levelname).1s %(name)s] %(message)s"
TEXT_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
QUIET_LOGGERS = ("tensorflow", "absl")
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IWE]\d{4} [\d:. ]+\d+ (port|cudart_stub|cuda_platform|cuda_executor|cpu_feature_guard)"
    r"\.cc:\d+\])"
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            line.update(access)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(log_format: str = "text", verbose: bool = False) -> None:
    """Root handler on stderr in ``log_format``; TensorFlow quiet unless ``verbose``."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, TEXT_DATE_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in QUIET_LOGGERS:  # NOTSET: a second call with verbose undoes the first
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.ERROR)


@contextlib.contextmanager
def native_stderr_filtered(verbose: bool) -> Iterator[None]:
    """While inside, fd 2 goes to a file; on exit its lines come back, ``NOISE`` dropped."""
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines(keepends=True):
                if not NOISE.match(line):
                    sys.stderr.write(line)
            sys.stderr.flush()
