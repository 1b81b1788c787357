"""Default connection caps, derived from the process's open-file limit.

Every open connection holds a file descriptor. With no cap, idle REST clients alone can
take every descriptor the process may open (1,100 idle connections under a soft
``RLIMIT_NOFILE`` of 1024 stopped both APIs), and then gRPC accepts nothing either, nor
can a model version's files be opened. So unless ``--rest_max_connections`` says
otherwise, each API gets an equal share of what the limit leaves after
``RESERVED_DESCRIPTORS`` (model files, logs, worker links, listening sockets): one API can
never starve the other, nor the server itself.

``connection_caps(options, descriptor_limit)`` is pure: the caller reads the limit (after
raising the soft limit to the hard one, ``server.raise_file_limit``) and logs the result.
A cap of 0 means no limit: an unlimited descriptor limit, or ``--rest_max_connections=0``.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from config.flags import ServerOptions

RESERVED_DESCRIPTORS: Final = 128
"""Descriptors kept back from the connection caps for everything else the server opens."""
MIN_CONNECTION_CAP: Final = 16
"""The smallest derived cap, however low the limit (a server must take some clients)."""
DERIVED: Final = -1
"""``--rest_max_connections`` value meaning "derive the cap from the open-file limit"."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionCaps:
    """Most connections each API holds open at once; 0: no limit."""

    rest: int
    grpc: int
    descriptor_limit: int | None
    """The soft ``RLIMIT_NOFILE`` they were derived from (None: unlimited or unknown)."""
    derived: bool
    """True when the REST cap came from the limit rather than from the flag."""

    def describe(self) -> str:
        """One start-up log line's worth."""
        limit = "unlimited" if self.descriptor_limit is None else str(self.descriptor_limit)
        how = (
            f"derived from RLIMIT_NOFILE {limit}, {RESERVED_DESCRIPTORS} reserved"
            if self.derived
            else "REST cap given on the command line"
        )
        return (
            f"connection caps: REST {self.rest or 'unlimited'}, "
            f"gRPC {self.grpc or 'unlimited'} ({how})"
        )


def default_connection_cap(descriptor_limit: int | None, apis: int) -> int:
    """An equal share, for each of ``apis`` APIs, of the descriptors left after the reserve."""
    if descriptor_limit is None:
        return 0
    share = (descriptor_limit - RESERVED_DESCRIPTORS) // max(apis, 1)
    return max(MIN_CONNECTION_CAP, share)


def connection_caps(options: ServerOptions, descriptor_limit: int | None) -> ConnectionCaps:
    """The caps for ``options`` under a soft open-file limit of ``descriptor_limit``."""
    apis = int(options.grpc_enabled) + int(options.rest_enabled)
    share = default_connection_cap(descriptor_limit, apis)
    derived = options.rest_max_connections == DERIVED
    return ConnectionCaps(
        rest=share if derived else options.rest_max_connections,
        grpc=share,
        descriptor_limit=descriptor_limit,
        derived=derived,
    )


def current_descriptor_limit() -> int | None:
    """This process's soft ``RLIMIT_NOFILE`` (None when unlimited or not POSIX)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)
