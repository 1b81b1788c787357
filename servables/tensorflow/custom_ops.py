"""Custom op libraries (``--custom_op_paths``), loaded once at start-up before any model.

A SavedModel whose graph uses an op that is not registered in this process fails to
load, so the composition root calls ``load_custom_ops`` before it builds anything that
loads a model, with the library files the configuration resolved (a directory given on
the command line stands for its ``*.so`` files, in name order). Libraries are loaded
with ``tf.load_op_library``, which registers their ops and kernels for the whole
process; they are never unloaded.

A path that does not exist, and a library that fails to load (not a shared library, an
unresolved symbol, built against another TensorFlow), raise ``ConfigError`` naming the
file, before any library after it is tried; ``server.py`` prints it and exits non-zero.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import tensorflow as tf

from config.errors import ConfigError

log = logging.getLogger(__name__)


def load_custom_ops(libraries: Iterable[Path | str]) -> list[str]:
    """Load every library file, in order; returns their paths in load order."""
    loaded: list[str] = []
    for library in libraries:
        try:
            tf.load_op_library(str(library))
        except tf.errors.OpError as error:
            raise ConfigError(library, f"cannot load custom op library: {error.message}") from error
        log.info("loaded custom op library %s", library)
        loaded.append(str(library))
    return loaded
