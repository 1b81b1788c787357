"""What a request names: a model, and at most one of a version number or a version label.

Both APIs reduce their addressing (a gRPC ``ModelSpec``, a REST URL) to a ``ModelRef``
once; the data plane resolves it against the routing snapshot.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ModelRef:
    """A model name, with ``version`` or ``label`` (never both) or neither (the latest)."""

    name: str
    version: int | None = None
    label: str | None = None
