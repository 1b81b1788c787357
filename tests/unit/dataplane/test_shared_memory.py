"""The system shared memory registry, on real POSIX shared memory objects.

Source: Triton's ``src/shared_memory_manager.cc`` (RegisterSystemSharedMemory,
GetMemoryInfo, GetStatus, Unregister/UnregisterAll) and its messages, as the client
examples ``simple_http_shm_client.py`` / ``simple_grpc_shm_client.py`` exercise them
(register input and output regions, infer, read the output, unregister).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from multiprocessing import shared_memory

import numpy as np
import pytest

from dataplane.shared_memory import (
    CUDA_UNAVAILABLE,
    RegionStatus,
    SharedMemoryReference,
    SharedMemoryRegistry,
    shared_memory_reference,
)
from protocol.status import Code, ServingError

SIZE = 64


@pytest.fixture
def shm() -> Iterator[shared_memory.SharedMemory]:
    """A client's object: created (and unlinked) by the test, as a client would."""
    block = shared_memory.SharedMemory(name=f"aioserving_test_{uuid.uuid4().hex[:12]}",
                                       create=True, size=SIZE)  # fmt: skip
    try:
        yield block
    finally:
        block.close()
        block.unlink()


@pytest.fixture
def registry() -> Iterator[SharedMemoryRegistry]:
    registry = SharedMemoryRegistry(max_regions=3)
    yield registry
    registry.close()


def key_of(block: shared_memory.SharedMemory) -> str:
    return "/" + block.name.lstrip("/")  # how Triton's clients spell keys


def buf(block: shared_memory.SharedMemory) -> memoryview:
    """The client's own mapping of its object."""
    assert block.buf is not None
    return block.buf


