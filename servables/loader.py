"""A ``Loader``: the seam between a version folder on disk and a ``Servable`` in memory.

The source adapter creates one per aspired version path (creating it does no I/O). The
version manager's effect runner calls ``load()`` in the executor pool's load lane (it
blocks and may take seconds) and retries it as the flags say. ``load()`` either returns a
ready ``Servable`` or raises; it never leaves half-initialised state behind. A platform
adds a loader class (a ``VersionLoader`` of its options type) and the composition root registers a factory for it with the source
adapter.
"""

from __future__ import annotations

import abc
from typing import Generic, TypeVar

from servables.servable import Servable

OptionsT = TypeVar("OptionsT")


class Loader(abc.ABC):
    """Knows how to load one version of one model."""

    model_name: str
    version: int
    path: str

    @abc.abstractmethod
    def load(self) -> Servable:
        """Load the version; blocks. Raises any exception on failure."""

    def describe(self) -> str:
        return f"{self.model_name} version {self.version} from {self.path}"


class VersionLoader(Loader, Generic[OptionsT]):
    """A platform's loader: one version folder, read with that platform's options."""

    def __init__(self, *, model_name: str, version: int, path: str, options: OptionsT) -> None:
        self.model_name = model_name
        self.version = version
        self.path = path
        self._options = options
