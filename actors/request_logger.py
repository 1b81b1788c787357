"""Request logging: sampled requests written as TFRecord files of ``PredictionLog``.

TF Serving's ``ModelConfig.logging_config``, honoured. The request path asks
``sample(model_name)`` when a request arrives; only when it answers a ``RequestLogging``
does the path keep the request and, after replying, ``offer`` a ``Capture``
(``protocol.prediction_log``). Everything else happens off the request path:

- ``offer`` never waits: it appends to this actor's mailbox (``actors.mailbox``) and
  returns True, or, when ``capacity`` records are already queued (or the logger is not
  running), drops the record, counts it (``observer.request_log_dropped``, reason
  ``queue_full`` or ``stopped``) and returns False.
- The actor's task takes everything queued (up to ``max_batch_records``, which then no
  longer count against ``capacity``: at most ``capacity + max_batch_records`` records are
  held at once) and hands the batch to ``handle``, which builds and writes the records in one dedicated thread (so
  protobuf copies and file writes never run on the event loop) and flushes the files
  once per batch. A file still being written may therefore end in a partial record.
- Files are named ``<filename_prefix>-<UTC start, YYYYmmddTHHMMSS>-<pid>-<seq>.tfrecord``
  (``seq`` counts from 00000 per prefix and process), so names sort in time order within
  a process. Each is uncompressed TFRecord, so files concatenated in name order are still
  a valid TFRecord file, and one file (up to TF Serving's 1000 records) works as a
  version's ``assets.extra/tf_serving_warmup_requests``. Models that share a prefix
  share files. Missing folders are created.
- A file is closed and the next one opened before a record would take it past
  ``max_file_bytes`` (a single larger record gets a file of its own).
- ``s3://bucket/key-prefix`` prefixes are written to a private local folder and each
  file is uploaded to ``s3://bucket/<key-prefix>-...`` once closed (rotation, reload or
  stop), then deleted locally; credentials as for ``s3://`` base paths
  (``actors.object_store``). A failed upload is logged with the local path, where the
  file stays.
- ``configure(models)`` takes every model's settings on each config (re)load: sampling
  follows the new settings at once, and files whose prefix no model uses any more are
  closed by the actor's next step.
- A record that cannot be built or written (a full disk, a bug) is logged, counted as
  dropped (reason ``write_error``) and skipped: request logging never stops serving. A
  record whose model no longer logs by the time it is written is dropped (reason
  ``unconfigured``).
- ``stop(grace_seconds)`` writes what is queued (within the grace period; what is left
  is dropped and counted), then flushes, closes and uploads every file. Files are
  complete once it returns.

It is not an ``actors.actor.Actor``: that base class hands ``handle`` one message at a
time from an unbounded inbox, while this one must bound its queue (dropping, not
growing) and hand a whole batch to one thread hop (one hop per record would cost more
than writing the record). It keeps the same shape: one ``Mailbox``, one reading task
(``task``, for the supervisor to watch), ``handle`` as the unit-tested step,
``start()``/``stop(grace_seconds)``.

``observer`` (optional) receives ``request_log_written(model, records, bytes)`` and
``request_log_dropped(model, reason, records)``, from the actor's thread for writes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any, Protocol

from actors.mailbox import Mailbox
from actors.sampling_policy import should_sample
from config.model_config import ModelSettings
from config.request_logging import RequestLogging
from protocol.prediction_log import Capture, prediction_log
from protocol.tfrecord import frame

log = logging.getLogger(__name__)

S3_SCHEME = "s3://"
DEFAULT_CAPACITY = 10_000
DEFAULT_MAX_FILE_BYTES = 128 * 1024 * 1024
DEFAULT_MAX_BATCH_RECORDS = 512
FILE_SUFFIX = ".tfrecord"


class RequestLogObserver(Protocol):
    def request_log_written(self, model_name: str, records: int, nbytes: int) -> None: ...

    def request_log_dropped(self, model_name: str, reason: str, records: int = 1) -> None: ...


class _Reconfigured:
    __slots__ = ()


class _Stop:
    __slots__ = ()


_RECONFIGURED = _Reconfigured()
_STOP = _Stop()


@dataclasses.dataclass(slots=True)
class _OpenFile:
    path: str  # local path
    stream: IO[bytes]
    size: int
    upload_to: str | None  # s3:// URL, for s3 prefixes


class _Files:
    """The open file of each prefix; used only from the logger's thread."""

    def __init__(
        self,
        *,
        max_file_bytes: int,
        clock: Callable[[], float],
        upload: Callable[[str, str], None],
        staging_dir: Callable[[], str],
    ) -> None:
        self._max_file_bytes = max_file_bytes
        self._clock = clock
        self._upload = upload
        self._staging_dir = staging_dir
        self._open: dict[str, _OpenFile] = {}
        self._sequence: dict[str, int] = {}

    def write(self, prefix: str, record: bytes) -> None:
        current = self._open.get(prefix)
        if (
            current is not None
            and current.size
            and current.size + len(record) > self._max_file_bytes
        ):
            self.close(prefix)
            current = None
        if current is None:
            current = self._open_next(prefix)
        current.stream.write(record)
        current.size += len(record)

    def flush(self) -> None:
        for current in self._open.values():
            current.stream.flush()

    def prefixes(self) -> list[str]:
        return list(self._open)

    def close(self, prefix: str) -> None:
        current = self._open.pop(prefix)
        try:
            current.stream.close()
        except OSError:  # a full disk at the last flush: the file keeps what reached it
            log.exception("request log: could not close %s", current.path)
        if current.upload_to is None:
            return
        try:
            self._upload(current.path, current.upload_to)
        except Exception:  # the store may be down; the file stays on disk
            log.exception("request log: could not upload %s to %s", current.path, current.upload_to)
            return
        os.remove(current.path)

    def close_all(self) -> None:
        for prefix in list(self._open):
            self.close(prefix)

    def _open_next(self, prefix: str) -> _OpenFile:
        sequence = self._sequence.get(prefix, 0)
        self._sequence[prefix] = sequence + 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self._clock()))
        name = f"{prefix}-{stamp}-{os.getpid()}-{sequence:05d}{FILE_SUFFIX}"
        upload_to: str | None = None
        if name.startswith(S3_SCHEME):
            upload_to = name
            path = os.path.join(self._staging_dir(), name[len(S3_SCHEME) :].replace("/", "_"))
        else:
            path = name
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        stream = open(path, "xb", buffering=1024 * 1024)  # noqa: SIM115 - closed by close()
        opened = _OpenFile(path=path, stream=stream, size=0, upload_to=upload_to)
        self._open[prefix] = opened
        return opened


