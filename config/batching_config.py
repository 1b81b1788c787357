"""Batching parameters: TF Serving's ``BatchingParameters`` text, validated into plain values.

Input is the file named by ``--batching_parameters_file`` or a model's
``assets.extra/batching_params.pbtxt`` (with ``--enable_per_model_batching_parameters``),
both in the text format of ``tensorflow.serving.BatchingParameters``, e.g.::

    max_batch_size { value: 32 }
    batch_timeout_micros { value: 5000 }
    allowed_batch_sizes: [8, 16, 32]

Output is a ``BatchingSettings``, the one batching type of the server (the batcher, the
server configuration and per-model parameters all use it). Where batching is off the
server holds ``None`` instead, never a "disabled" ``BatchingSettings``. Every field is
resolved; an unset field (in the file, or in the constructor) takes the default TF
Serving's batch scheduler uses: ``max_batch_size`` 1000,
``batch_timeout_micros`` 0, ``max_enqueued_batches`` 10, ``num_batch_threads`` the number
of CPUs this process may run on, ``thread_pool_name`` "batch_threads", no
``allowed_batch_sizes``, no padding, no splitting.

``max_execution_batch_size`` is the largest batch that is run. Without
``enable_large_batch_splitting`` it always equals ``max_batch_size`` (a value in the file
is ignored, as TF Serving ignores it). With splitting, ``max_batch_size`` bounds a single
request and ``max_execution_batch_size`` (default: ``max_batch_size``) bounds a batch.

Rejected, as ``ConfigError`` naming the field and its line: sizes, queue length or
thread count below 1, a negative timeout, ``max_execution_batch_size`` above
``max_batch_size``, and ``allowed_batch_sizes`` that are not positive and strictly
increasing or whose last entry is not the batch limit (``max_execution_batch_size``
with splitting, else ``max_batch_size``), as TF Serving requires.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from config.errors import ConfigError
from config.protos import BatchingParameters
from config.textproto import TextLocator, parse_text_proto, read_config_file

DEFAULT_MAX_BATCH_SIZE = 1000
DEFAULT_BATCH_TIMEOUT_MICROS = 0
DEFAULT_MAX_ENQUEUED_BATCHES = 10
DEFAULT_THREAD_POOL_NAME = "batch_threads"


def default_num_batch_threads() -> int:
    """TF Serving's default: the CPUs this process may be scheduled on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchingSettings:
    """Resolved batching parameters; see the module docstring for defaults and meaning.

    The constructor resolves ``max_execution_batch_size`` but does not validate; files
    and platform configs go through ``batching_parameters_from_text``, which does.
    """

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    """Largest batch the scheduler forms; with splitting, the largest single request."""
    batch_timeout_micros: int = DEFAULT_BATCH_TIMEOUT_MICROS
    """How long the oldest queued request waits for a batch to fill."""
    max_enqueued_batches: int = DEFAULT_MAX_ENQUEUED_BATCHES
    """Formed batches that may wait for a thread; beyond that requests are rejected."""
    num_batch_threads: int = field(default_factory=default_num_batch_threads)
    """Batches run at the same time; default: the CPUs this process may run on."""
    thread_pool_name: str = DEFAULT_THREAD_POOL_NAME
    allowed_batch_sizes: tuple[int, ...] = ()
    """Sizes a batch is padded up to; empty: any size."""
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int = 0
    """With splitting, the largest batch run. 0 (the default), and any value without
    splitting, is replaced by ``max_batch_size`` on construction, as TF Serving does."""

    def __post_init__(self) -> None:
        if not self.enable_large_batch_splitting or self.max_execution_batch_size == 0:
            object.__setattr__(self, "max_execution_batch_size", self.max_batch_size)

    @property
    def execution_limit(self) -> int:
        """The largest batch ever run: ``max_execution_batch_size`` with splitting, else
        ``max_batch_size``."""
        if self.enable_large_batch_splitting:
            return self.max_execution_batch_size
        return self.max_batch_size


