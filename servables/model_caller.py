"""How a model calls another model of the same server (Triton's BLS), without the data plane.

A ``ModelCaller`` is handed to the loaders that need it (the Python platform) by the
composition root, which builds it on the data plane; servables never import the data plane.

Contract of ``caller(model_name, version, inputs, output_names, timeout_seconds)``:

- It blocks its thread until the call finished, and is called only from a worker thread
  (never the event loop's: a servable that uses it sets ``may_run_inline = False``).
- ``version`` None means the version the server would pick (the latest available).
- ``inputs`` are the other model's signature inputs by name; ``output_names`` empty
  means every output. It returns the outputs by name.
- A failure raises ``ServingError`` with the status the other model's call ended with
  (NOT_FOUND for an unknown model, INVALID_ARGUMENT for inputs that do not fit, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np


class ModelCaller(Protocol):
    def __call__(
        self,
        model_name: str,
        version: int | None,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str],
        timeout_seconds: float | None,
    ) -> dict[str, np.ndarray]: ...
