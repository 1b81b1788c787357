"""System shared memory regions: Triton's ``systemsharedmemory`` extension, behind one registry.

A same-host client puts tensors in a POSIX shared memory object (``shm_open`` key such as
``/input_simple``), registers a window of it under a name, and then names that region
(``shared_memory_region``, ``shared_memory_offset``, ``shared_memory_byte_size``) in
place of tensor data, for inputs and for outputs. The server reads and writes the
window in place: no copy through the socket.

Contract of ``SharedMemoryRegistry`` (Triton's ``shared_memory_manager.cc`` behaviour and
messages, with our status codes where Triton answers a client's mistake with INTERNAL):

- ``register(name, key, offset, byte_size)`` opens the object read-write, checks that
  ``offset + byte_size`` lies within it, maps exactly that window (page-aligned below)
  and closes the descriptor. A name already registered is ALREADY_EXISTS "shared memory
  region 'N' already in manager"; a key that cannot be opened is INVALID_ARGUMENT
  "Unable to open shared memory region: 'K'" (Triton: INTERNAL); a window out of bounds,
  an empty window or a malformed key is INVALID_ARGUMENT "failed to register shared
  memory region 'N': invalid args". At most ``max_regions`` regions are registered at
  once; one more is RESOURCE_EXHAUSTED.
- ``unregister(name)`` forgets a region (an unknown name is not an error, as in Triton);
  ``unregister_all()`` forgets every one. A region still being read or written (a
  ``memoryview`` from ``read``/``write`` not yet released) is unmapped once released,
  as Triton defers an unregister until in-flight requests complete.
- ``status(name)`` lists ``RegionStatus`` values (``protocol.v2_messages``) (every region when ``name`` is empty);
  an unknown name is NOT_FOUND "Unable to find system shared memory region: 'N'".
- ``read(name, offset, byte_size)`` returns a read-only ``memoryview`` of that part of
  the region and ``write(name, offset, data)`` copies ``data`` into it. An unknown name
  is NOT_FOUND "Unable to find shared memory region: 'N'"; ``offset`` at or past the
  region's size is INVALID_ARGUMENT "Invalid offset for shared memory region: 'N'", and
  ``offset + byte_size`` past it "Invalid offset + byte size for shared memory region:
  'N'". ``check(name, offset, byte_size)`` raises the same errors without reading or
  writing. A client can reach only the windows it registered, through their names.
- The server never creates or unlinks an object: it maps the client's. (Python's
  ``SharedMemory`` is not used because on 3.11 it registers every object it opens with
  the resource tracker, which unlinks them when the server exits, and it unlinks an
  object whose mapping fails.)
- ``shared_memory_reference(tensor, parameters)`` reads a tensor's ``shared_memory_region``,
  ``shared_memory_offset`` (default 0) and ``shared_memory_byte_size`` parameters, as both
  transports carry them (plain values: gRPC's ``string_param``/``int64_param``, V2 JSON's
  strings and integers), with Triton's ``ParseSharedMemoryParams`` checks and messages.
- CUDA shared memory: ``register_cuda`` is UNAVAILABLE (``CUDA_UNAVAILABLE``) on this
  server, which has no GPU memory path; its status is always empty.

Thread-safe: one lock guards the table, so frontends may call it from worker threads.
"""

from __future__ import annotations

import _posixshmem  # CPython's own shm_open binding (what multiprocessing uses)
import dataclasses
import mmap
import os
import re
import threading
from collections.abc import Mapping
from typing import Final

from protocol.status import Code, ServingError, invalid_argument, not_found
from protocol.v2_messages import RegionStatus

__all__ = [
    "CUDA_UNAVAILABLE",
    "DEFAULT_MAX_REGIONS",
    "RegionStatus",
    "SharedMemoryReference",
    "SharedMemoryRegistry",
    "shared_memory_reference",
]

DEFAULT_MAX_REGIONS: Final = 256
"""Regions registered at once by default; each holds one mapping."""

CUDA_UNAVAILABLE: Final = (
    "CUDA shared memory is not supported by this server: it has no GPU memory path; "
    "use system shared memory (systemsharedmemory) or send the tensor in the request"
)

_KEY: Final = re.compile(r"/?[^/\x00]{1,250}")
"""A POSIX shared memory name: one optional leading slash, then no slash (``shm_open``)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SharedMemoryReference:
    """Where a tensor's bytes are: ``byte_size`` bytes at ``offset`` of region ``region``."""

    region: str
    offset: int
    byte_size: int


def shared_memory_reference(
    tensor: str, parameters: Mapping[str, object]
) -> SharedMemoryReference | None:
    """The shared memory a tensor's parameters name, or None when they name none.

    Triton's ``ParseSharedMemoryParams``: the region must be a string and the offset and
    byte size integers; an offset or byte size without a region, or a region without a
    byte size, is INVALID_ARGUMENT naming the tensor.
    """
    region = parameters.get("shared_memory_region")
    offset = parameters.get("shared_memory_offset")
    byte_size = parameters.get("shared_memory_byte_size")
    if region is not None and not isinstance(region, str):
        raise invalid_argument(
            "invalid value type for 'shared_memory_region' parameter for tensor "
            f"'{tensor}', expected string_param."
        )
    for key, value in (("shared_memory_offset", offset), ("shared_memory_byte_size", byte_size)):
        if value is None:
            continue
        if region is None:
            raise invalid_argument(
                f"'{key}' can not be specified without 'shared_memory_region' parameter for "
                f"tensor '{tensor}'"
            )
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid_argument(
                f"invalid value type for '{key}' parameter for tensor '{tensor}', "
                "expected int64_param."
            )
    if region is None:
        return None
    if byte_size is None:
        raise invalid_argument(
            "'shared_memory_byte_size' must be specified along with 'shared_memory_region' "
            f"parameter for tensor '{tensor}'"
        )
    assert isinstance(byte_size, int)
    return SharedMemoryReference(
        region=region, offset=offset if isinstance(offset, int) else 0, byte_size=byte_size
    )


