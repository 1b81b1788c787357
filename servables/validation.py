"""Checks of a request's tensors against a signature, the same for every API and platform.

- ``check_inputs``: exactly the signature's input aliases, each with the signature's
  dtype (any string-like array for a DT_STRING input); INVALID_ARGUMENT naming the extra,
  missing or mistyped input otherwise (a dtype error in TF's words, "Expects arg[i] to be
  float but bool is provided", i the input's place among the sorted aliases). Shapes are not checked, as TF Serving does not
  check them either.
- ``check_outputs``: the requested output aliases exist and are distinct; no request
  means every output, sorted by alias.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from protocol.dtypes import dtype_name, dtype_to_numpy, numpy_to_dtype, tf_type_string
from protocol.signatures import Signature
from protocol.status import ServingError, invalid_argument


def check_inputs(signature: Signature, inputs: Mapping[str, np.ndarray]) -> None:
    """INVALID_ARGUMENT unless ``inputs`` has exactly the signature's aliases and dtypes."""
    expected = signature.inputs
    if inputs.keys() != expected.keys():
        sent, wanted = set(inputs), set(expected)
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(wanted)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(wanted))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
            f"Missing but required: {{{','.join(sorted(wanted - sent))}}}."
        )
    for index, alias in enumerate(sorted(inputs)):
        array = inputs[alias]
        want = dtype_to_numpy(expected[alias].dtype)
        if array.dtype != want and not (array.dtype.kind in "OSU" and want.kind == "O"):
            # TF's own words first (its runtime's check, which TF Serving passes on), then
            # which input of which signature.
            raise invalid_argument(
                f"Expects arg[{index}] to be {tf_type_string(expected[alias].dtype)} but "
                f'{_sent_type(array.dtype)} is provided (input "{alias}" of signature '
                f'"{signature.name}" is {dtype_name(expected[alias].dtype)})'
            )


def _sent_type(dtype: np.dtype[Any]) -> str:
    try:
        return tf_type_string(numpy_to_dtype(dtype))
    except ServingError:
        return dtype.name


def check_outputs(signature: Signature, output_filter: Sequence[str]) -> tuple[str, ...]:
    """The outputs to compute: the filter (validated) or every output, sorted."""
    if not output_filter:
        return tuple(sorted(signature.outputs))
    seen: set[str] = set()
    for alias in output_filter:  # one pass, in order, as TF Serving's predict_util.cc
        if alias not in signature.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{','.join(sorted(signature.outputs))}}}."
            )
        if alias in seen:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return tuple(output_filter)
