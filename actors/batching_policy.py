"""Pure helpers of server-side batching: limits, queue keys, merging and splitting rows.

Nothing here touches asyncio or threads; ``actors.batcher`` schedules, these functions
compute. ``merge_inputs`` and ``split_outputs`` run in an executor thread, so the event
loop never copies tensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from config.batching_config import BatchingSettings
from protocol.status import internal, invalid_argument


QueueKey = tuple[object, ...]


def batch_size_of(inputs: Mapping[str, np.ndarray]) -> int | None:
    """The shared first dimension of every input, or None if the request cannot batch."""
    size: int | None = None
    for array in inputs.values():
        if array.ndim == 0:
            return None
        if size is None:
            size = int(array.shape[0])
        elif array.shape[0] != size:
            return None
    return size


def queue_key(
    servable_id: int,
    signature_name: str,
    output_names: tuple[str, ...],
    inputs: Mapping[str, np.ndarray],
    pad_variable_length_inputs: bool,
) -> QueueKey:
    """Requests batch together only when their key is equal.

    The key holds each input's dtype and non-batch dimensions; with padding on, only the
    rank, since differing lengths are padded to the longest.
    """
    parts: list[object] = [servable_id, signature_name, output_names]
    for name in sorted(inputs):
        array = inputs[name]
        dims: object = array.ndim if pad_variable_length_inputs else array.shape[1:]
        parts.append((name, array.dtype.str, dims))
    return tuple(parts)


def padded_size(size: int, allowed_batch_sizes: Sequence[int]) -> int:
    """The smallest allowed size that holds ``size`` rows (``size`` itself if none set)."""
    for allowed in allowed_batch_sizes:
        if allowed >= size:
            return allowed
    return size


def _pad_to_shape(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if array.shape[1:] == shape:
        return array
    widths = [(0, 0)] + [
        (0, target - have) for have, target in zip(array.shape[1:], shape, strict=True)
    ]
    if array.dtype == object:
        return np.pad(array, widths, mode="constant", constant_values=b"")
    return np.pad(array, widths, mode="constant")


def merge_inputs(
    parts: Sequence[Mapping[str, np.ndarray]], total_size: int, pad_variable_length: bool
) -> dict[str, np.ndarray]:
    """Concatenate each input along dim 0 and pad the batch to ``total_size`` rows.

    Extra rows repeat the first row, as TF Serving's batching does, so padding never
    feeds values the model has not seen. With variable-length padding, non-batch
    dimensions are zero-padded (empty bytes for strings) to the longest in the batch.
    """
    merged: dict[str, np.ndarray] = {}
    for name in parts[0]:
        arrays = [part[name] for part in parts]
        if pad_variable_length:
            longest = tuple(max(dims) for dims in zip(*(a.shape[1:] for a in arrays), strict=True))
            arrays = [_pad_to_shape(a, longest) for a in arrays]
        rows = sum(a.shape[0] for a in arrays)
        if total_size > rows:
            arrays.append(np.repeat(arrays[0][:1], total_size - rows, axis=0))
        merged[name] = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=0)
    return merged


def split_outputs(
    outputs: Mapping[str, np.ndarray], sizes: Sequence[int], padded_total: int
) -> list[dict[str, np.ndarray]]:
    """Give each request back exactly its rows, in order; padding rows are dropped."""
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != padded_total:
            raise internal(
                f"batched output {name!r} has shape {list(array.shape)}; expected its first "
                f"dimension to be the batch size {padded_total}. This signature cannot be batched."
            )
    results = []
    start = 0
    for size in sizes:
        end = start + size
        results.append({name: array[start:end] for name, array in outputs.items()})
        start = end
    return results


def check_request_size(size: int, settings: BatchingSettings) -> None:
    """Reject a request that no batch could hold, naming the limit."""
    if size > settings.max_batch_size and not settings.enable_large_batch_splitting:
        raise invalid_argument(
            f"Task size {size} is larger than maximum input batch size {settings.max_batch_size} "
            "(max_batch_size); enable_large_batch_splitting would split it"
        )


__all__ = [
    "QueueKey",
    "batch_size_of",
    "check_request_size",
    "merge_inputs",
    "padded_size",
    "queue_key",
    "split_outputs",
]