class _Region:
    """A registered window: its mapping and the view of exactly ``byte_size`` bytes."""

    __slots__ = ("_mapping", "status", "view")

    def __init__(self, status: RegionStatus, mapping: mmap.mmap, start: int) -> None:
        self.status = status
        self._mapping = mapping
        self.view = memoryview(mapping)[start : start + status.byte_size]

    def close(self) -> bool:
        """Unmap; False while a view handed out is still held (try again later)."""
        try:
            self.view.release()
            self._mapping.close()
        except BufferError:
            return False
        return True


class SharedMemoryRegistry:
    """The server's system shared memory regions, by name (contract in the module doc)."""

    def __init__(self, *, max_regions: int = DEFAULT_MAX_REGIONS) -> None:
        self._max_regions = max_regions
        self._regions: dict[str, _Region] = {}
        self._closing: list[_Region] = []
        self._lock = threading.Lock()

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        """Map ``byte_size`` bytes at ``offset`` of the object ``key`` under ``name``."""
        invalid = f"failed to register shared memory region '{name}': invalid args"
        if not name or offset < 0 or byte_size <= 0 or not _KEY.fullmatch(key):
            raise invalid_argument(invalid)
        with self._lock:
            self._retry_closing()
            if name in self._regions:
                raise ServingError(
                    Code.ALREADY_EXISTS, f"shared memory region '{name}' already in manager"
                )
            if len(self._regions) >= self._max_regions:
                raise ServingError(
                    Code.RESOURCE_EXHAUSTED,
                    f"failed to register shared memory region '{name}': "
                    f"{self._max_regions} regions are registered, the most this server "
                    "holds at once; unregister one first",
                )
            self._regions[name] = _map(name, key, offset, byte_size, invalid)

    def register_cuda(self, name: str) -> None:
        """CUDA shared memory: UNAVAILABLE on this server (see ``CUDA_UNAVAILABLE``)."""
        raise ServingError(
            Code.UNAVAILABLE,
            f"failed to register CUDA shared memory region '{name}': " + CUDA_UNAVAILABLE,
        )

    def unregister(self, name: str) -> None:
        """Forget ``name``; nothing happens for a name that is not registered."""
        with self._lock:
            region = self._regions.pop(name, None)
            if region is not None and not region.close():
                self._closing.append(region)
            self._retry_closing()

    def unregister_all(self) -> None:
        with self._lock:
            regions, self._regions = list(self._regions.values()), {}
            self._closing += [region for region in regions if not region.close()]
            self._retry_closing()

    def status(self, name: str = "") -> list[RegionStatus]:
        """Every region (``name`` empty) or the one named, in registration order."""
        with self._lock:
            if not name:
                return [region.status for region in self._regions.values()]
            region = self._regions.get(name)
            if region is None:
                raise not_found(f"Unable to find system shared memory region: '{name}'")
            return [region.status]

    def read(self, name: str, offset: int, byte_size: int) -> memoryview:
        """A read-only view of ``byte_size`` bytes at ``offset`` of region ``name``.

        Release it (``view.release()`` or a ``with`` block) once the tensor is copied or
        used; until then an unregister of the region only takes effect later.
        """
        with self._lock:
            view = self._window(name, offset, byte_size)
            return view.toreadonly()

    def check(self, name: str, offset: int, byte_size: int) -> None:
        """The errors ``read``/``write`` would raise for this window, without touching it."""
        with self._lock:
            self._window(name, offset, byte_size).release()

    def write(self, name: str, offset: int, data: bytes | memoryview) -> None:
        """Copy ``data`` into region ``name`` at ``offset`` (an output's bytes)."""
        with self._lock:
            target = self._window(name, offset, len(data))
            with target:
                target[:] = data

    def close(self) -> None:
        """Unmap every region (at shutdown)."""
        self.unregister_all()

    def _window(self, name: str, offset: int, byte_size: int) -> memoryview:
        region = self._regions.get(name)
        if region is None:
            raise not_found(f"Unable to find shared memory region: '{name}'")
        size = region.status.byte_size
        if offset < 0 or offset >= size:
            raise invalid_argument(f"Invalid offset for shared memory region: '{name}'")
        if byte_size < 0 or offset + byte_size > size:
            raise invalid_argument(f"Invalid offset + byte size for shared memory region: '{name}'")
        return region.view[offset : offset + byte_size]

    def _retry_closing(self) -> None:
        self._closing = [region for region in self._closing if not region.close()]


def _map(name: str, key: str, offset: int, byte_size: int, invalid: str) -> _Region:
    """Open ``key``, check the window against its size, map the window, close the fd."""
    try:
        fd: int = _posixshmem.shm_open("/" + key.lstrip("/"), os.O_RDWR, mode=0o600)
    except OSError:
        raise invalid_argument(f"Unable to open shared memory region: '{key}'") from None
    try:
        if offset + byte_size > os.fstat(fd).st_size:
            raise invalid_argument(invalid)
        start = offset % mmap.ALLOCATIONGRANULARITY
        try:
            mapping = mmap.mmap(fd, start + byte_size, offset=offset - start)
        except (OSError, ValueError) as error:
            raise invalid_argument(
                f"failed to register shared memory region '{name}': {error}"
            ) from None
    finally:
        os.close(fd)
    status = RegionStatus(name=name, key=key, offset=offset, byte_size=byte_size)
    return _Region(status, mapping, start)