def load_batching_parameters(path: str | os.PathLike[str]) -> BatchingSettings:
    """Read and validate a ``BatchingParameters`` text file."""
    return batching_parameters_from_text(read_config_file(path), os.fspath(path))


def batching_parameters_from_text(text: str, source: str) -> BatchingSettings:
    """Parse and validate ``BatchingParameters`` text; errors name ``source``."""
    proto = parse_text_proto(text, BatchingParameters(), source)
    return batching_parameters_from_proto(proto, source, TextLocator(text))


def batching_parameters_from_proto(
    proto: Message, source: str, locator: TextLocator
) -> BatchingSettings:
    """Validate a parsed ``BatchingParameters`` (e.g. inside a platform config).

    ``locator`` is over the text ``proto`` was parsed from, so errors find their line.
    """
    return _Converter(source, locator).convert(proto)


def default_batching_settings() -> BatchingSettings:
    """The settings an empty parameters file gives (``--enable_batching`` alone)."""
    return batching_parameters_from_text("", "<defaults>")


class _Converter:
    def __init__(self, source: str, locator: TextLocator) -> None:
        self._source = source
        self._locator = locator

    def convert(self, proto: Any) -> BatchingSettings:
        max_batch_size = self._wrapped(proto, "max_batch_size", DEFAULT_MAX_BATCH_SIZE, minimum=1)
        splitting = bool(proto.enable_large_batch_splitting.value)
        execution_limit = max_batch_size
        if splitting:
            execution_limit = self._wrapped(
                proto, "max_execution_batch_size", max_batch_size, minimum=1
            )
            if execution_limit > max_batch_size:
                raise self._error(
                    "max_execution_batch_size",
                    f"must not exceed max_batch_size ({max_batch_size}), got {execution_limit}",
                )
        limit_name = "max_execution_batch_size" if splitting else "max_batch_size"
        return BatchingSettings(
            max_batch_size=max_batch_size,
            batch_timeout_micros=self._wrapped(
                proto, "batch_timeout_micros", DEFAULT_BATCH_TIMEOUT_MICROS, minimum=0
            ),
            max_enqueued_batches=self._wrapped(
                proto, "max_enqueued_batches", DEFAULT_MAX_ENQUEUED_BATCHES, minimum=1
            ),
            num_batch_threads=self._wrapped(
                proto, "num_batch_threads", default_num_batch_threads(), minimum=1
            ),
            thread_pool_name=(
                proto.thread_pool_name.value
                if proto.HasField("thread_pool_name")
                else DEFAULT_THREAD_POOL_NAME
            ),
            allowed_batch_sizes=self._allowed_batch_sizes(
                tuple(proto.allowed_batch_sizes), execution_limit, limit_name
            ),
            pad_variable_length_inputs=bool(proto.pad_variable_length_inputs),
            enable_large_batch_splitting=splitting,
            max_execution_batch_size=execution_limit,
        )

    def _wrapped(self, proto: Any, name: str, default: int, *, minimum: int) -> int:
        """An ``Int64Value`` field's value, or ``default`` when unset; at least ``minimum``."""
        if not proto.HasField(name):
            return default
        value = int(getattr(proto, name).value)
        if value < minimum:
            bound = "positive" if minimum == 1 else f"at least {minimum}"
            raise self._error(name, f"must be {bound}, got {value}")
        return value

    def _allowed_batch_sizes(
        self, sizes: tuple[int, ...], limit: int, limit_name: str
    ) -> tuple[int, ...]:
        if not sizes:
            return sizes
        if sizes[0] < 1:
            raise self._error("allowed_batch_sizes", f"entries must be positive, got {list(sizes)}")
        if any(later <= earlier for earlier, later in itertools.pairwise(sizes)):
            raise self._error(
                "allowed_batch_sizes", f"entries must be strictly increasing, got {list(sizes)}"
            )
        if sizes[-1] != limit:
            raise self._error(
                "allowed_batch_sizes",
                f"last entry must equal {limit_name} ({limit}), got {sizes[-1]}",
            )
        return sizes

    def _error(self, field: str, message: str) -> ConfigError:
        return ConfigError(self._source, message, line=self._locator.field_line(field), field=field)
