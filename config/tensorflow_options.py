"""TensorFlow session options and custom op libraries, resolved from the flags without TensorFlow.

``resolve_tensorflow_settings(options, platform)`` returns the serialized
``tensorflow.ConfigProto`` every model version's session is created with, the ``.so``
files to load before any model, and the start-up warnings that need no TensorFlow.
Nothing here imports TensorFlow; ``servables.tensorflow.session_options`` turns the
bytes into TensorFlow's ``ConfigProto`` and adds the warnings that depend on TensorFlow's
state in the process (a GPU visible, the eager runtime started).

The session config, without ``--platform_config_file``:

1. ``--tensorflow_session_config_file`` (``ConfigProto`` text), or an empty config;
2. ``--tensorflow_session_parallelism`` sets ``intra_op_parallelism_threads`` and
   ``inter_op_parallelism_threads`` where the two flags below are 0;
3. ``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism`` override;
4. ``--per_process_gpu_memory_fraction`` sets ``gpu_options.per_process_gpu_memory_fraction``.

A flag left at 0 leaves the file's value alone. All three parallelism flags together are
refused before this runs (``config.server_config``), as TF Serving refuses them; where a
flag and the file disagree, the flag wins.

With ``--platform_config_file`` the session config is the platform config's
``session_config`` and the flags above are ignored, as in TF Serving; each one that was
given is named in a warning (``config.platform_config.overridden_flags``).

Either way the config is checked by ``config.session_config``: fields that would fail
every load are a ``ConfigError``; fields only distributed sessions read are warnings.

Custom ops (``--custom_op_paths``): each path is a library file, or a directory whose
``*.so`` files are all taken, sorted by name. A path that does not exist is a
``ConfigError``; a directory without ``.so`` files is a warning. Loading them is
``actors.custom_ops``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from config.errors import COMMAND_LINE, ConfigError
from config.flags import ServerOptions
from config.platform_config import PlatformSettings, overridden_flags
from config.protos import ConfigProto
from config.session_config import distributed_only_warnings, load_session_config


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorflowSettings:
    """The session config, custom op libraries and start-up warnings."""

    session_config: bytes
    """A serialized ``tensorflow.ConfigProto``."""
    gpu_fraction_from_flag: bool = False
    """``gpu_options.per_process_gpu_memory_fraction`` came from the flag, so a warning
    about it names ``--per_process_gpu_memory_fraction``."""
    custom_op_paths: tuple[Path, ...] = ()
    """Library files, in load order."""
    warnings: tuple[str, ...] = ()


def resolve_tensorflow_settings(
    options: ServerOptions, platform: PlatformSettings | None = None
) -> TensorflowSettings:
    """Resolve the flags; ``platform`` is the loaded ``--platform_config_file``, if any.

    ``ConfigError`` for a bad session config file, a refused option or a missing custom
    op path.
    """
    warnings: list[str] = []
    if platform is not None:
        config = ConfigProto.FromString(platform.session_config)
        warnings += platform.warnings
        warnings += overridden_flags(options)
        flag_fraction = False
    else:
        config = session_config_from_flags(options)
        flag_fraction = options.per_process_gpu_memory_fraction > 0
    warnings += distributed_only_warnings(config)
    libraries, library_warnings = custom_op_libraries(options.custom_op_paths)
    return TensorflowSettings(
        # Deterministic, so that equal configs give equal bytes (and equal ServerConfigs).
        session_config=config.SerializeToString(deterministic=True),
        gpu_fraction_from_flag=flag_fraction,
        custom_op_paths=libraries,
        warnings=tuple(warnings + library_warnings),
    )


def session_config_from_flags(options: ServerOptions) -> Message:
    """The ``ConfigProto`` (our pool's class) the session flags give; see steps 1-4 above."""
    if options.tensorflow_session_config_file is not None:
        config = load_session_config(options.tensorflow_session_config_file)
    else:
        config = ConfigProto()
    session = options.tensorflow_session_parallelism
    intra = options.tensorflow_intra_op_parallelism or session
    inter = options.tensorflow_inter_op_parallelism or session
    # The class is built at run time from the descriptor pool, so mypy knows no fields.
    typed: Any = config
    if intra:
        typed.intra_op_parallelism_threads = intra
    if inter:
        typed.inter_op_parallelism_threads = inter
    if options.per_process_gpu_memory_fraction:
        typed.gpu_options.per_process_gpu_memory_fraction = options.per_process_gpu_memory_fraction
    return config


def custom_op_libraries(paths: Iterable[Path]) -> tuple[tuple[Path, ...], list[str]]:
    """The library files ``--custom_op_paths`` names, in load order, and warnings."""
    libraries: list[Path] = []
    warnings: list[str] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                (child for child in path.iterdir() if child.suffix == ".so" and child.is_file()),
                key=lambda child: child.name,
            )
            if not found:
                warnings.append(f"--custom_op_paths: {path} contains no .so file; nothing loaded")
            libraries += found
        elif path.is_file():
            libraries.append(path)
        else:
            raise ConfigError(
                COMMAND_LINE,
                f"no such file or directory: {path}",
                field="custom_op_paths",
            )
    # A library named twice (itself and through its directory) is loaded once, first.
    unique: dict[str, Path] = {}
    for library in libraries:
        unique.setdefault(os.path.realpath(library), library)
    return tuple(unique.values()), warnings