def refused(call: object, *args: object) -> ServingError:
    with pytest.raises(ServingError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_inputs_are_read_and_outputs_written_in_place(
    registry: SharedMemoryRegistry, shm: shared_memory.SharedMemory
) -> None:
    """simple_*_shm_client.py: input0 and input1 back to back in one region; output0
    written by the server into another, read back by the client from its own mapping."""
    values = np.arange(16, dtype=np.int32)
    buf(shm)[:64] = values.tobytes()
    registry.register("input_data", key_of(shm), 0, 64)
    with registry.read("input_data", 0, 64) as view:
        assert np.array_equal(np.frombuffer(view, dtype=np.int32), values)
    registry.write("input_data", 16, b"\x07" * 8)
    assert bytes(buf(shm)[16:24]) == b"\x07" * 8  # the client sees the server's write


def test_a_window_at_an_offset_is_addressed_from_its_own_start(
    registry: SharedMemoryRegistry, shm: shared_memory.SharedMemory
) -> None:
    buf(shm)[40:48] = b"ABCDEFGH"
    registry.register("tail", key_of(shm), 40, 24)
    with registry.read("tail", 0, 8) as view:
        assert bytes(view) == b"ABCDEFGH"
    assert registry.status("tail") == [
        RegionStatus(name="tail", key=key_of(shm), offset=40, byte_size=24)
    ]


def test_a_duplicate_name_is_already_exists(
    registry: SharedMemoryRegistry, shm: shared_memory.SharedMemory
) -> None:
    registry.register("r", key_of(shm), 0, 8)
    error = refused(registry.register, "r", key_of(shm), 8, 8)
    assert error.code is Code.ALREADY_EXISTS
    assert error.message == "shared memory region 'r' already in manager"


@pytest.mark.parametrize(("offset", "byte_size"), [(0, SIZE + 1), (SIZE, 1), (60, 8), (0, 0)])
def test_a_window_outside_the_object_is_invalid_args(
    registry: SharedMemoryRegistry, shm: shared_memory.SharedMemory, offset: int, byte_size: int
) -> None:
    """CheckSharedMemoryRegionSize: offset + byte_size beyond the object."""
    error = refused(registry.register, "r", key_of(shm), offset, byte_size)
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == "failed to register shared memory region 'r': invalid args"
    assert registry.status() == []


@pytest.mark.parametrize("key", ["/aioserving_no_such_region", "no_such_either"])
def test_a_key_that_does_not_exist_is_refused(registry: SharedMemoryRegistry, key: str) -> None:
    """OpenSharedMemoryRegion: "Unable to open shared memory region: 'K'"."""
    error = refused(registry.register, "r", key, 0, 8)
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == f"Unable to open shared memory region: '{key}'"


@pytest.mark.parametrize("key", ["", "/a/b", "../etc/passwd", "//x", "a\x00b"])
def test_a_key_that_is_no_shm_name_is_refused_before_opening(
    registry: SharedMemoryRegistry, key: str
) -> None:
    """No path can be smuggled in: a key is one POSIX shm name, never a file path."""
    error = refused(registry.register, "r", key, 0, 8)
    assert error.code is Code.INVALID_ARGUMENT


def test_reads_and_writes_stay_inside_the_registered_window(
    registry: SharedMemoryRegistry, shm: shared_memory.SharedMemory
) -> None:
    """GetMemoryInfo's checks, with its messages."""
    registry.register("r", key_of(shm), 8, 16)
    unknown = refused(registry.read, "nope", 0, 4)
    assert (unknown.code, unknown.message) == (
        Code.NOT_FOUND,
        "Unable to find shared memory region: 'nope'",
    )
    at_end = refused(registry.read, "r", 16, 1)
    assert at_end.message == "Invalid offset for shared memory region: 'r'"
    past = refused(registry.read, "r", 8, 9)
    assert past.message == "Invalid offset + byte size for shared memory region: 'r'"
    too_long = refused(registry.write, "r", 0, b"x" * 17)
    assert too_long.code is Code.INVALID_ARGUMENT


def test_a_read_view_cannot_write(
    registry: SharedMemoryRegistry, shm: shared_memory.SharedMemory
) -> None:
    registry.register("r", key_of(shm), 0, 8)
    with registry.read("r", 0, 8) as view, pytest.raises(TypeError):
        view[0] = 1


def test_status_lists_every_region_and_an_unknown_name_is_not_found(
    registry: SharedMemoryRegistry, shm: shared_memory.SharedMemory
) -> None:
    registry.register("a", key_of(shm), 0, 8)
    registry.register("b", key_of(shm), 8, 8)  # two windows of one object, as Triton allows
    assert [s.name for s in registry.status()] == ["a", "b"]
    error = refused(registry.status, "c")
    assert (error.code, error.message) == (
        Code.NOT_FOUND,
        "Unable to find system shared memory region: 'c'",
    )


def test_unregister_forgets_one_or_all_and_an_unknown_name_is_fine(
    registry: SharedMemoryRegistry, shm: shared_memory.SharedMemory
) -> None:
    registry.register("a", key_of(shm), 0, 8)
    registry.register("b", key_of(shm), 8, 8)
    registry.unregister("a")
    registry.unregister("never registered")  # Triton: success
    assert [s.name for s in registry.status()] == ["b"]
    registry.unregister_all()
    assert registry.status() == []
    registry.register("a", key_of(shm), 0, 8)  # the name is free again


def test_an_unregister_during_a_read_takes_effect_when_the_view_is_released(
    registry: SharedMemoryRegistry, shm: shared_memory.SharedMemory
) -> None:
    """UnregisterHelper: awaiting_unregister_ while in-flight requests use the region."""
    buf(shm)[:4] = b"keep"
    registry.register("r", key_of(shm), 0, 8)
    view = registry.read("r", 0, 4)
    registry.unregister("r")
    assert registry.status() == []
    assert bytes(view) == b"keep"  # still mapped for the request that holds it
    view.release()
    registry.unregister("other")  # any later call unmaps what was waiting


def test_the_number_of_regions_is_bounded(
    registry: SharedMemoryRegistry, shm: shared_memory.SharedMemory
) -> None:
    for index in range(3):
        registry.register(f"r{index}", key_of(shm), 0, 8)
    error = refused(registry.register, "r3", key_of(shm), 0, 8)
    assert error.code is Code.RESOURCE_EXHAUSTED


def test_the_server_never_unlinks_the_clients_object(shm: shared_memory.SharedMemory) -> None:
    """Python's SharedMemory would hand the object to the resource tracker on 3.11, which
    unlinks it at exit; the registry opens it without the tracker."""
    first = SharedMemoryRegistry()
    first.register("r", key_of(shm), 0, 8)
    first.close()
    second = SharedMemoryRegistry()
    second.register("r", key_of(shm), 0, 8)  # the object is still there to open
    second.close()


def test_cuda_shared_memory_is_unavailable(registry: SharedMemoryRegistry) -> None:
    error = refused(registry.register_cuda, "gpu")
    assert error.code is Code.UNAVAILABLE
    assert CUDA_UNAVAILABLE in error.message


def test_tensor_parameters_name_a_window() -> None:
    """Triton's ParseSharedMemoryParams (grpc_utils.h): offset defaults to 0."""
    assert shared_memory_reference("INPUT0", {}) is None
    assert shared_memory_reference(
        "INPUT0", {"shared_memory_region": "input_data", "shared_memory_byte_size": 64}
    ) == SharedMemoryReference(region="input_data", offset=0, byte_size=64)
    assert shared_memory_reference(
        "INPUT1",
        {
            "shared_memory_region": "input_data",
            "shared_memory_offset": 64,
            "shared_memory_byte_size": 64,
        },
    ) == SharedMemoryReference(region="input_data", offset=64, byte_size=64)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"shared_memory_region": "r"},
            "'shared_memory_byte_size' must be specified along with 'shared_memory_region' "
            "parameter for tensor 'INPUT0'",
        ),
        (
            {"shared_memory_byte_size": 8},
            "'shared_memory_byte_size' can not be specified without 'shared_memory_region' "
            "parameter for tensor 'INPUT0'",
        ),
        (
            {"shared_memory_region": 3, "shared_memory_byte_size": 8},
            "invalid value type for 'shared_memory_region' parameter for tensor 'INPUT0', "
            "expected string_param.",
        ),
        (
            {"shared_memory_region": "r", "shared_memory_byte_size": "8"},
            "invalid value type for 'shared_memory_byte_size' parameter for tensor 'INPUT0', "
            "expected int64_param.",
        ),
    ],
)
def test_malformed_tensor_parameters_are_invalid_argument(
    parameters: dict[str, object], message: str
) -> None:
    error = refused(shared_memory_reference, "INPUT0", parameters)
    assert (error.code, error.message) == (Code.INVALID_ARGUMENT, message)


def test_check_raises_what_a_read_or_write_would_without_touching_the_region(
    registry: SharedMemoryRegistry, shm: shared_memory.SharedMemory
) -> None:
    buf(shm)[:8] = b"unchanged"[:8]
    registry.register("r", key_of(shm), 0, 16)
    registry.check("r", 8, 8)
    assert refused(registry.check, "nope", 0, 8).message == (
        "Unable to find shared memory region: 'nope'"
    )
    assert refused(registry.check, "r", 8, 9).message == (
        "Invalid offset + byte size for shared memory region: 'r'"
    )
    assert bytes(buf(shm)[:8]) == b"unchanged"[:8]
