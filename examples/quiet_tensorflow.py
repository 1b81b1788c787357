"""TensorFlow's start-up noise kept out of the example programs; ``--verbose`` lets it through.

Importing TensorFlow writes absl's "before InitializeLog" banner, the oneDNN notice and
its CUDA probing to stderr (file descriptor 2) before any log level applies, and the first
use of a device writes "failed call to cuInit" on a machine without a GPU. Wrap both in
``tensorflow_quiet()``: it is the server's filter (``app.log_format.native_stderr_filtered``),
so every other stderr line written inside comes back, in order, when the block ends.

``VERBOSE`` is true when the program was started with ``--verbose`` (each example's
argument parser accepts it, and so does the server's, which imports the exporter during
its first run); then nothing is filtered.
"""

from __future__ import annotations

import contextlib
import os
import sys

from app.log_format import native_stderr_filtered

VERBOSE = any(arg in ("--verbose", "--verbose=true", "--verbose=1") for arg in sys.argv[1:])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if VERBOSE else "2")  # before TF's import


def tensorflow_quiet() -> contextlib.AbstractContextManager[None]:
    """The filter, or nothing with ``--verbose``."""
    return native_stderr_filtered(VERBOSE)


VERBOSE_HELP = "show TensorFlow's start-up messages (absl, oneDNN, CUDA probing)"
