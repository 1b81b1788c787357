"""Warmup settings and where a version keeps its warmup records; no framework imported.

TF Serving's warmup-record replay (``servables.tensorflow.warmup``) works on any
``Servable``, but it reads TFRecord files and so imports TensorFlow. The composition root
builds ``WarmupOptions`` and checks ``warmup_file`` here, so that a version of any
platform without a warmup file loads without TensorFlow being imported.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

ASSETS_EXTRA_DIR = "assets.extra"
WARMUP_REQUESTS_FILE = "tf_serving_warmup_requests"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WarmupOptions:
    """Warmup settings shared by every version of every model."""

    enabled: bool = True
    """``--enable_model_warmup``: replay the warmup file when a version has one."""
    iterations: int = 1
    """``--num_request_iterations_for_warmup``: times each record is replayed."""
    check_method_names: bool = False
    """``--enable_signature_method_name_check``, applied to replayed Classify/Regress."""
    observer: Callable[[str, float], None] | None = None
    """Called with (model name, seconds) after a warmup succeeded; for metrics."""


def warmup_file(version_path: str) -> str:
    """``<version>/assets.extra/tf_serving_warmup_requests``, present or not."""
    return os.path.join(version_path, ASSETS_EXTRA_DIR, WARMUP_REQUESTS_FILE)


def wants_warmup(version_path: str, options: WarmupOptions) -> bool:
    """Warmup is enabled and the version has a warmup file."""
    return options.enabled and os.path.exists(warmup_file(version_path))
