"""A Triton model repository (``--model_repository DIR``) as the server's list of models.

Input is a folder laid out as Triton's: each sub-folder is a model named after it, its
numbered sub-folders are versions, and its ``config.pbtxt`` (optional) is Triton's model
configuration (``config.triton_model_config``). Output is the same ``ModelServerSettings``
that ``models.config`` gives, so the rest of the server serves these models unchanged, on
both APIs.

Contract:

- A sub-folder is a model when it holds a ``config.pbtxt``, or, as with Triton's
  auto-complete, when one of its version folders holds an artifact that tells the
  platform (``ARTIFACT_PLATFORMS``: ``model.onnx``, ``model.savedmodel/``, ``model.pt``,
  ``model.pt2``, ``model.py``). Other sub-folders (and files) are skipped.
- The platform comes from the ``config.pbtxt`` platform or backend, else from the
  artifact; the version policy from its ``version_policy`` (Triton's default: latest 1).
- Everything else in ``config.pbtxt`` (tensors, ``max_batch_size``, ``dynamic_batching``)
  is read by the model's loader from the same file when a version loads.
- Errors raise ``ConfigError`` naming the file: an unparsable ``config.pbtxt``, an unknown
  platform, a ``name`` that differs from the folder's, a missing folder, and (in
  ``merge_model_lists``) a model name both ``models.config`` and the repository use.
- The folder is read once, at start-up; versions appearing later are found by the path
  poller as for any model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from config.errors import ConfigError
from config.model_config import Latest, ModelServerSettings, ModelSettings
from config.triton_model_config import CONFIG_FILE, read_triton_config

# Triton's artifact names in a version folder -> our model_platform.
ARTIFACT_PLATFORMS: Final[Mapping[str, str]] = {
    "model.onnx": "onnx",
    "model.savedmodel": "tensorflow",
    "model.pt": "pytorch",
    "model.pt2": "pytorch",
    "model.py": "python",
}


def platform_from_artifacts(model_dir: Path) -> str | None:
    """The platform the newest version folder's artifact tells, or None."""
    versions = sorted(
        (child for child in model_dir.iterdir() if child.is_dir() and child.name.isdigit()),
        key=lambda child: int(child.name),
        reverse=True,
    )
    for version in versions:
        for name, platform in ARTIFACT_PLATFORMS.items():
            if (version / name).exists():
                return platform
    return None


def load_model_repository(directory: str | os.PathLike[str]) -> ModelServerSettings:
    """The models of the Triton repository at ``directory`` (see the module docstring)."""
    root = Path(os.path.normpath(Path(directory).absolute()))
    if not root.is_dir():
        raise ConfigError(os.fspath(directory), "the model repository is not a directory")
    models: list[ModelSettings] = []
    for model_dir in sorted(child for child in root.iterdir() if child.is_dir()):
        config_path = model_dir / CONFIG_FILE
        config = read_triton_config(config_path) if config_path.is_file() else None
        if config is not None and config.name and config.name != model_dir.name:
            raise ConfigError(
                config_path,
                f"name '{config.name}' differs from the model's folder '{model_dir.name}'",
                field="name",
            )
        platform = (config.platform if config else None) or platform_from_artifacts(model_dir)
        if platform is None:
            if config is not None:
                raise ConfigError(
                    config_path,
                    "no platform or backend, and no version folder holds a model.onnx, "
                    "model.savedmodel, model.pt, model.pt2 or model.py to tell it",
                )
            continue
        models.append(
            ModelSettings(
                name=model_dir.name,
                base_path=str(model_dir),
                platform=platform,
                version_policy=config.version_policy if config else Latest(),
            )
        )
    return ModelServerSettings(models=tuple(models), source=str(root))


def merge_model_lists(
    first: ModelServerSettings, second: ModelServerSettings
) -> ModelServerSettings:
    """``first``'s models then ``second``'s; a name in both is a ``ConfigError``."""
    names = set(first.names)
    for model in second.models:
        if model.name in names:
            raise ConfigError(
                second.source,
                f"model '{model.name}' is also listed in {first.source}: names must be unique",
            )
    return ModelServerSettings(
        models=first.models + second.models, source=f"{first.source} + {second.source}"
    )