def upload_to_object_store(path: str, url: str) -> None:
    """Upload local ``path`` to ``url`` (``s3://bucket/key``) with boto3's default client."""
    from actors.object_store import S3Url, default_client  # boto3 only when s3 is used

    bucket, _, key = url[len(S3_SCHEME) :].partition("/")
    S3Url.parse(url)  # the same validation as base paths
    default_client().upload_file(path, bucket, key)


class RequestLogger:
    """See the module docstring."""

    name = "request_logger"

    def __init__(
        self,
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_batch_records: int = DEFAULT_MAX_BATCH_RECORDS,
        observer: RequestLogObserver | None = None,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        upload: Callable[[str, str], None] = upload_to_object_store,
    ) -> None:
        if capacity < 1 or max_file_bytes < 1 or max_batch_records < 1:
            raise ValueError("capacity, max_file_bytes and max_batch_records must be positive")
        self._capacity = capacity
        self._max_batch_records = max_batch_records
        self._observer = observer
        self._draw = draw
        self._clock = clock
        self._settings: dict[str, RequestLogging] = {}
        self._sampled: dict[str, RequestLogging] = {}
        self._inbox: Mailbox[Capture | _Reconfigured | _Stop] = Mailbox()
        self._queued = 0
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._staging: str | None = None
        self._files = _Files(
            max_file_bytes=max_file_bytes,
            clock=clock,
            upload=upload,
            staging_dir=self._staging_dir,
        )

    # -- the request path -------------------------------------------------------------

    def sample(self, model_name: str) -> RequestLogging | None:
        """The model's logging settings if this request is to be logged, else None."""
        # Only models with a rate above 0 are in _sampled: rate 0 costs what "off" costs.
        settings = self._sampled.get(model_name)
        if settings is None or not should_sample(settings.sampling_rate, self._draw):
            return None
        return settings

    def offer(self, capture: Capture) -> bool:
        """Queue ``capture`` for writing, or drop and count it; never waits."""
        if not self._running:
            self._dropped(capture.context.model_name, "stopped")
            return False
        if self._queued >= self._capacity:
            self._dropped(capture.context.model_name, "queue_full")
            return False
        self._queued += 1
        self._inbox.put_nowait(capture)
        return True

    # -- configuration and lifecycle -------------------------------------------------

    def configure(self, models: Iterable[ModelSettings]) -> None:
        """Use these models' ``request_logging`` from now on (every config (re)load)."""
        self._settings = {
            model.name: model.request_logging
            for model in models
            if model.request_logging is not None
        }
        self._sampled = {
            name: settings
            for name, settings in self._settings.items()
            if settings.sampling_rate > 0
        }
        if self._running:
            self._inbox.put_nowait(_RECONFIGURED)

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the request logger was already started; create a new one")
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=self.name)
        self._running = True
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Write what is queued (within ``grace_seconds``), then close every file."""
        self._running = False
        if self._task is not None and not self._task.done():
            self._inbox.put_nowait(_STOP)
            with contextlib.suppress(Exception, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        left = [m for m in self._drain_inbox() if not isinstance(m, (_Reconfigured, _Stop))]
        for capture in left:
            self._dropped(capture.context.model_name, "stopped")
        self._queued = 0
        await self._in_thread(self._files.close_all)
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._staging is not None:
            # Files whose upload failed stay there (each was logged with its path).
            with contextlib.suppress(OSError):
                os.rmdir(self._staging)
            self._staging = None

    async def _run(self) -> None:
        while True:
            batch: list[Capture | _Reconfigured] = []
            message = await self._inbox.get()
            while True:
                if isinstance(message, _Stop):
                    await self.handle(batch)
                    return
                batch.append(message)
                if len(batch) >= self._max_batch_records or self._inbox.empty():
                    break
                message = self._inbox.get_nowait()
            await self.handle(batch)

    def _drain_inbox(self) -> list[Capture | _Reconfigured | _Stop]:
        items = []
        while not self._inbox.empty():
            items.append(self._inbox.get_nowait())
        return items

    # -- the step ----------------------------------------------------------------------

    async def handle(self, batch: Sequence[Capture | _Reconfigured]) -> None:
        """Write one batch of captures in the logger's thread; close files no model uses."""
        captures = [m for m in batch if not isinstance(m, _Reconfigured)]
        self._queued = max(0, self._queued - len(captures))
        prefixes = {settings.filename_prefix for settings in self._settings.values()}
        await self._in_thread(self.write_batch, captures, prefixes)

    def write_batch(self, captures: Sequence[Capture], live_prefixes: set[str]) -> None:
        """Build, frame and write ``captures``; flush; close files of prefixes not live."""
        written: dict[str, list[int]] = {}
        for capture in captures:
            model_name = capture.context.model_name
            settings = self._settings.get(model_name)
            if settings is None:  # logging was switched off for the model meanwhile
                self._dropped(model_name, "unconfigured")
                continue
            try:
                record = frame(prediction_log(capture).SerializeToString())
                self._files.write(settings.filename_prefix, record)
            except Exception:  # request logging must never stop serving
                log.exception("request log: could not write a record of model '%s'", model_name)
                self._dropped(model_name, "write_error")
                continue
            tally = written.setdefault(model_name, [0, 0])
            tally[0] += 1
            tally[1] += len(record)
        try:
            self._files.flush()
        except OSError:
            log.exception("request log: could not flush")
        for prefix in self._files.prefixes():
            if prefix not in live_prefixes:
                self._files.close(prefix)
        if self._observer is not None:
            for model_name, (records, nbytes) in written.items():
                self._observer.request_log_written(model_name, records, nbytes)

    async def _in_thread(self, function: Callable[..., None], *args: Any) -> None:
        if self._thread is None:
            function(*args)  # unit tests step the logger without starting it
            return
        await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    def _staging_dir(self) -> str:
        if self._staging is None:
            self._staging = tempfile.mkdtemp(prefix="aioserving-request-log-")
        return self._staging

    def _dropped(self, model_name: str, reason: str) -> None:
        if self._observer is not None:
            self._observer.request_log_dropped(model_name, reason)
