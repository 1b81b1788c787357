"""What every platform's loader shares about a version folder: its artifact and extras.

- ``PLATFORM_FILES`` (kept in ``config.model_files``, which also tells a platform from
  the files) names, per ``model_platform``, the files that make a version folder
  loadable, in the order a loader looks for them. The path poller counts a folder as a
  version only once one of these exists (``has_artifact``), so a half-copied folder is
  never handed to a loader; a loader opens ``artifact_file``, the first one present.
- ``per_model_batching_settings`` reads a version's own ``batching_params.pbtxt``
  (``--enable_per_model_batching_parameters``), the same for every platform.
- ``VersionExtras`` is what the composition root hands every loader besides the path:
  whether to read that file, and the warmup hook (TF Serving's warmup-record replay,
  which works on any ``Servable``; it lives with TensorFlow because it reads TFRecords).
  ``finish_load`` applies both before ``load()`` returns, unloading the servable when
  either fails, so a version never becomes AVAILABLE unwarmed or half set up.

Nothing here imports a machine-learning framework.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Final

from config.batching_config import BatchingSettings, load_batching_parameters
from config.model_files import (
    PLATFORM_FILES as PLATFORM_FILES,
)  # re-exported: loaders, object store
from servables.servable import Servable

PER_MODEL_BATCHING_FILES: Final = (
    "batching_params.pbtxt",
    os.path.join("assets.extra", "batching_params.pbtxt"),
)

Warmup = Callable[[Servable, str], object]
"""``(servable, version_path)``: replays the version's warmup records; raises to fail the load."""


def artifact_file(platform: str, version_path: str) -> str | None:
    """The first of ``platform``'s artifact files present in ``version_path``, or None."""
    for name in PLATFORM_FILES.get(platform, ()):
        path = os.path.join(version_path, name)
        if os.path.isfile(path):
            return path
    return None


def has_artifact(platform: str, version_path: str) -> bool:
    return artifact_file(platform, version_path) is not None


def require_artifact(platform: str, version_path: str) -> str:
    """``artifact_file`` or FileNotFoundError naming the files looked for."""
    found = artifact_file(platform, version_path)
    if found is None:
        names = " or ".join(PLATFORM_FILES.get(platform, ()))
        raise FileNotFoundError(f"no {names} in {version_path}")
    return found


def per_model_batching_settings(version_path: str) -> BatchingSettings | None:
    """``--enable_per_model_batching_parameters``: a version's own ``batching_params.pbtxt``.

    Looked up in the version folder, then in its ``assets.extra/``. None when there is
    none; a malformed file raises ``ConfigError`` naming it, which fails the load.
    """
    for relative in PER_MODEL_BATCHING_FILES:
        path = os.path.join(version_path, relative)
        if os.path.isfile(path):
            return load_batching_parameters(path)
    return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VersionExtras:
    """Per-version steps every platform's loader runs after the model itself loaded."""

    per_model_batching: bool = False
    warmup: Warmup | None = None


def finish_load(servable: Servable, version_path: str, extras: VersionExtras) -> None:
    """Per-model batching, then warmup; on failure unloads ``servable`` and re-raises."""
    try:
        if extras.per_model_batching:
            servable.batching = per_model_batching_settings(version_path)
        if extras.warmup is not None:
            extras.warmup(servable, version_path)
    except BaseException:
        servable.unload()
        raise
