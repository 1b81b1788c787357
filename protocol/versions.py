"""The states a model version goes through, as the status APIs report them.

The numbers are TF Serving's ``ModelVersionStatus.State`` values, so GetModelStatus and
the REST status document carry them unchanged.
"""

from __future__ import annotations

import dataclasses
import enum

from protocol.status import Code


class VersionState(enum.Enum):
    """Life-cycle states of a version.

    START: the version is aspired but its load has not begun.
    LOADING: its loader is running (including retries and warmup).
    AVAILABLE: it is in the routing snapshot and serves requests.
    UNLOADING: it left the snapshot; in-flight requests finish, then resources go.
    END: it is gone, either unloaded or failed (then ``error`` says why).
    """

    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VersionStatus:
    """A version's state for status APIs; ``error`` is set for a failed load and
    ``error_code`` is then the loader's own status code (UNKNOWN when it had none)."""

    version: int
    state: VersionState
    error: str | None = None
    error_code: Code = Code.UNKNOWN
