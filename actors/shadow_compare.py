"""How far a shadow version's answer is from the primary's: a pure comparison of outputs.

``compare_outputs(primary, shadow)`` takes the named output arrays of one request as
both versions answered it and returns an ``Agreement``:

- ``max_abs_difference``: the largest ``|primary - shadow|`` over every element of every
  numeric output (bool, integer, floating; compared as float64). A NaN on one side only
  counts as an infinite difference; NaN on both sides as none. ``None`` when no numeric
  output could be compared.
- ``argmax_rows`` / ``argmax_equal_rows``: for classifier-like outputs (floating, at
  least two dimensions, at least two classes in the last one) the rows compared and the
  rows whose argmax over the last axis is the same. Their ratio is the share of
  identical argmax.
- ``differing_outputs``: outputs that could not be compared element by element (missing
  on one side, or of another shape), and non-numeric outputs (strings) that are not
  equal. Names only, sorted.

Outputs only the shadow has are ignored (the client saw the primary's). The arrays are
only read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

_NUMERIC_KINDS = "biuf"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Agreement:
    max_abs_difference: float | None
    argmax_rows: int
    argmax_equal_rows: int
    differing_outputs: tuple[str, ...]


def compare_outputs(
    primary: Mapping[str, np.ndarray[Any, Any]], shadow: Mapping[str, np.ndarray[Any, Any]]
) -> Agreement:
    """Compare one request's outputs (see the module docstring)."""
    largest: float | None = None
    argmax_rows = argmax_equal_rows = 0
    differing: list[str] = []
    for name, expected in primary.items():
        got = shadow.get(name)
        if got is None or np.shape(got) != np.shape(expected):
            differing.append(name)
            continue
        ours, theirs = np.asarray(expected), np.asarray(got)
        if ours.dtype.kind not in _NUMERIC_KINDS or theirs.dtype.kind not in _NUMERIC_KINDS:
            if not np.array_equal(ours, theirs):
                differing.append(name)
            continue
        difference = _max_abs_difference(ours, theirs)
        largest = difference if largest is None else max(largest, difference)
        if ours.dtype.kind == "f" and ours.ndim >= 2 and ours.shape[-1] >= 2:
            same = np.argmax(ours, axis=-1) == np.argmax(theirs, axis=-1)
            argmax_rows += int(same.size)
            argmax_equal_rows += int(np.count_nonzero(same))
    return Agreement(
        max_abs_difference=largest,
        argmax_rows=argmax_rows,
        argmax_equal_rows=argmax_equal_rows,
        differing_outputs=tuple(sorted(differing)),
    )


def _max_abs_difference(ours: np.ndarray[Any, Any], theirs: np.ndarray[Any, Any]) -> float:
    if ours.size == 0:
        return 0.0
    a = ours.astype(np.float64, copy=False)
    b = theirs.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", over="ignore"):
        difference = np.abs(a - b)
    a_nan, b_nan = np.isnan(a), np.isnan(b)
    difference[a_nan & b_nan] = 0.0
    difference[a_nan ^ b_nan] = np.inf
    difference[np.isnan(difference)] = np.inf  # inf - inf: the two sides disagree
    return float(difference.max())
