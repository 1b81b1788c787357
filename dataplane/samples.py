"""Sample ``:predict`` bodies for a signature (``gen_json``), from its ``TensorSpec``s alone.

Platform-neutral: only the signature's dtypes and shapes are read, so every platform's
models get the same treatment.

Contract of ``sample_body(signature, batch=N, row_format=...)``:
- the batch dimension (dimension 0 of a shape whose first dimension is -1) becomes ``N``;
  every other -1 dimension becomes 1; an unknown rank is taken as ``[-1]``;
- values are deterministic: element ``i`` (row-major over the whole tensor) of a float
  input is ``(i % 10) / 10``, of an integer input ``i % 10``, of a bool input
  ``i % 2 == 0``; a complex element is ``[(i % 10) / 10, 0.0]``; a string element is
  ``{"b64": base64("sample-<i>")}``;
- row format (``instances``) needs every input to have a batch dimension, as TF Serving
  reads instance ``i`` as row ``i`` of each input: otherwise INVALID_ARGUMENT naming the
  input. ``row_format=None`` picks row format when it is possible, columnar otherwise;
- the body names its signature, so posting it back as it is reaches that signature, and
  the data plane accepts it (right names, dtypes and shapes).
"""

from __future__ import annotations

import base64
from typing import Any

from protocol.dtypes import DType
from protocol.signatures import Signature, TensorSpec
from protocol.status import invalid_argument

_FLOATS = {DType.DT_FLOAT, DType.DT_DOUBLE, DType.DT_HALF, DType.DT_BFLOAT16}
_COMPLEX = {DType.DT_COMPLEX64, DType.DT_COMPLEX128}
MAX_SAMPLE_ELEMENTS = 1_000_000


def concrete_shape(spec: TensorSpec, batch: int) -> tuple[int, ...]:
    """``spec``'s shape with -1 at dimension 0 set to ``batch`` and other -1s set to 1."""
    shape = spec.shape if spec.shape is not None else (-1,)
    return tuple(
        (batch if index == 0 else 1) if dim < 0 else dim for index, dim in enumerate(shape)
    )


def has_batch_dimension(spec: TensorSpec) -> bool:
    return spec.shape is None or (len(spec.shape) > 0 and spec.shape[0] < 0)


def _element(dtype: int, index: int) -> Any:
    if dtype in _FLOATS:
        return (index % 10) / 10
    if dtype in _COMPLEX:
        return [(index % 10) / 10, 0.0]
    if dtype == DType.DT_BOOL:
        return index % 2 == 0
    if dtype == DType.DT_STRING:
        return {"b64": base64.b64encode(f"sample-{index}".encode()).decode("ascii")}
    return index % 10


def sample_value(spec: TensorSpec, batch: int) -> Any:
    """The nested-list value of one input (a bare element for a scalar)."""
    shape = concrete_shape(spec, batch)
    size = size_of(shape)
    if size > MAX_SAMPLE_ELEMENTS:
        raise invalid_argument(
            f"input '{spec.alias}' would hold {size} sample elements (shape {list(shape)}); "
            f"at most {MAX_SAMPLE_ELEMENTS} are generated"
        )
    flat = [_element(spec.dtype, index) for index in range(size)]

    def nest(offset: int, dims: tuple[int, ...]) -> Any:
        if not dims:
            return flat[offset]
        stride = size_of(dims[1:])
        return [nest(offset + i * stride, dims[1:]) for i in range(dims[0])]

    return nest(0, shape)


def size_of(dims: tuple[int, ...]) -> int:
    size = 1
    for dim in dims:
        size *= dim
    return size


def sample_body(
    signature: Signature, *, batch: int = 1, row_format: bool | None = None
) -> dict[str, Any]:
    """A ``:predict`` body for ``signature`` (contract in the module doc)."""
    if batch < 1:
        raise invalid_argument(f"batch must be at least 1, got {batch}")
    unbatched = [alias for alias, spec in signature.inputs.items() if not has_batch_dimension(spec)]
    if row_format is None:
        row_format = not unbatched and bool(signature.inputs)
    if row_format and unbatched:
        raise invalid_argument(
            f"row format needs a batch dimension on every input, and input '{unbatched[0]}' has none; "
            "ask for format=columnar"
        )
    values = {alias: sample_value(spec, batch) for alias, spec in sorted(signature.inputs.items())}
    body: dict[str, Any] = {"signature_name": signature.name}
    if not row_format:
        body["inputs"] = values
    elif len(values) == 1:
        body["instances"] = next(iter(values.values()))
    else:
        body["instances"] = [
            {alias: value[row] for alias, value in values.items()} for row in range(batch)
        ]
    return body
