"""Pure helpers of server-side batching: limits, queue keys, when a batch closes, rows.

Nothing here touches asyncio or threads; ``actors.batcher`` schedules, these functions
compute. ``merge_inputs`` and ``split_outputs`` run in an executor thread, so the event
loop never copies tensors.

The batch cost model (``batch_may_wait`` and ``cost_model_close_time``, on unless
``--batching_cost_model=false``, and only where ``batch_timeout_micros`` is above 0):

- A batch that opens while its model is idle (no batch of that version running, no rows
  of the model waiting, and the version's last batch held one request) goes out at once:
  waiting only pays when the next batch can fill while another runs or while requests
  keep coming, so a lone client (c1) never waits for the timeout.
- A batch that opens under load waits while one more request would still let it finish
  within its budget: it closes once ``now + a * (rows + next) + b`` passes its first
  request's arrival plus ``batch_timeout_micros``, where ``a * n + b`` is the signature's
  fitted cost line (``actors.call_costs``) and ``next`` the rows of the latest request.
  Before the line is fitted it waits for the timeout, as without the model.
- It also closes a batch once requests stopped coming: when no request of its model
  version arrived for ``QUIET_GAPS_TO_CLOSE`` times the mean gap between its requests
  (``ArrivalGaps``; at least ``MIN_QUIET_SECONDS``, and only once
  ``ARRIVALS_TO_ESTIMATE`` gaps were measured). Clients that each wait for their answer
  (a closed loop: 32 clients, 64-row batches) have all sent their requests by then, and
  waiting out the budget would only add it to every answer.
- The model only closes batches earlier: ``max_batch_size`` (or the execution limit),
  ``batch_timeout_micros``, ``max_enqueued_batches``, ``num_batch_threads`` and
  ``allowed_batch_sizes`` still bound every batch as in TF Serving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from actors.call_costs import CostLine
from config.batching_config import BatchingSettings
from protocol.status import failed_precondition, internal, invalid_argument

QueueKey = tuple[object, ...]


def batch_size_of(inputs: Mapping[str, np.ndarray]) -> int:
    """The shared first dimension of every input; INVALID_ARGUMENT if there is none.

    TF Serving's ``ComputeTensorBatchSize`` (``batching_util.h``), with its messages: no
    inputs, a scalar input, or inputs whose first dimensions differ cannot be batched.
    """
    if not inputs:
        raise invalid_argument("Batching Run() must have at least one input tensor")
    size: int | None = None
    for array in inputs.values():
        if array.ndim == 0:
            raise invalid_argument("Batching Run() input tensors must have at least one dimension")
        if size is None:
            size = int(array.shape[0])
        elif array.shape[0] != size:
            raise invalid_argument(
                "Batching Run() input tensors must have equal 0th-dimension size"
            )
    assert size is not None
    return size


def queue_key(
    servable_id: int,
    signature_name: str,
    output_names: tuple[str, ...],
    inputs: Mapping[str, np.ndarray],
    pad_variable_length_inputs: bool,
) -> QueueKey:
    """Requests batch together only when their key is equal.

    The key holds each input's name, dtype and rank, not its other dimensions, as TF
    Serving keys its batch queues by the signature's tensor names (``batching_session.cc``):
    with padding on, differing lengths are padded to the longest; with padding off, a
    batch whose requests' shapes differ fails (``merge_inputs``). The padding flag is in
    the signature of ``queue_key`` so that callers state it; it no longer changes the key.
    """
    del pad_variable_length_inputs  # see the docstring
    parts: list[object] = [servable_id, signature_name, output_names]
    for name in sorted(inputs):
        array = inputs[name]
        parts.append((name, array.dtype.str, array.ndim))
    return tuple(parts)


def padded_size(size: int, allowed_batch_sizes: Sequence[int]) -> int:
    """The smallest allowed size that holds ``size`` rows (``size`` itself if none set)."""
    for allowed in allowed_batch_sizes:
        if allowed >= size:
            return allowed
    return size


MAX_PADDED_RANK = 6
"""Highest rank ``pad_variable_length_inputs`` pads (TF Serving's ``PadTensorOfSpecificType``)."""


def _pad_to_shape(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``array`` padded after its values to ``(rows, *shape)`` with its own first value.

    TF Serving's ``batching_util.cc`` ``PadTensor``: ``T pad_value(input.flat<T>()(0))``
    ("using existing values in padding"); an empty tensor that needs padding and a rank
    above 6 are INVALID_ARGUMENT, with its messages.
    """
    if array.shape[1:] == shape:
        return array
    if array.ndim > MAX_PADDED_RANK:
        raise invalid_argument("Only tensors with rank from 1 to 6 can be padded.")
    if array.size == 0:
        raise invalid_argument("Got empty tensor in batch of non-empty tensors.")
    widths = [(0, 0)] + [
        (0, target - have) for have, target in zip(array.shape[1:], shape, strict=True)
    ]
    return np.pad(array, widths, mode="constant", constant_values=array.flat[0])


def merge_inputs(
    parts: Sequence[Mapping[str, np.ndarray]], total_size: int, pad_variable_length: bool
) -> dict[str, np.ndarray]:
    """Concatenate each input along dim 0 and pad the batch to ``total_size`` rows.

    Extra rows repeat the first row, as TF Serving's batching does, so padding never
    feeds values the model has not seen. With variable-length padding, each request's
    tensor is padded in its non-batch dimensions to the longest in the batch with its own
    first value (``_pad_to_shape``). Without it, tensors of one name whose non-batch
    dimensions differ fail the whole batch with FAILED_PRECONDITION, in TF Serving's words
    (``batching_session.cc`` ``MergeInputTensors``).
    """
    merged: dict[str, np.ndarray] = {}
    for name in parts[0]:
        arrays = [part[name] for part in parts]
        if pad_variable_length:
            longest = tuple(max(dims) for dims in zip(*(a.shape[1:] for a in arrays), strict=True))
            arrays = [_pad_to_shape(a, longest) for a in arrays]
        elif any(a.shape[1:] != arrays[0].shape[1:] for a in arrays):
            raise failed_precondition(
                f"Tensors with name '{name}' from different tasks have different shapes and "
                "padding is turned off. Set pad_variable_length_inputs to true, or ensure that "
                "all tensors with the same name have equal dimensions starting with the first "
                "dim."
            )
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


def batch_may_wait(*, running_batches: int, waiting_rows: int, last_batch_requests: int) -> bool:
    """Whether a batch opening now may wait for more requests (the cost model's load test).

    Under load means: a batch of the model version runs (``running_batches``), rows of the
    model wait in batches not yet dispatched (``waiting_rows``, the count the batcher keeps
    for its queue-depth gauge), or the version's last batch held more than one request
    (requests kept arriving while it formed; a model call run inline on the event loop
    never shows as running). Otherwise the batch goes out at once.
    """
    return running_batches > 0 or waiting_rows > 0 or last_batch_requests > 1


ARRIVALS_TO_ESTIMATE = 16
"""Gaps measured before ``ArrivalGaps.quiet_after`` says anything."""
ARRIVAL_GAP_WEIGHT = 0.05
"""Weight of the newest gap in the running mean: about the last 20 requests count."""
QUIET_GAPS_TO_CLOSE = 6.0
MIN_QUIET_SECONDS = 100e-6


class ArrivalGaps:
    """The mean gap between one model version's requests, in constant memory.

    ``observe(now, longest)`` is called once per request; a gap is counted at most
    ``longest`` (the batching timeout: an idle minute says nothing about the next
    batch). ``quiet_after()`` is how long without a request means no more are coming,
    or None before ``ARRIVALS_TO_ESTIMATE`` gaps were measured.
    """

    __slots__ = ("gaps", "last_at", "mean_seconds")

    def __init__(self) -> None:
        self.last_at: float | None = None
        self.mean_seconds = 0.0
        self.gaps = 0

    def observe(self, now: float, longest: float) -> None:
        if self.last_at is not None:
            gap = min(max(now - self.last_at, 0.0), longest)
            if self.gaps == 0:
                self.mean_seconds = gap
            else:
                self.mean_seconds += ARRIVAL_GAP_WEIGHT * (gap - self.mean_seconds)
            self.gaps += 1
        self.last_at = now

    def quiet_after(self) -> float | None:
        if self.gaps < ARRIVALS_TO_ESTIMATE:
            return None
        return max(QUIET_GAPS_TO_CLOSE * self.mean_seconds, MIN_QUIET_SECONDS)


def cost_model_close_time(
    *, opened_at: float, budget_seconds: float, line: CostLine | None, rows: int, next_rows: int
) -> float:
    """When a batch of ``rows`` rows, opened at ``opened_at``, stops waiting.

    It is the last moment at which a request of ``next_rows`` more rows could still join
    and the batch finish, by the cost line, within ``budget_seconds`` of ``opened_at``.
    Without a line (not enough calls measured yet) it is the budget's end. The batcher
    also closes it at the budget's end in any case, so the result only ever brings the
    close earlier.
    """
    end = opened_at + budget_seconds
    if line is None:
        return end
    return min(end, end - line.seconds(rows + next_rows))


def check_request_size(size: int, settings: BatchingSettings) -> None:
    """Reject a request that no batch could hold, naming the limit."""
    if size > settings.max_batch_size and not settings.enable_large_batch_splitting:
        raise invalid_argument(
            f"Task size {size} is larger than maximum input batch size {settings.max_batch_size} "
            "(max_batch_size); enable_large_batch_splitting would split it"
        )


__all__ = [
    "QueueKey",
    "batch_may_wait",
    "batch_size_of",
    "check_request_size",
    "cost_model_close_time",
    "merge_inputs",
    "padded_size",
    "queue_key",
    "split_outputs",
]
