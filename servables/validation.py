"""Checks of a request's tensors against a signature, the same for every API and platform.

- ``check_inputs``: exactly the signature's input aliases, each with the signature's
  dtype (any string-like array for a DT_STRING input); INVALID_ARGUMENT naming the extra,
  missing or mistyped input otherwise. Shapes are not checked, as TF Serving does not
  check them either.
- ``check_outputs``: the requested output aliases exist and are distinct; no request
  means every output, sorted by alias.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from protocol.dtypes import dtype_name, dtype_to_numpy
from protocol.signatures import Signature
from protocol.status import invalid_argument


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
    for alias, array in inputs.items():
        want = dtype_to_numpy(expected[alias].dtype)
        if array.dtype != want and not (array.dtype.kind in "OSU" and want.kind == "O"):
            raise invalid_argument(
                f'Input "{alias}" is {array.dtype.name} but signature "{signature.name}" '
                f"expects {dtype_name(expected[alias].dtype)}"
            )


def check_outputs(signature: Signature, output_filter: Sequence[str]) -> tuple[str, ...]:
    """The outputs to compute: the filter (validated) or every output, sorted."""
    if not output_filter:
        return tuple(sorted(signature.outputs))
    for alias in output_filter:
        if alias not in signature.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{','.join(sorted(signature.outputs))}}}."
            )
    if len(set(output_filter)) != len(output_filter):
        raise invalid_argument(
            f"duplicate output tensor alias in output_filter: {list(output_filter)}"
        )
    return tuple(output_filter)
