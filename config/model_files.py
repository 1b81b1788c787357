"""Which files make a model of each platform, and telling the platform from the files.

- ``PLATFORM_FILES`` names, per ``model_platform``, the files that make a version folder
  loadable, in the order a loader looks for them. It is the one table to extend when a
  platform is added: the path poller's half-copy rule, the loaders and the detection
  below all read it.
- ``detect_platform(base_path)`` is what a model without ``model_platform`` is served
  as (KServe's runtimes cannot pass one: they only fill in an InferenceService's name).
  It looks at the files directly in ``base_path`` (KServe's ``/mnt/models`` holds them
  there) and in each numbered version folder, one level deep:

  * exactly one platform's artifact is found: that platform;
  * artifacts of two or more platforms: ``ModelFilesError`` naming each file found and
    the platform it means (set ``model_platform`` to choose);
  * files, but none that any platform loads: ``ModelFilesError`` naming what was found
    and what is looked for;
  * nothing at all (an empty base path, only empty version folders, or only other
    folders such as ``lost+found``; hidden names never count): ``None``, and
    the caller keeps TF Serving's default, ``tensorflow``, so that a server started
    before its first export waits for it as TF Serving does.

  It reads the disk once, when the config is read; it never imports a framework.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

PLATFORM_FILES: Final[Mapping[str, tuple[str, ...]]] = {
    "tensorflow": (
        "saved_model.pb",
        "saved_model.pbtxt",
        # Triton's layout: the SavedModel in the version folder's model.savedmodel/.
        os.path.join("model.savedmodel", "saved_model.pb"),
        os.path.join("model.savedmodel", "saved_model.pbtxt"),
    ),
    "onnx": ("model.onnx",),
    "sklearn": ("model.joblib", "model.pkl"),
    "xgboost": ("model.ubj", "model.json", "model.bst"),
    "pytorch": ("model.pt", "model.pt2"),
    "python": ("model.py",),
    "lightgbm": ("model.txt",),
    "catboost": ("model.cbm",),
}

_PLATFORM_OF_FILE: Final[Mapping[str, str]] = {
    name: platform
    for platform, names in PLATFORM_FILES.items()
    for name in names
    if os.sep not in name
}
_PLATFORM_OF_FOLDER: Final[Mapping[str, str]] = {
    name.split(os.sep)[0]: platform
    for platform, names in PLATFORM_FILES.items()
    for name in names
    if os.sep in name
}
"""Folders that are an artifact (Triton's ``model.savedmodel/``), by name."""

_LISTED_NAMES_MAX: Final = 8
"""How many of the unrecognised names an error lists before it says "and N more"."""


class ModelFilesError(ValueError):
    """A base path whose files do not say which platform serves it."""


def platform_of_file(name: str) -> str | None:
    """The platform whose artifact ``name`` (a file name, no folder) is, or None."""
    return _PLATFORM_OF_FILE.get(name)


def _platform_of(relative: str) -> str | None:
    """The platform of a listed file, or of a listed folder (``1/model.savedmodel/``)."""
    if relative.endswith("/"):
        return _PLATFORM_OF_FOLDER.get(os.path.basename(relative[:-1]))
    return platform_of_file(os.path.basename(relative))


def detect_platform(base_path: str) -> str | None:
    """The platform ``base_path``'s files mean, None when it holds no files yet.

    Raises ``ModelFilesError`` (see the module docstring) when the files are ambiguous
    or none of them is a model, and ``OSError`` when ``base_path`` cannot be listed.
    """
    artifacts: list[tuple[str, str]] = []  # (path relative to base_path, platform)
    others: list[str] = []
    for relative in _candidate_files(base_path):
        platform = _platform_of(relative)
        if platform is None:
            others.append(relative)
        else:
            artifacts.append((relative, platform))
    platforms = sorted({platform for _, platform in artifacts})
    if len(platforms) == 1:
        return platforms[0]
    if platforms:
        found = ", ".join(f"{relative} ({platform})" for relative, platform in sorted(artifacts))
        raise ModelFilesError(
            f"cannot tell the platform of {base_path}: it holds models of "
            f"{len(platforms)} platforms: {found}; set model_platform to choose one"
        )
    if not others:
        return None
    raise ModelFilesError(
        f"no model file in {base_path} or its version folders: found {_list(others)}; "
        f"looked for {expected_files()}"
    )


def expected_files() -> str:
    """``saved_model.pb or saved_model.pbtxt (tensorflow), ...``: every known artifact."""
    return ", ".join(
        f"{' or '.join(names)} ({platform})" for platform, names in PLATFORM_FILES.items()
    )


def _candidate_files(base_path: str) -> list[str]:
    """Files directly in ``base_path``, and what its numbered folders hold, relative to it.

    Hidden names and other folders (``lost+found``, ``assets``) are skipped, as the path
    poller skips them; a folder inside a version folder is listed as ``1/variables/``.
    """
    found: list[str] = []
    for entry in _visible_entries(base_path):
        if entry.is_file():
            found.append(entry.name)
        elif entry.is_dir() and entry.name in _PLATFORM_OF_FOLDER:
            found.append(entry.name + "/")
        elif entry.is_dir() and entry.name.isascii() and entry.name.isdigit():
            found.extend(
                os.path.join(entry.name, inner.name) + ("" if inner.is_file() else "/")
                for inner in _visible_entries(entry.path)
            )
    return found


def _visible_entries(path: str) -> list[os.DirEntry[str]]:
    with os.scandir(path) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def _list(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED_NAMES_MAX])
    rest = len(names) - _LISTED_NAMES_MAX
    return shown + (f" and {rest} more" if rest > 0 else "")
